"""Checks on a LazyFrame in a streaming pass (issue 13 item 3, the checks part): the column tests
take one streaming pass and collect only the rows that may fail; the results are exactly Pandera's
on the whole data."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille.check import compile_columns, run_checks, run_schema_check, schema_checks
from ratatouille.check._streaming import failing_candidates
from ratatouille.transforms import SQLTransform

YAML = {"columns": [
    {"name": "id", "type": "int64", "tests": ["not_null", "unique"]},
    {"name": "zone", "tests": [{"accepted_values": ["north", "south"]}]},
    {"name": "fare", "tests": ["positive", {"min": 0}, {"max": 500}]},
    {"name": "code", "tests": [{"regex": "T-[0-9]+$"}]},
], "tests": [{"name": "no_free_long", "sql": "SELECT * FROM {{ this }} WHERE fare = 0 AND zone = 'north'"}]}


def _data(n: int) -> pl.DataFrame:
    ids = list(range(n))
    ids[5], ids[6], ids[7] = None, 8, 8  # a NULL id, a duplicate (8 three times), NULLs never duplicates
    return pl.DataFrame({
        "id": ids,
        "zone": ["north" if i % 2 else "south" for i in range(n - 1)] + ["west"],
        "fare": [0.0, -1.0, 600.0] + [float(i % 400 + 1) for i in range(3, n)],
        "code": ["T-1", "X-2"] + [None] + [f"T-{i}" for i in range(3, n)],
    }, schema_overrides={"id": pl.Int64})


def _by(result) -> dict:
    return {(f["column"], f["check"]): (f["failing_rows"], sorted(map(str, f["examples"]))) for f in result.failures}


def test_candidates_are_only_the_rows_that_may_fail(tmp_path):
    t = SQLTransform.from_text("silver.s", "SELECT 1 AS id", yaml=YAML)
    path = tmp_path / "data.parquet"
    _data(200_000).write_parquet(path)
    candidates = failing_candidates(t.config.columns, pl.scan_parquet(path))
    # fare 0, fare -1 (and code X-2), fare 600, the NULL id, three 8s, west: 8 rows of 200,000
    assert candidates.height == 8


@pytest.mark.parametrize("n", [50, 5_000])
def test_streaming_schema_check_reports_exactly_what_pandera_reports_on_the_whole_data(tmp_path, n):
    t = SQLTransform.from_text("silver.s", "SELECT 1 AS id", yaml=YAML)
    df = _data(n)
    path = tmp_path / "data.parquet"
    df.write_parquet(path)
    whole = run_schema_check(compile_columns(t.config.columns), df)  # Pandera on the collected data
    [streamed] = schema_checks(t, pl.scan_parquet(path))
    assert not streamed.passed and streamed.failing_rows == whole.failing_rows
    assert _by(streamed) == _by(whole)
    assert _by(streamed)[("id", "field_uniqueness")][0] == 3 and _by(streamed)[("fare", "greater_than(0)")][0] == 2


def test_run_checks_takes_a_lazy_frame_and_passes_clean_data(tmp_path):
    t = SQLTransform.from_text("silver.s", "SELECT 1 AS id", yaml=YAML)
    clean = pl.DataFrame({"id": [1, 2, 3], "zone": ["north", "south", None], "fare": [1.0, 2.0, 3.0],
                          "code": ["T-1", "T-2", "T-3"]})
    path = tmp_path / "clean.parquet"
    clean.write_parquet(path)
    results = run_checks(t, pl.scan_parquet(path))
    assert [(r.name, r.passed) for r in results] == [("schema", True), ("no_free_long", True)]
    bad = clean.with_columns(pl.Series("fare", [0.0, 2.0, 3.0]))
    bad.write_parquet(path)
    results = {r.name: r for r in run_checks(t, pl.scan_parquet(path))}
    assert results["no_free_long"].failing_rows == 1 and results["no_free_long"].failures[0]["id"] == 1
    assert results["schema"].failing_rows == 1


def test_a_test_polars_cannot_express_falls_back_to_pandera():
    yaml = {"columns": [{"name": "d", "tests": [{"min": 3}]}]}  # a minimum on a text column
    t = SQLTransform.from_text("silver.s", "SELECT 1 AS d", yaml=yaml)
    lf = pl.LazyFrame({"d": ["a", "b"]})
    assert failing_candidates(t.config.columns, lf) is None
    [res] = schema_checks(t, lf)
    assert not res.passed  # Pandera's own verdict on the declared columns
