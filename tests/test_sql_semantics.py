"""Issue 11 (What must work 3 and 7; cases 2, 8, 9, 10): SQL semantics and literals typed like their column.

* the pre-parse (sqlglot, the Polars dialect) accepts what Polars SQL accepts;
* integer sums never wrap around; ``date - date`` is a number of days;
* a final ``ORDER BY`` is kept in the written table;
* ``watermark()`` carries the column's time unit and time zone.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ratatouille.errors import SQLError
from ratatouille.testing import run_transform


def _table(project, name: str, df: pl.DataFrame, mode: str = "error") -> None:
    layer, short = name.split(".")
    if project.lake.startswith("s3://"):
        df.write_delta(f"{project.lake}/{layer}/{short}", mode=mode, storage_options=project.lake_handle.delta_options())
    else:
        df.write_delta(str(Path(project.lake) / layer / short), mode=mode)


# -- the pre-parse accepts Polars' operators (case 8) ------------------------------------------------
ITEMS = pl.DataFrame({"sku": ["A1", "a2", "B3", "Ab4"], "qty": [1, 2, 3, 4], "price": ["1.5", "2", "3", "4"]})

OPERATORS = [
    ("SELECT sku FROM bronze.items WHERE sku ~ '^A'", ["A1", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku ~* '^a'", ["A1", "a2", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku !~ '^A'", ["a2", "B3"]),
    ("SELECT sku FROM bronze.items WHERE sku !~* '^a'", ["B3"]),
    ("SELECT sku FROM bronze.items WHERE sku ILIKE 'a%'", ["A1", "a2", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku ~~ 'A%'", ["A1", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku ~~* 'a%'", ["A1", "a2", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku !~~ 'A%'", ["a2", "B3"]),
    ("SELECT sku FROM bronze.items WHERE sku ^@ 'A'", ["A1", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE sku REGEXP '[0-9]$' AND sku RLIKE '^[AB]'", ["A1", "B3", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE price::float > 2.5", ["B3", "Ab4"]),
    ("SELECT sku FROM bronze.items WHERE qty // 2 = 1", ["a2", "B3"]),
    ("SELECT sku FROM bronze.items WHERE sku <=> 'B3'", ["B3"]),
    ("SELECT sku FROM bronze.items WHERE qty::text || sku = '1A1'", ["A1"]),
]


@pytest.mark.parametrize("sql,expected", OPERATORS)
def test_polars_operators_pass_the_pre_parse(rat_project, sql, expected):
    _table(rat_project, "bronze.items", ITEMS)
    assert sorted(rat_project.query(sql)["sku"].to_list()) == sorted(expected)


def test_polars_operators_in_a_sql_transform(rat_project):
    _table(rat_project, "bronze.items", ITEMS)
    rat_project.write("silver/a_items.sql", "SELECT sku, qty::float AS q FROM bronze.items WHERE sku ~ '^A' AND sku !~* 'b'")
    assert rat_project.run("silver.a_items")["rows_written"] == 1
    assert rat_project.read("silver.a_items")["sku"].to_list() == ["A1"]


@pytest.mark.slow
def test_rat_query_with_a_regex_operator(rat_project):
    _table(rat_project, "bronze.items", ITEMS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    out = subprocess.run([sys.executable, "-m", "ratatouille", "query", "SELECT sku FROM bronze.items WHERE sku ~ '^A'"],
                         cwd=rat_project.root, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "A1" in out.stdout and "Ab4" in out.stdout and "B3" not in out.stdout


def test_sql_the_pre_parse_cannot_read_is_a_located_error_and_never_runs(rat_project):
    _table(rat_project, "bronze.items", ITEMS)
    path = rat_project.write("silver/odd.sql", "SELECT sku\nFROM bronze.items\nWHERE sku ~ '^A' AND (((\n")
    with pytest.raises(SQLError) as info:
        rat_project.run("silver.odd")
    err = info.value
    assert (err.transform, err.file) == ("silver.odd", str(path)) and err.line in (3, 4)
    assert "syntax error" in err.message
    assert rat_project.table("silver.odd") is None


# -- numbers that lie (case 9) ---------------------------------------------------------------------
def test_selected_integer_columns_keep_their_type_while_arithmetic_widens(rat_project):
    _table(rat_project, "bronze.narrow", pl.DataFrame({
        "id": pl.Series([1, 2], dtype=pl.Int32), "q": pl.Series([2_000_000_000, 2_000_000_000], dtype=pl.Int32)}))
    rat_project.write("silver/narrow.sql", "SELECT id, q, q * 2 AS doubled, SUM(q) OVER () AS total FROM bronze.narrow")
    rat_project.run("silver.narrow")
    out = rat_project.read("silver.narrow").sort("id")
    assert out.schema["id"] == pl.Int32 and out.schema["q"] == pl.Int32  # passed through as they are
    assert out.schema["doubled"] == pl.Int64 and out["doubled"].to_list() == [4_000_000_000] * 2
    assert out["total"].to_list() == [4_000_000_000] * 2


def test_integer_sums_never_wrap(rat_project):
    n = 3
    _table(rat_project, "bronze.parts", pl.DataFrame({
        "i32": pl.Series([2_000_000_000] * n, dtype=pl.Int32),
        "i16": pl.Series([30_000] * n, dtype=pl.Int16),
        "i8": pl.Series([100] * n, dtype=pl.Int8),
    }))
    df = rat_project.query("SELECT SUM(i32) AS s32, SUM(i16 * i16) AS s16, SUM(i8 * i8 * i8) AS s8, "
                           "MAX(i32) * 3 AS m FROM bronze.parts")
    row = df.row(0, named=True)
    assert row == {"s32": 6_000_000_000, "s16": 3 * 900_000_000, "s8": 3_000_000, "m": 6_000_000_000}
    rat_project.write("gold.total.sql".replace(".", "/", 1), "SELECT SUM(i32) AS total FROM bronze.parts")
    rat_project.run("gold.total")
    assert rat_project.read("gold.total")["total"][0] == 6_000_000_000


def test_integer_sums_in_run_transform():
    """Unsigned columns too (Delta has none, in-memory frames do)."""
    out = run_transform("SELECT SUM(q) AS s, SUM(u) AS su, SUM(b) AS sb FROM bronze.x", inputs={"bronze.x": pl.DataFrame({
        "q": pl.Series([2**31 - 1, 2**31 - 1], dtype=pl.Int32), "u": pl.Series([2**32 - 1] * 2, dtype=pl.UInt32),
        "b": pl.Series([255, 255], dtype=pl.UInt8)})})
    assert out.row(0) == (2 * (2**31 - 1), 2 * (2**32 - 1), 510)


DATES = pl.DataFrame({"id": [1, 2, 3],
                      "shipped": [dt.date(2024, 3, 1), dt.date(2024, 1, 20), dt.date(2024, 2, 1)],
                      "ordered": [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 1)]})


@pytest.mark.parametrize("sql,expected", [
    ("SELECT id FROM bronze.orders WHERE shipped - ordered > 30 ORDER BY id", [1, 3]),
    ("SELECT shipped - ordered AS id FROM bronze.orders ORDER BY id", [19, 31, 60]),
    ("WITH o AS (SELECT id, shipped AS s, ordered AS d FROM bronze.orders) SELECT id FROM o WHERE s - d >= 31 ORDER BY id", [1, 3]),
    ("SELECT a.id FROM bronze.orders AS a JOIN bronze.orders AS b ON a.id = b.id WHERE a.shipped - b.ordered < 20", [2]),
    ("SELECT id FROM bronze.orders WHERE DATE '2024-03-02' - shipped = 1", [1]),
    ("SELECT id FROM bronze.orders WHERE CAST('2024-03-02' AS DATE) - shipped BETWEEN 1 AND 30 ORDER BY id", [1, 3]),
])
def test_date_minus_date_is_a_number_of_days(rat_project, sql, expected):
    _table(rat_project, "bronze.orders", DATES)
    df = rat_project.query(sql)
    assert df["id"].to_list() == expected
    assert df.schema["id"].is_integer()


def test_date_minus_date_in_a_sql_transform(rat_project):
    _table(rat_project, "bronze.orders", DATES)
    rat_project.write("silver/late.sql", "SELECT id, shipped - ordered AS days FROM bronze.orders WHERE shipped - ordered > 30")
    rat_project.run("silver.late")
    out = rat_project.read("silver.late").sort("id")
    assert out["id"].to_list() == [1, 3] and out["days"].to_list() == [60, 31]


def test_date_arithmetic_that_is_not_date_minus_date_is_unchanged(rat_project):
    _table(rat_project, "bronze.orders", DATES)
    df = rat_project.query("SELECT shipped - INTERVAL '1 day' AS d, id - 1 AS k FROM bronze.orders ORDER BY id")
    assert df["d"].to_list()[0] == dt.date(2024, 2, 29) and df["k"].to_list() == [0, 1, 2]


# -- order (case 10) --------------------------------------------------------------------------------
N = 2_000_000  # the streaming writer loses the order of a sorted plan at this size


def _shuffled(n: int = N) -> pl.DataFrame:
    return pl.DataFrame({"k": pl.int_range(n, eager=True).shuffle(seed=1), "v": pl.int_range(n, eager=True).shuffle(seed=2)})


@pytest.mark.slow
def test_a_final_order_by_is_kept_in_the_table(rat_project):
    _table(rat_project, "bronze.nums", _shuffled())
    rat_project.write("gold/by_k.sql", "SELECT k, v FROM bronze.nums ORDER BY k")
    rat_project.write("gold/top.sql", "SELECT v, k FROM bronze.nums WHERE k % 2 = 0 ORDER BY v DESC LIMIT 100000")
    rat_project.write("gold/sorted_py.py", """
        import polars as pl
        from ratatouille import transform

        @transform("gold.sorted_py", inputs=["bronze.nums"])
        def sorted_py(nums: pl.LazyFrame) -> pl.LazyFrame:
            return nums.sort("v").select("v", "k")
    """)
    for _ in range(2):  # the first write (a new table) and an overwrite
        for name in ("gold.by_k", "gold.top", "gold.sorted_py"):
            rat_project.run(name)
        assert rat_project.read("gold.by_k")["k"].is_sorted()
        top = rat_project.read("gold.top")["v"]
        assert top.len() == 100_000 and top.is_sorted(descending=True)
        assert rat_project.read("gold.sorted_py")["v"].is_sorted()


@pytest.mark.slow
def test_a_final_order_by_is_kept_on_object_storage(s3_project):
    _table(s3_project, "bronze.nums", _shuffled(300_000))
    s3_project.write("gold/by_k.sql", "SELECT k, v FROM bronze.nums ORDER BY k DESC")
    s3_project.run("gold.by_k")
    assert s3_project.read("gold.by_k")["k"].is_sorted(descending=True)


def test_ends_in_sort_follows_the_plan():
    from ratatouille._order import ends_in_sort

    ctx = pl.SQLContext(frames={"t": pl.LazyFrame({"a": [2, 1], "b": [1, 2]})})
    assert ends_in_sort(ctx.execute("SELECT a FROM t ORDER BY b"))
    assert ends_in_sort(ctx.execute("SELECT a, SUM(b) AS s FROM t GROUP BY a ORDER BY s DESC LIMIT 1"))
    assert not ends_in_sort(ctx.execute("SELECT a FROM t"))
    assert not ends_in_sort(ctx.execute("SELECT a, COUNT(*) AS n FROM (SELECT a FROM t ORDER BY a) AS s GROUP BY a"))


# -- literals typed like their column (case 2, What must work 3) ------------------------------------
INCREMENTAL = """
    -- @materialized: incremental
    -- @strategy: append
    SELECT id, ts FROM bronze.events {% if is_incremental() %}WHERE ts > {{ watermark('ts') }}{% endif %}
"""


def _events(ids, zone: str | None = "UTC", unit: str = "us") -> pl.DataFrame:
    base = dt.datetime(2024, 3, 31, 0, 30, 0, 123456)  # around the Paris DST change
    ts = pl.Series([base + dt.timedelta(hours=i, microseconds=i) for i in ids]).cast(pl.Datetime(unit))
    if zone:
        ts = ts.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    return pl.DataFrame({"id": ids, "ts": ts})


@pytest.mark.parametrize("zone", ["UTC", None])
def test_watermark_on_a_delta_timestamp_column_on_the_second_run(lake_project, zone):
    _table(lake_project, "bronze.events", _events([1, 2, 3], zone))
    lake_project.write("silver/events.sql", INCREMENTAL)
    assert lake_project.run("silver.events")["rows_written"] == 3
    _table(lake_project, "bronze.events", _events([4, 5], zone), mode="append")
    second = lake_project.run("silver.events")
    assert second["status"] == "success" and second["rows_written"] == 2
    out = lake_project.read("silver.events").sort("id")
    assert out["id"].to_list() == [1, 2, 3, 4, 5]
    assert lake_project.run("silver.events")["rows_written"] == 0  # nothing past the watermark


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Paris"])
def test_watermark_literal_carries_unit_and_zone(unit, zone):
    src = _events([1, 2, 3, 4], zone, unit)
    if unit == "ns":  # a value one nanosecond past the watermark is new
        second = pl.col("ts").sort_by("id").get(1)
        src = src.with_columns(pl.when(pl.col("id") == 3).then(second + pl.duration(nanoseconds=1))
                               .otherwise(pl.col("ts")).alias("ts"))
    target = src.filter(pl.col("id") <= 2)
    out = run_transform(INCREMENTAL, inputs={"bronze.events": src}, incremental=True, target=target)
    assert sorted(out["id"].to_list()) == [3, 4]
    assert out.schema["ts"] == pl.Datetime(unit, zone)


@pytest.mark.parametrize("dtype,values", [
    (pl.Date, [dt.date(2024, 1, d) for d in (1, 2, 3)]),
    (pl.Int32, [1, 2, 3]),
    (pl.Float64, [0.5, 1.5, 2.5]),
    (pl.String, ["a", "b'c", "d"]),
    (pl.Decimal(10, 2), [__import__("decimal").Decimal(v) for v in ("1.10", "2.20", "3.30")]),
])
def test_watermark_on_other_types(dtype, values):
    src = pl.DataFrame({"id": [1, 2, 3], "ts": pl.Series(values, dtype=dtype)})
    out = run_transform(INCREMENTAL, inputs={"bronze.events": src}, incremental=True,
                        target=src.filter(pl.col("id") <= 2))
    assert out["id"].to_list() == [3]


def test_watermark_literals_are_exact():
    from ratatouille._literals import watermark_literal

    lf = pl.LazyFrame({"ts": pl.Series([dt.datetime(2024, 1, 1, 12)]).cast(pl.Datetime("ns", "UTC"))})
    assert watermark_literal(lf, "ts") == "(CAST('2024-01-01 12:00:00.000000000' AS TIMESTAMP(9)) AT TIME ZONE 'UTC')"
    lf = pl.LazyFrame({"ts": pl.Series([dt.datetime(2024, 1, 1, 12)]).cast(pl.Datetime("ms"))})
    assert watermark_literal(lf, "ts") == "CAST('2024-01-01 12:00:00.000' AS TIMESTAMP(3))"
    with pytest.raises(SQLError, match="not in the target"):
        watermark_literal(lf, "nope")


@pytest.mark.parametrize("zone", [None, "UTC"])
def test_watermark_literal_works_in_expressions(zone):
    """A look-back window (``ts > watermark - INTERVAL``) keeps the literal's type through the arithmetic."""
    sql = """
        -- @materialized: incremental
        SELECT id, ts FROM bronze.events
        {% if is_incremental() %}WHERE ts > {{ watermark('ts') }} - INTERVAL '90 minutes'{% endif %}
    """
    src = _events([1, 2, 3, 4], zone)
    out = run_transform(sql, inputs={"bronze.events": src}, incremental=True, target=src.filter(pl.col("id") <= 3))
    assert sorted(out["id"].to_list()) == [2, 3, 4]
