"""Each materialization against a real Delta table in a temp lake."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ratatouille import SchemaError


def _bronze(project, rows: list[dict], *, name: str = "bronze.orders", schema=None) -> None:
    """Write a bronze source table directly (outside any transform)."""
    layer, short = name.split(".")
    pl.DataFrame(rows, schema=schema).write_delta(f"{project.lake}/{layer}/{short}", mode="overwrite",
                                   delta_write_options={"schema_mode": "overwrite"})


ORDERS = [
    {"id": 1, "day": "2024-01-01", "amount": 10.0},
    {"id": 2, "day": "2024-01-01", "amount": 20.0},
    {"id": 3, "day": "2024-01-02", "amount": 30.0},
]


def test_table_overwrites_each_run(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/orders.sql", "SELECT id, amount * 2 AS doubled FROM bronze.orders")
    first = rat_project.run("silver.orders")
    assert first["status"] == "success" and first["rows_written"] == 3 and first["version"] == 0
    _bronze(rat_project, ORDERS[:2])
    second = rat_project.run("silver.orders")
    assert second["version"] == 1 and second["rows_written"] == 2
    assert sorted(rat_project.read("silver.orders")["doubled"].to_list()) == [20.0, 40.0]


def test_view_is_never_written_and_composes_downstream(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/big.sql", "-- @materialized: view\nSELECT * FROM bronze.orders WHERE amount > 15")
    rat_project.write("gold/total.sql", "SELECT SUM(amount) AS total FROM silver.big")
    result = rat_project.run(["silver.big", "gold.total"])
    assert [r["table"] for r in result.results] == ["silver.big", "gold.total"]
    assert rat_project.version("silver.big") is None  # no Delta table for a view
    assert rat_project.read("gold.total")["total"][0] == 50.0
    # readers compose the view's plan too
    assert rat_project.query("SELECT COUNT(*) AS n FROM silver.big")["n"][0] == 2
    assert rat_project.read("silver.big").height == 2


def test_append_adds_only_new_rows_with_watermark(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/orders.sql", """
        -- @materialized: incremental
        -- @strategy: append
        SELECT id, amount FROM bronze.orders
        {% if is_incremental() %} WHERE id > {{ watermark('id') }} {% endif %}
    """)
    assert rat_project.run("silver.orders")["rows_written"] == 3
    _bronze(rat_project, ORDERS + [{"id": 4, "day": "2024-01-03", "amount": 40.0}])
    second = rat_project.run("silver.orders")
    assert second["rows_written"] == 1 and second["version"] == 1
    assert sorted(rat_project.read("silver.orders")["id"].to_list()) == [1, 2, 3, 4]


def test_merge_upserts_on_unique_key(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/orders.sql", """
        -- @materialized: incremental
        -- @strategy: merge
        -- @unique_key: id
        SELECT id, day, amount FROM bronze.orders
    """)
    rat_project.run("silver.orders")
    _bronze(rat_project, [{"id": 2, "day": "2024-01-01", "amount": 99.0},
                          {"id": 5, "day": "2024-01-05", "amount": 50.0}])
    result = rat_project.run("silver.orders")
    assert result["mode"] == "merge" and result["version"] == 1 and result["rows_written"] == 2
    out = rat_project.read("silver.orders").sort("id")
    assert out["id"].to_list() == [1, 2, 3, 5]
    assert out.filter(pl.col("id") == 2)["amount"][0] == 99.0


def test_merge_composite_key_and_delete_missing(rat_project):
    rows = [{"store": "a", "sku": 1, "qty": 1}, {"store": "a", "sku": 2, "qty": 2}, {"store": "b", "sku": 1, "qty": 3}]
    _bronze(rat_project, rows, name="bronze.stock")
    rat_project.write("silver/stock.sql", "SELECT * FROM bronze.stock")
    rat_project.write("silver/stock.yaml", """
        materialized: incremental
        strategy: merge
        unique_key: [store, sku]
        delete_missing: true
    """)
    rat_project.run("silver.stock")
    _bronze(rat_project, [{"store": "a", "sku": 1, "qty": 10}, {"store": "b", "sku": 1, "qty": 3}], name="bronze.stock")
    rat_project.run("silver.stock")
    out = rat_project.read("silver.stock").sort("store", "sku")
    assert out.rows() == [("a", 1, 10), ("b", 1, 3)]  # (a, 2) deleted, (a, 1) updated


def test_replace_partitions_overwrites_only_present_partitions(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/daily.sql", """
        -- @materialized: incremental
        -- @strategy: replace_partitions
        -- @partition_by: day
        SELECT day, id, amount FROM bronze.orders
    """)
    rat_project.run("silver.daily")
    # new data only for 2024-01-02: 2024-01-01 must be left untouched
    _bronze(rat_project, [{"id": 7, "day": "2024-01-02", "amount": 70.0}])
    result = rat_project.run("silver.daily")
    assert result["version"] == 1
    out = rat_project.read("silver.daily").sort("id")
    assert out["id"].to_list() == [1, 2, 7]
    assert out.filter(pl.col("day") == "2024-01-02")["amount"].to_list() == [70.0]


def test_full_refresh_rebuilds_incremental(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/orders.sql", "-- @materialized: incremental\nSELECT id, amount FROM bronze.orders")
    rat_project.run("silver.orders")
    rat_project.run("silver.orders", vars={"again": 1})  # a changed var, not unchanged: appends the same 3 rows again
    assert rat_project.read("silver.orders").height == 6
    refreshed = rat_project.run("silver.orders", full_refresh=True)
    assert refreshed["rows_written"] == 3 and rat_project.read("silver.orders").height == 3


def test_added_column_evolves_the_table(rat_project):
    _bronze(rat_project, ORDERS)
    sql = rat_project.write("silver/orders.sql", "-- @materialized: incremental\nSELECT id, amount FROM bronze.orders")
    rat_project.run("silver.orders")
    sql.write_text("-- @materialized: incremental\nSELECT id, amount, day FROM bronze.orders WHERE id = 3")
    rat_project.run("silver.orders")
    out = rat_project.read("silver.orders").sort("id", "day", nulls_last=False)
    assert out.columns == ["id", "amount", "day"]
    assert out.filter(pl.col("day").is_not_null()).height == 1 and out.height == 4


def test_incompatible_type_change_is_an_error_unless_full_refresh(rat_project):
    _bronze(rat_project, ORDERS)
    sql = rat_project.write("silver/orders.sql", "-- @materialized: incremental\nSELECT id, amount FROM bronze.orders")
    rat_project.run("silver.orders")
    sql.write_text("-- @materialized: incremental\nSELECT CAST(id AS VARCHAR) AS id, amount FROM bronze.orders")
    with pytest.raises(SchemaError, match=r"silver.orders.*id: Int64 -> String"):
        rat_project.run("silver.orders")
    assert rat_project.version("silver.orders") == 0
    rat_project.run("silver.orders", full_refresh=True)
    assert rat_project.read("silver.orders").schema["id"] == pl.String


def test_python_transform_materializes(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("gold/by_day.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("gold.by_day", inputs={"orders": "bronze.orders"})
        def by_day(orders: pl.LazyFrame) -> pl.DataFrame:
            """Amount per day."""
            return orders.group_by("day").agg(pl.col("amount").sum()).sort("day").collect()
    ''')
    result = rat_project.run("gold.by_day")
    assert result["rows_written"] == 2
    assert rat_project.read("gold.by_day").sort("day")["amount"].to_list() == [30.0, 30.0]


def test_date_partitions(rat_project):
    rows = [{"id": i, "d": dt.date(2024, 1, 1 + i % 2)} for i in range(4)]
    _bronze(rat_project, rows, name="bronze.events")
    rat_project.write("silver/events.sql", """
        -- @materialized: incremental
        -- @strategy: replace_partitions
        -- @partition_by: d
        SELECT * FROM bronze.events
    """)
    rat_project.run("silver.events")
    _bronze(rat_project, [{"id": 9, "d": dt.date(2024, 1, 1)}], name="bronze.events")
    rat_project.run("silver.events")
    assert sorted(rat_project.read("silver.events")["id"].to_list()) == [1, 3, 9]


def test_a_table_transform_may_change_a_column_type(rat_project):
    """A table is rebuilt every run: its new schema wins, no full refresh needed."""
    _bronze(rat_project, ORDERS)
    sql = rat_project.write("silver/orders.sql", "SELECT id, amount FROM bronze.orders")
    rat_project.run("silver.orders")
    sql.write_text("SELECT CAST(id AS VARCHAR) AS id, amount FROM bronze.orders")
    assert rat_project.run("silver.orders")["version"] == 1
    assert rat_project.read("silver.orders").schema["id"] == pl.String


def test_merge_refuses_null_and_duplicated_keys_on_every_run(rat_project):
    """A NULL key never matches (it would be inserted again each run), duplicates would stay
    duplicated: both are errors, on the first run and a full refresh too, and nothing is written."""
    rat_project.write("silver/m.sql", "-- @materialized: incremental\n-- @strategy: merge\n"
                                      "-- @unique_key: [a, b]\nSELECT a, b, v FROM bronze.src")
    _bronze(rat_project, [{"a": 1, "b": "z", "v": 1}, {"a": 1, "b": "z", "v": 2}], name="bronze.src")
    with pytest.raises(SchemaError, match="1 rows with a duplicated unique_key|2 rows with a duplicated unique_key"):
        rat_project.run("silver.m")
    assert rat_project.version("silver.m") is None
    _bronze(rat_project, [{"a": None, "b": "z", "v": 3}, {"a": 2, "b": "y", "v": 4}], name="bronze.src")
    with pytest.raises(SchemaError, match=r"1 rows with a NULL in unique_key \['a', 'b'\]"):
        rat_project.run("silver.m")
    _bronze(rat_project, [{"a": 2, "b": "y", "v": 4}], name="bronze.src")
    rat_project.run("silver.m")
    _bronze(rat_project, [{"a": None, "b": "z", "v": 30}], name="bronze.src",
            schema={"a": pl.Int64, "b": pl.String, "v": pl.Int64})
    with pytest.raises(SchemaError, match="NULL in unique_key"):
        rat_project.run("silver.m")
    with pytest.raises(SchemaError, match="NULL in unique_key"):
        rat_project.run("silver.m", full_refresh=True)
    assert rat_project.version("silver.m") == 0 and rat_project.read("silver.m").rows() == [(2, "y", 4)]


def test_an_incremental_run_with_nothing_new_makes_no_commit(rat_project):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/inc.sql", "-- @materialized: incremental\nSELECT id, amount FROM bronze.orders\n"
                                        "{% if is_incremental() %}WHERE id > {{ watermark('id') }}{% endif %}")
    assert rat_project.run("silver.inc")["version"] == 0
    again = rat_project.run("silver.inc")
    assert again["status"] == "unchanged" and again["rows_written"] == 0 and again["version"] == 0
    assert rat_project.version("silver.inc") == 0


def test_an_all_null_column_fits_the_existing_type(rat_project):
    _bronze(rat_project, ORDERS)
    sql = rat_project.write("silver/inc.sql", "-- @materialized: incremental\n"
                                              "SELECT id, CAST(day AS VARCHAR) AS note FROM bronze.orders")
    rat_project.run("silver.inc")
    sql.write_text("-- @materialized: incremental\nSELECT id, NULL AS note FROM bronze.orders")
    assert rat_project.run("silver.inc")["rows_written"] == 3
    table = rat_project.read("silver.inc")
    assert table.schema["note"] == pl.String and table["note"].null_count() == 3
