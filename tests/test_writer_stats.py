"""The fast writer's statistics are right for extreme values, or the column gets none (case 5), checked
against delta-rs' own writer on random data (hypothesis) and through real runs."""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratatouille.write import Target, fast_write, fast_write_eligible

MAX_TS = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
MIN_TS = dt.datetime(1, 1, 1)


def test_a_far_future_timestamp_never_breaks_later_local_writes(rat_project):
    """Case 5: valid_to = 9999-12-31 23:59:59.999999 (declared timestamp); every later write works."""
    p = rat_project
    p.write("bronze/scd.yaml", "source: landing/scd/\nformat: csv\ncolumns:\n"
                               "  - {name: id, type: int64}\n  - {name: valid_to, type: timestamp}\n")
    p.write("silver/scd.sql", "-- @materialized: incremental\nSELECT id, valid_to FROM bronze.scd")
    for day in range(1, 4):
        p.landing(f"scd/{day}.csv", f"id,valid_to\n{day},9999-12-31 23:59:59.999999\n{day + 10},2024-01-0{day} 10:00:00\n")
        assert p.run("bronze.scd")["rows_written"] == 2
        assert p.run("silver.scd")["status"] == "success"
    out = p.read("silver.scd")
    assert out.height == 12 and out["valid_to"].max() == MAX_TS
    # the statistics never exclude the far-future row: a filter on it finds it
    assert p.query("SELECT count(*) AS n FROM bronze.scd WHERE valid_to > '9999-12-31 23:59:59.9995'")["n"][0] == 3


# -- property: the fast writer's statistics against delta-rs' own ------------------------------------
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.7976931348623157e308, -1.7976931348623157e308]))
_strings = st.one_of(st.text(max_size=8), st.text(min_size=60, max_size=200), st.just(""),
                     st.sampled_from(["\U0010ffff" * 20, "é" * 40, "z" * 63, "z" * 64, "\x00"]))
_dates = st.one_of(st.dates(), st.sampled_from([dt.date.min, dt.date.max]))
_stamps = st.one_of(st.datetimes(), st.sampled_from([MIN_TS, MAX_TS, MAX_TS.replace(microsecond=999000),
                                                     dt.datetime(1970, 1, 1)]))
_ints = st.one_of(st.integers(-(2 ** 63), 2 ** 63 - 1), st.sampled_from([-(2 ** 63), 2 ** 63 - 1, 0]))
COLUMNS = {"i": (_ints, pl.Int64), "f": (_floats, pl.Float64), "s": (_strings, pl.String),
           "d": (_dates, pl.Date), "ts": (_stamps, pl.Datetime("us")), "tz": (_stamps, pl.Datetime("us", "UTC")),
           "b": (st.booleans(), pl.Boolean)}


@st.composite
def frames(draw) -> pl.DataFrame:
    n = draw(st.integers(1, 12))
    data = {}
    for name, (values, dtype) in COLUMNS.items():
        data[name] = pl.Series(name, draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n)),
                               dtype=dtype if not isinstance(dtype, pl.Datetime) else pl.Datetime("us"))
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            data[name] = data[name].dt.replace_time_zone("UTC")
    return pl.DataFrame(data)


def _stats(uri: str, version: int) -> dict:
    with open(os.path.join(uri, "_delta_log", f"{version:020d}.json")) as fh:
        adds = [json.loads(line)["add"] for line in fh if '"add"' in line]
    assert len(adds) == 1
    return json.loads(adds[0]["stats"])


def _typed(dtype: pl.DataType, value):
    if isinstance(dtype, pl.Datetime):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if dtype.time_zone else \
            dt.datetime.fromisoformat(value)
    if dtype == pl.Date:
        return dt.date.fromisoformat(value)
    return value


def _check(df: pl.DataFrame, fast: dict, ours: dict) -> None:
    assert fast["numRecords"] == ours["numRecords"] == df.height
    for name, dtype in df.schema.items():
        assert fast["nullCount"][name] == ours["nullCount"][name], name
        if name not in fast["minValues"]:
            assert name not in fast["maxValues"]
            continue  # no statistics: always safe
        lo, hi = _typed(dtype, fast["minValues"][name]), _typed(dtype, fast["maxValues"][name])
        values = [v for v in df[name].to_list() if v is not None and not (isinstance(v, float) and math.isnan(v))]
        assert values and all(lo <= v <= hi for v in values), (name, lo, hi)  # sound bounds
        theirs_lo, theirs_hi = ours["minValues"].get(name), ours["maxValues"].get(name)
        if theirs_lo is None or theirs_hi is None:
            continue
        if isinstance(dtype, pl.Datetime):  # delta-rs truncates to ms; the fast writer rounds the max up
            assert lo == _typed(dtype, theirs_lo)
            gap = hi - _typed(dtype, theirs_hi)
            assert dt.timedelta(0) <= gap <= dt.timedelta(milliseconds=1)
        else:
            assert (fast["minValues"][name], fast["maxValues"][name]) == (theirs_lo, theirs_hi), name


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_fast_writer_statistics_match_delta_rs(tmp_path_factory, df):
    root = tmp_path_factory.mktemp("stats")
    theirs = str(root / "theirs")
    df.write_delta(theirs)
    ours = _stats(theirs, 0)
    for lazy in (False, True):  # from the frame, and from the parquet footers of a streamed write
        uri = str(root / f"fast_{lazy}")
        df.head(0).write_delta(uri)
        table = DeltaTable(uri)
        data = df.lazy() if lazy else df
        assert fast_write_eligible(data, Target(uri), table, "append")
        out = fast_write(data, Target(uri), table, "append", CommitProperties())
        _check(df, _stats(uri, out.version), ours)
        assert pl.read_delta(uri).equals(df, null_equal=True)
