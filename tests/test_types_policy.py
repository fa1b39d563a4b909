"""The type policy (ratatouille._types) as one table: old type x new type x materialization -> outcome.

Each row writes a real bronze table with the old type, runs a real SQL transform
(first run: creates its Delta table), rewrites the bronze table with the new type
and runs again; the outcome is read back from the Delta table.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal as D

import polars as pl
import pytest

from ratatouille import SchemaError

UTC = pl.Datetime("us", "UTC")
PARIS = pl.Datetime("us", "Europe/Paris")
T1 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.timezone.utc)
BIG = 5_000_000_000

# (case id, old type, old value, new type, new value, on_schema_change, outcome, table type after, stored new value)
# outcome: "cast" (the table keeps its type), "widen" (the table takes the wider type), "error: <regex>"
MATRIX = [
    ("int32<-int64 fits", pl.Int32, 1, pl.Int64, 7, None, "cast", pl.Int32, 7),
    ("int32<-int64 too big", pl.Int32, 1, pl.Int64, BIG, None,
     r"v: the table has Int32, the new data Int64.*sync_all_columns", None, None),
    ("int32<-int64 too big, sync", pl.Int32, 1, pl.Int64, BIG, "sync_all_columns", "widen", pl.Int64, BIG),
    ("int32<-int64, fail", pl.Int32, 1, pl.Int64, 7, "fail", r"v: the table has Int32.*on_schema_change is fail",
     None, None),
    ("int64<-int32", pl.Int64, 1, pl.Int32, 7, "fail", "cast", pl.Int64, 7),
    ("int16<-int32 too big, sync", pl.Int16, 1, pl.Int32, 70_000, "sync_all_columns", "widen", pl.Int32, 70_000),
    ("decimal precision up", pl.Decimal(10, 2), D("1.25"), pl.Decimal(20, 2), D("123456789012.50"), None,
     r"v: the table has Decimal\(precision=10, scale=2\).*sync_all_columns", None, None),
    ("decimal precision up, sync", pl.Decimal(10, 2), D("1.25"), pl.Decimal(20, 2), D("123456789012.50"),
     "sync_all_columns", "widen", pl.Decimal(20, 2), D("123456789012.50")),
    ("decimal precision up, fits", pl.Decimal(10, 2), D("1.25"), pl.Decimal(20, 2), D("3.50"), None, "cast",
     pl.Decimal(10, 2), D("3.50")),
    ("decimal scale up", pl.Decimal(10, 2), D("1.25"), pl.Decimal(12, 4), D("1.2345"), None,
     r"v: the table has Decimal.*sync_all_columns", None, None),
    ("decimal scale up, sync", pl.Decimal(10, 2), D("1.25"), pl.Decimal(12, 4), D("1.2345"), "sync_all_columns",
     "widen", pl.Decimal(12, 4), D("1.2345")),
    ("decimal narrower", pl.Decimal(12, 4), D("1.2345"), pl.Decimal(8, 2), D("2.50"), None, "cast",
     pl.Decimal(12, 4), D("2.5000")),
    ("float32<-float64", pl.Float32, 1.5, pl.Float64, 0.1, None, r"v: the table has Float32, the new data Float64",
     None, None),
    ("float32<-float64, sync", pl.Float32, 1.5, pl.Float64, 0.1, "sync_all_columns", "widen", pl.Float64, 0.1),
    ("int64<-float64", pl.Int64, 1, pl.Float64, 2.5, None, r"v: the table has Int64, the new data Float64", None,
     None),
    ("int64<-float64, sync", pl.Int64, 1, pl.Float64, 2.5, "sync_all_columns", "widen", pl.Float64, 2.5),
    ("float64<-int64", pl.Float64, 1.5, pl.Int64, 3, None, "cast", pl.Float64, 3.0),
    ("utc<-europe/paris", UTC, T1, PARIS, T2, "fail", "cast", UTC, T2),
    ("timestamp ms into us", pl.Datetime("us"), T1.replace(tzinfo=None), pl.Datetime("ms"), T2.replace(tzinfo=None),
     None, "cast", pl.Datetime("us"), T2.replace(tzinfo=None)),
    ("all-null into int32", pl.Int32, 1, pl.Null, None, "fail", "cast", pl.Int32, None),
    ("struct new field", pl.Struct({"a": pl.Int64}), {"a": 1}, pl.Struct({"a": pl.Int64, "b": pl.String}),
     {"a": 2, "b": "x"}, None, "cast", pl.Struct({"a": pl.Int64, "b": pl.String}), {"a": 2, "b": "x"}),
    ("struct new field, fail", pl.Struct({"a": pl.Int64}), {"a": 1}, pl.Struct({"a": pl.Int64, "b": pl.String}),
     {"a": 2, "b": "x"}, "fail", r"v: new nested field", None, None),
    ("string<-int64", pl.String, "a", pl.Int64, 7, "sync_all_columns", r"v: String -> Int64 is not a widening.*full_refresh",
     None, None),
    ("int64<-string", pl.Int64, 1, pl.String, "x", None, r"v: Int64 -> String is not a widening.*full_refresh", None,
     None),
    ("naive<-utc", pl.Datetime("us"), T1.replace(tzinfo=None), UTC, T2, None, r"v: Datetime.*not a widening", None,
     None),
    ("date<-timestamp", pl.Date, dt.date(2024, 1, 1), pl.Datetime("us"), T2.replace(tzinfo=None), None,
     r"v: Date -> Datetime.*not a widening", None, None),
]
MODES = {
    "append": "-- @materialized: incremental\n",
    "merge": "-- @materialized: incremental\n-- @strategy: merge\n-- @unique_key: id\n",
    "replace_partitions": "-- @materialized: incremental\n-- @strategy: replace_partitions\n-- @partition_by: p\n",
    "table": "",
}


def _src(project, id_, p, dtype, value):
    df = pl.DataFrame({"id": [id_], "p": [p], "v": pl.Series("v", [value], dtype=dtype)})
    df.write_delta(f"{project.lake}/bronze/src", mode="overwrite", delta_write_options={"schema_mode": "overwrite"})


def _sql(mode, on_schema_change):
    head = MODES[mode] + (f"-- @on_schema_change: {on_schema_change}\n" if on_schema_change else "")
    return head + "SELECT id, p, v FROM bronze.src"


def _scalar(value):
    return value.astimezone(dt.timezone.utc) if isinstance(value, dt.datetime) and value.tzinfo else value


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", MATRIX, ids=[c[0] for c in MATRIX])
def test_type_matrix(rat_project, mode, case):
    _, old_t, old_v, new_t, new_v, osc, outcome, after_t, stored = case
    _src(rat_project, 1, "a", old_t, old_v)
    rat_project.write("silver/t.sql", _sql(mode, osc))
    rat_project.run("silver.t")
    if new_t == pl.Null:  # Delta has no Null type: the SQL makes the all-NULL column
        _src(rat_project, 2, "b", old_t, None)
        rat_project.write("silver/t.sql", _sql(mode, osc).replace("p, v", "p, NULL AS v"))
    else:
        _src(rat_project, 2, "b", new_t, new_v)
    if mode == "table":  # the table is rebuilt: the new schema wins (zones in UTC, all-NULL as String)
        rat_project.run("silver.t")
        out = rat_project.read("silver.t")
        expected = {pl.Null: old_t, PARIS: UTC}.get(new_t, new_t)  # all-NULL: the table's type
        if expected == pl.Datetime("ms"):
            expected = pl.Datetime("us")  # Delta's timestamp precision
        assert out.schema["v"] == expected and out["id"].to_list() == [2]
        return
    if not outcome in ("cast", "widen"):
        with pytest.raises(SchemaError, match=outcome) as err:
            rat_project.run("silver.t")
        assert "silver.t" in str(err.value)
        assert rat_project.version("silver.t") == 0  # nothing written
        return
    result = rat_project.run("silver.t")
    assert result["rows_written"] == 1
    out = rat_project.read("silver.t").sort("id")
    assert out.schema["v"] == after_t
    assert out["id"].to_list() == [1, 2]
    values = [_scalar(v) for v in out["v"].to_list()]
    # the old row survived (a widening rewrote it with the same value; a new nested field is NULL in it)
    assert values[0] == _scalar(old_v) or (isinstance(old_v, dict) and values[0] == {**old_v, "b": None})
    if isinstance(stored, float) and after_t == pl.Float32:
        assert values[1] == pytest.approx(stored)
    else:
        assert values[1] == _scalar(stored)
    assert rat_project.version("silver.t") == 1  # one commit, also when the table was widened


def test_widening_keeps_partitions_and_other_columns(rat_project):
    """sync_all_columns on a partitioned table: one commit, the partitions and every other row stay."""
    df = pl.DataFrame({"id": [1, 2, 3], "p": ["a", "b", "c"], "v": pl.Series([1, 2, 3], dtype=pl.Int32)})
    df.write_delta(f"{rat_project.lake}/bronze/src", mode="overwrite")
    rat_project.write("silver/t.sql", _sql("replace_partitions", "sync_all_columns"))
    rat_project.run("silver.t")
    _src(rat_project, 4, "b", pl.Int64, BIG)
    rat_project.run("silver.t")
    out = rat_project.read("silver.t").sort("id")
    assert out["id"].to_list() == [1, 3, 4] and out["v"].to_list() == [1, 3, BIG]
    assert rat_project.table("silver.t").metadata().partition_columns == ["p"]


def test_sync_all_columns_drops_missing_columns_and_fail_refuses_new_ones(rat_project):
    _src(rat_project, 1, "a", pl.Int64, 1)
    sql = rat_project.write("silver/t.sql", _sql("append", "sync_all_columns"))
    rat_project.run("silver.t")
    sql.write_text(_sql("append", "sync_all_columns").replace("p, v", "v"))
    rat_project.run("silver.t")
    assert rat_project.read("silver.t").columns == ["id", "v"]
    sql.write_text(_sql("append", "fail").replace("p, v", "v, 'x' AS extra"))
    with pytest.raises(SchemaError, match="extra: new column"):
        rat_project.run("silver.t")
    sql.write_text(_sql("append", None).replace("p, v", "v, 'x' AS extra"))
    rat_project.run("silver.t")
    assert rat_project.read("silver.t").columns == ["id", "v", "extra"]


def test_all_null_column_first_write(rat_project):
    """Case 3: SELECT NULL AS note on a first write is a nullable String, or its declared type."""
    _src(rat_project, 1, "a", pl.Int64, 1)
    rat_project.write("silver/n.sql", "SELECT id, NULL AS note FROM bronze.src")
    rat_project.run("silver.n")
    assert rat_project.read("silver.n").schema["note"] == pl.String
    rat_project.write("silver/d.sql", "-- @materialized: incremental\nSELECT id, NULL AS note FROM bronze.src")
    rat_project.write("silver/d.yaml", "columns:\n  - {name: note, type: 'decimal(12,2)'}\n")
    rat_project.run("silver.d")
    rat_project.run("silver.d", vars={"again": 1})  # a changed var: appends again (else unchanged)
    out = rat_project.read("silver.d")
    assert out.schema["note"] == pl.Decimal(12, 2) and out.height == 2


def test_merge_returning_europe_paris_works_on_every_run_and_after_full_refresh(rat_project):
    """Case 1: a Python merge transform returning Europe/Paris timestamps."""
    pl.DataFrame({"id": [1, 2], "ts": ["2024-03-31 01:30:00", "2024-03-31 03:30:00"]}).write_delta(
        f"{rat_project.lake}/bronze/ev")
    rat_project.write("silver/ev.py", '''
import polars as pl
from ratatouille import transform

@transform("silver.ev", inputs=["bronze.ev"], materialized="incremental", strategy="merge", unique_key="id")
def ev(src: pl.LazyFrame) -> pl.LazyFrame:
    return src.with_columns(pl.col("ts").str.to_datetime().dt.replace_time_zone("Europe/Paris"))
''')
    for i, kwargs in enumerate(({}, {}, {"full_refresh": True}, {}, {})):  # a new var each run: never unchanged
        assert rat_project.run("silver.ev", vars={"run": i}, **kwargs)["status"] == "success"
    for args in (["-f"], [], []):  # the CLI, as a user types it
        cli = subprocess.run([sys.executable, "-m", "ratatouille", "run", "silver.ev", *args], cwd=rat_project.root,
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
    out = rat_project.read("silver.ev").sort("id")
    assert out.schema["ts"] == UTC
    assert out["ts"].to_list() == [dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.timezone.utc),
                                   dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone.utc)]


def test_types_delta_cannot_store_are_stored_losslessly_on_every_run(rat_project):
    """Nanosecond timestamps and unsigned integers (a count is UInt32) run after run; a UInt32
    past Int32 is kept (delta-rs alone refuses it)."""
    pl.DataFrame({"id": [1, 2]}).write_delta(f"{rat_project.lake}/bronze/k")
    rat_project.write("silver/k.py", '''
import datetime as dt
import polars as pl
from ratatouille import transform

@transform("silver.k", inputs=["bronze.k"], materialized="incremental")
def k(src: pl.LazyFrame) -> pl.LazyFrame:
    return src.with_columns(
        at=pl.lit(dt.datetime(2024, 1, 1, 0, 0, 0, 1)).cast(pl.Datetime("ns")),
        n=pl.lit(3_000_000_000, pl.UInt32), small=pl.lit(7, pl.UInt8))
''')
    for i in range(3):  # a new var each run: never unchanged
        assert rat_project.run("silver.k", vars={"run": i})["status"] == "success"
    out = rat_project.read("silver.k")
    assert out.height == 6 and out.schema["at"] == pl.Datetime("us") and out.schema["n"] == pl.Int64
    assert out["n"].to_list() == [3_000_000_000] * 6 and out.schema["small"] == pl.Int16
    assert rat_project.version("silver.k") == 2


def test_a_dagster_partition_write_follows_the_policy(tmp_path):
    """OverwritePartition (what a Dagster partition run writes) uses the same policy."""
    from ratatouille.write import OverwritePartition, Target

    target = Target(str(tmp_path / "t"), name="silver.t")
    pl.DataFrame({"p": ["a", "b"], "v": pl.Series([1, 2], dtype=pl.Int32)}).write_delta(
        target.uri, delta_write_options={"partition_by": ["p"]})
    new = pl.DataFrame({"p": ["a"], "v": [BIG]})
    with pytest.raises(SchemaError, match="v: the table has Int32.*sync_all_columns"):
        OverwritePartition("p", "a", partition_by=("p",)).write(target, new)
    OverwritePartition("p", "a", partition_by=("p",), on_schema_change="sync_all_columns").write(target, new)
    out = pl.read_delta(target.uri).sort("p")
    assert out.schema["v"] == pl.Int64 and out["v"].to_list() == [BIG, 2]


def test_merge_with_delete_missing_widens_to_exactly_the_new_rows(rat_project):
    pl.DataFrame({"id": [1, 2], "p": ["a", "b"], "v": pl.Series([1, 2], dtype=pl.Int32)}).write_delta(
        f"{rat_project.lake}/bronze/src")
    rat_project.write("silver/t.sql", "SELECT id, p, v FROM bronze.src")
    rat_project.write("silver/t.yaml", "materialized: incremental\nstrategy: merge\nunique_key: id\n"
                                       "delete_missing: true\non_schema_change: sync_all_columns\n")
    rat_project.run("silver.t")
    _src(rat_project, 2, "b", pl.Int64, BIG)
    assert rat_project.run("silver.t")["version"] == 1
    out = rat_project.read("silver.t")
    assert out["id"].to_list() == [2] and out["v"].to_list() == [BIG] and out.schema["v"] == pl.Int64


@pytest.mark.slow
def test_widening_rewrite_on_object_storage(lake_project):
    """sync_all_columns rewrites through delta-rs' object store too (local and moto S3), in one commit."""
    p = lake_project
    opts = p.lake_handle.delta_options()
    for id_, value, dtype in ((1, 1, pl.Int32), (2, BIG, pl.Int64)):
        pl.DataFrame({"id": [id_], "p": ["a"], "v": pl.Series([value], dtype=dtype)}).write_delta(
            f"{p.lake}/bronze/src", mode="overwrite", storage_options=opts,
            delta_write_options={"schema_mode": "overwrite"})
        if id_ == 1:
            p.write("silver/t.sql", _sql("append", "sync_all_columns"))
        assert p.run("silver.t")["version"] == id_ - 1
    out = p.read("silver.t").sort("id")
    assert out.schema["v"] == pl.Int64 and out["v"].to_list() == [1, BIG]


def test_canary_delta_rs_cannot_widen_a_column_in_place(tmp_path):
    """Why widening rewrites the table: delta-rs refuses Delta's type widening feature. When this
    fails after a deltalake upgrade, widen through the table feature instead of rewriting."""
    from deltalake import DeltaTable

    uri = str(tmp_path / "t")
    pl.DataFrame({"q": pl.Series([1], dtype=pl.Int32)}).write_delta(uri)
    with pytest.raises(Exception, match="enableTypeWidening"):
        DeltaTable(uri).alter.set_table_properties({"delta.enableTypeWidening": "true"})
    with pytest.raises(Exception, match="(?i)cast"):
        pl.DataFrame({"q": [BIG]}).write_delta(uri, mode="append", delta_write_options={"schema_mode": "merge"})
