"""Integer arithmetic over integers the SQL itself makes narrow never wraps around.

Found by following the README ("Integer arithmetic never wraps around silently"): the BIGINT
rewrite looked only at the input tables' column types, so ``CAST(s AS INT) * 1000`` over a string
column, or a query without tables, still computed in Int32 and wrapped (2147483647 + 1 gave
-2147483648, written as such to the Delta table).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ratatouille.testing import run_transform

INT_MAX = 2_147_483_647


def _bronze(project, df: pl.DataFrame) -> None:
    df.write_delta(str(Path(project.lake) / "bronze" / "raw"))


def test_a_sql_transform_without_inputs_does_not_wrap(rat_project):
    rat_project.write("silver/consts.sql", f"""
        -- @materialized: table
        SELECT CAST({INT_MAX} AS INT) + CAST(1 AS INT) AS plus,
               CAST({INT_MAX} AS INTEGER) * 2 AS times,
               CAST(-{INT_MAX} AS INT) - CAST(2 AS INT) AS minus,
               CAST(300 AS SMALLINT) * CAST(300 AS SMALLINT) AS small
    """)
    result = rat_project.run("silver.consts")
    assert result["status"] == "success"
    row = rat_project.read("silver.consts").row(0, named=True)
    assert row == {"plus": INT_MAX + 1, "times": INT_MAX * 2, "minus": -INT_MAX - 2, "small": 90_000}


def test_strings_cast_to_int_in_bronze_do_not_wrap(rat_project):
    # landing data often arrives as text: the cast makes Int32, the product must not wrap
    _bronze(rat_project, pl.DataFrame({"qty": ["3000000", "2"], "cents": ["1000", "5"]}))
    rat_project.write("silver/amounts.sql", """
        -- @materialized: table
        SELECT CAST(qty AS INT) * CAST(cents AS INT) AS amount, qty::int4 + 2147483647 AS shifted,
               SUM(CAST(cents AS INT)) OVER () AS total
        FROM bronze.raw
        ORDER BY amount
    """)
    rat_project.run("silver.amounts")
    out = rat_project.read("silver.amounts")
    assert out["amount"].to_list() == [10, 3_000_000_000]
    assert out["shifted"].to_list() == [INT_MAX + 2, INT_MAX + 3_000_000]
    assert out["total"].to_list() == [1005, 1005]


@pytest.mark.parametrize("sql,expected", [
    (f"SELECT CAST({INT_MAX} AS INT) + 1 AS v", INT_MAX + 1),
    (f"SELECT {INT_MAX}::int4 * 3 AS v", INT_MAX * 3),
    ("SELECT CAST(127 AS TINYINT) + CAST(1 AS TINYINT) AS v", 128),
])
def test_query_and_run_transform_do_not_wrap(rat_project, sql, expected):
    assert rat_project.query(sql)["v"][0] == expected
    assert run_transform(sql)["v"][0] == expected


def test_a_cast_selected_as_it_is_keeps_its_type(rat_project):
    # only arithmetic is widened: a narrow cast on its own stays narrow, as a narrow column does
    out = rat_project.query("SELECT CAST(5 AS INT) AS five, CAST(5 AS INT) + 1 AS six")
    assert out.schema["five"] == pl.Int32
    assert out.schema["six"] == pl.Int64
