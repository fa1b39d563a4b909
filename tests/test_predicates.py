"""Predicates handed to delta-rs quote every identifier and literal (ratatouille._predicate)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from ratatouille.write import OverwritePartition, Target

NAMES = ["order date", "a.b", 'we"ird', "plain"]
VALUES = {
    "string": ["O'Brien", "x", None],
    "date": [dt.date(2024, 1, 1), dt.date(2024, 1, 2), None],
    "timestamp": [dt.datetime(2024, 1, 1, 10, 0, 0, 123456), dt.datetime(2024, 1, 2), None],
    "timestamp_utc": [dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone.utc),
                      dt.datetime(2024, 1, 2, 23, 59, 59, 999999, tzinfo=dt.timezone.utc), None],
    "int": [1, 2, None],
}


def _src(project, col, values, ids):
    df = pl.DataFrame({"id": ids, col: values}, schema_overrides={col: _dtype(values)})
    df.write_delta(f"{project.lake}/bronze/src", mode="overwrite", delta_write_options={"schema_mode": "overwrite"})


def _dtype(values):
    v = next(x for x in values if x is not None)
    if isinstance(v, dt.datetime):
        return pl.Datetime("us", "UTC" if v.tzinfo else None)
    return {str: pl.String, dt.date: pl.Date, int: pl.Int64}[type(v)]


def _q(name):
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.parametrize("kind", list(VALUES))
@pytest.mark.parametrize("col", NAMES)
def test_replace_partitions_with_names_and_values_that_need_quoting(rat_project, col, kind):
    """Case 7: replace_partitions on `order date` / `a.b` works from the second run on, with
    quotes in values, NULL partitions, dates and timestamps."""
    a, b, null = VALUES[kind]
    _src(rat_project, col, [a, b, null], [1, 2, 3])
    rat_project.write("silver/p.sql", f"SELECT id, {_q(col)} FROM bronze.src")
    rat_project.write("silver/p.yaml", "materialized: incremental\nstrategy: replace_partitions\n"
                                       f"partition_by: [{json.dumps(col)}]\n")
    rat_project.run("silver.p")
    for run in range(2):  # replace partition a and the NULL partition, leave b alone
        _src(rat_project, col, [a, null], [10 + run, 20 + run])
        assert rat_project.run("silver.p")["version"] == 1 + run
    out = rat_project.read("silver.p").sort("id")
    assert out["id"].to_list() == [2, 11, 21]
    got = out[col].to_list()
    assert got[1:] == [a, None]


def test_merge_on_a_key_that_needs_quoting(rat_project):
    pl.DataFrame({"order id": [1, 2], "v": ["a", "b"]}).write_delta(f"{rat_project.lake}/bronze/m")
    rat_project.write("silver/m.sql", 'SELECT "order id", v FROM bronze.m')
    rat_project.write("silver/m.yaml", "materialized: incremental\nstrategy: merge\nunique_key: ['order id']\n")
    rat_project.run("silver.m")
    pl.DataFrame({"order id": [2, 3], "v": ["B", "c"]}).write_delta(f"{rat_project.lake}/bronze/m", mode="overwrite")
    rat_project.run("silver.m")
    out = rat_project.read("silver.m").sort("order id")
    assert out["v"].to_list() == ["a", "B", "c"]


@pytest.mark.parametrize("value", ["O'Brien", dt.date(2024, 1, 2), None])
def test_overwrite_one_partition_quotes_column_and_value(tmp_path, value):
    """A Dagster partition write (OverwritePartition) on a column with a space and a dot."""
    col = "order.day x"
    target = Target(str(tmp_path / "t"), name="silver.t")
    other = "other" if isinstance(value, str) or value is None else dt.date(2023, 1, 1)
    dtype = pl.Date if isinstance(value, dt.date) or isinstance(other, dt.date) else pl.String
    first = pl.DataFrame({"id": [1, 2], col: [value, other]}, schema_overrides={col: dtype})
    first.write_delta(target.uri, delta_write_options={"partition_by": [col]})
    part = OverwritePartition(col, value, partition_by=(col,))
    part.write(target, pl.DataFrame({"id": [3], col: [value]}, schema_overrides={col: dtype}))
    out = pl.read_delta(target.uri).sort("id")
    assert out["id"].to_list() == [2, 3]
