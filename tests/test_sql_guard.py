"""Issue 9, item 1: SQL reaches only the lake's tables and the query's own CTEs.

Every table function / file or URL reader of Polars SQL is refused before anything runs, in
``query()``, ``rat query``, SQL transforms, SQL tests and ``testing.run_transform``; a real HTTP
server records that it was never contacted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ratatouille.errors import SQLError
from ratatouille.testing import run_transform


@pytest.fixture
def project(rat_project):
    """A project with one lake table, bronze.items, and a secret in its pyproject.toml."""
    pyproject = rat_project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '# SECRET-MARKER-1234\n')
    pl.DataFrame({"sku": ["A1", "B2", "a3"], "qty": [1, 2, 3]}).write_delta(str(Path(rat_project.lake) / "bronze" / "items"))
    return rat_project


def attacks(url: str) -> list[str]:
    return [
        "SELECT * FROM read_csv('pyproject.toml')",
        f"SELECT * FROM read_csv('{url}')",
        "SELECT * FROM read_parquet('x.parquet')",
        "SELECT * FROM read_json('x.json')",
        "SELECT * FROM read_ipc('x.arrow')",
        "SELECT * FROM read_delta('lake/bronze/items')",
        # the same in every table position: joins, comma joins, CTEs, subqueries, set operations
        f"SELECT * FROM bronze.items JOIN read_csv('{url}') AS r ON TRUE",
        f"SELECT * FROM bronze.items, read_csv('{url}')",
        f"WITH x AS (SELECT * FROM read_csv('{url}')) SELECT * FROM x",
        f"SELECT * FROM (SELECT * FROM read_csv('{url}')) AS s",
        f"SELECT sku FROM bronze.items WHERE sku IN (SELECT a FROM read_csv('{url}'))",
        f"SELECT sku FROM bronze.items UNION ALL SELECT a FROM read_csv('{url}')",
        # allow-list, not deny-list: a table function Polars may add later, a file name as a table
        "SELECT * FROM read_avro('x.avro')",
        "SELECT * FROM some_future_reader('x')",
        "SELECT * FROM 'pyproject.toml'",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT * FROM \"read_csv\"('pyproject.toml')",
        f"SELECT * FROM (read_csv('{url}'))",
        f"SELECT * FROM bronze.items JOIN (read_csv('{url}')) ON TRUE",
        f"SELECT * FROM read_csv /* a comment */ ('{url}')",
        "SELECT * FROM ROWS FROM (read_csv('pyproject.toml'))",
        "SELECT * FROM bronze.items CROSS JOIN UNNEST([1, 2]) AS u(y)",
        "SELECT * FROM bronze.items, LATERAL (SELECT 1 AS y) AS l",
        "SELECT * FROM other.catalog.items",
        # only queries: no statements that change the context or run something else
        "CREATE TABLE t AS SELECT * FROM read_csv('pyproject.toml')",
        "SHOW TABLES",
        "SELECT 1 AS a; SELECT * FROM read_csv('pyproject.toml')",
    ]


def test_query_refuses_every_table_function_and_never_fetches(project, http_server):
    for sql in attacks(http_server.url):
        with pytest.raises(SQLError) as info:
            project.query(sql)
        assert "not allowed" in str(info.value) or "layer-qualified" in str(info.value), (sql, str(info.value))
        assert "SECRET-MARKER" not in str(info.value)
    assert http_server.hits == []


def test_query_error_gives_the_position_in_the_query(project):
    with pytest.raises(SQLError) as info:
        project.query("SELECT sku\nFROM bronze.items\nJOIN read_csv('pyproject.toml') AS r ON TRUE")
    err = info.value
    assert err.line == 3
    assert "READ_CSV" in str(err) and "line 3, column 6" in str(err)


def test_sql_the_parser_cannot_analyse_is_refused_not_run(project, http_server):
    for sql in ["SELECT * FROM bronze.items WHERE (", f"SELECT * FROM read_csv('{http_server.url}') WHERE ((",
                "SELECT * FROM bronze.items #"]:
        with pytest.raises(SQLError, match="syntax error|not allowed"):
            project.query(sql)
    assert http_server.hits == []


def test_allowed_sql_still_runs(project):
    df = project.query("""
        WITH a AS (SELECT sku, qty FROM bronze.items WHERE sku ~ '^A'),
             b AS (SELECT * FROM (SELECT sku FROM bronze.items) AS s WHERE sku ILIKE 'a%')
        SELECT a.sku, UPPER(a.sku) AS up, a.qty::float AS q
        FROM a JOIN b USING (sku)
        UNION ALL
        SELECT * FROM (VALUES ('z', 'Z', 0.0)) AS v(sku, up, q)
    """)
    assert sorted(df["sku"].to_list()) == ["A1", "z"]
    assert project.query("SELECT COUNT(*) AS n FROM bronze.items")["n"][0] == 3
    # scalar functions, and text that only looks like a reader, stay allowed
    df = project.query("SELECT 'read_me (draft)' AS note, LOWER(sku) AS s, COALESCE(qty, 0) AS q FROM bronze.items "
                       "WHERE sku = 'A1'")
    assert df.row(0) == ("read_me (draft)", "a1", 1)


def _rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.mark.slow
def test_rat_query_refuses_files_and_urls(project, http_server):
    for sql in ("SELECT * FROM read_csv('pyproject.toml')", f"SELECT * FROM read_csv('{http_server.url}')"):
        out = _rat("query", sql, cwd=project.root)
        assert out.returncode != 0
        assert "not allowed" in out.stdout + out.stderr
        assert "SECRET-MARKER" not in out.stdout + out.stderr
    assert http_server.hits == []
    ok = _rat("query", "SELECT COUNT(*) AS n FROM bronze.items WHERE sku ~ '^A'", cwd=project.root)
    assert ok.returncode == 0 and "1" in ok.stdout, ok.stderr


def test_sql_transform_is_refused_with_transform_file_and_line(project, http_server):
    path = project.write("silver/leak.sql", f"""
        -- @materialized: table
        SELECT sku
        FROM bronze.items
        JOIN read_csv('{http_server.url}') AS r ON TRUE
    """)
    project.write("silver/fine.sql", "SELECT sku FROM bronze.items")
    with pytest.raises(SQLError) as info:
        project.run("silver.leak")
    err = info.value
    assert err.transform == "silver.leak" and err.file == str(path) and err.line == 4
    assert project.table("silver.leak") is None  # nothing written
    assert project.run("silver.fine")["status"] == "success"  # the others still run
    path.write_text("SELECT * FROM read_csv('pyproject.toml')")
    with pytest.raises(SQLError, match="READ_CSV"):
        project.run("silver.leak")
    assert project.table("silver.leak") is None
    assert http_server.hits == []


@pytest.mark.parametrize("source", ["url", "pyproject.toml"])
def test_sql_test_is_refused(project, http_server, source):
    where = http_server.url if source == "url" else "pyproject.toml"
    project.write("silver/checked.sql", "SELECT sku, qty FROM bronze.items")
    project.write("silver/checked.yaml", f"""
        materialized: table
        tests:
          - name: sneaky
            sql: SELECT * FROM {{{{ this }}}} JOIN read_csv('{where}') AS r ON TRUE
            severity: warn
    """)
    with pytest.raises(SQLError) as info:
        project.run("silver.checked")
    assert "silver.checked" in str(info.value) and "READ_CSV" in str(info.value)
    assert "SECRET-MARKER" not in str(info.value)
    assert project.table("silver.checked") is None  # even a warn test that cannot run blocks the write
    assert http_server.hits == []


def test_run_transform_is_refused(http_server):
    items = pl.DataFrame({"sku": ["A1"]})
    for sql in ("SELECT * FROM read_csv('pyproject.toml')",
                f"SELECT i.sku FROM bronze.items AS i JOIN read_csv('{http_server.url}') AS r ON TRUE"):
        with pytest.raises(SQLError, match="not allowed"):
            run_transform(sql, inputs={"bronze.items": items})
    assert http_server.hits == []
    assert run_transform("SELECT sku FROM bronze.items", inputs={"bronze.items": items})["sku"].to_list() == ["A1"]


def test_a_lake_table_not_registered_for_the_query_is_refused():
    from ratatouille._sql import execute_sql

    frames = {"bronze.items": pl.LazyFrame({"sku": ["A1"]})}
    with pytest.raises(SQLError, match="bronze.other is not a lake table registered"):
        execute_sql("SELECT * FROM bronze.other", frames)


def test_a_refused_sql_test_names_its_yaml_file_and_line(project):
    project.write("silver/checked.sql", "SELECT sku, qty FROM bronze.items")
    yaml = project.write("silver/checked.yaml", """
        tests:
          - name: fine
            sql: SELECT * FROM {{ this }} WHERE qty < 0
          - name: sneaky
            sql: |
              SELECT *
              FROM {{ this }}
              JOIN read_csv('pyproject.toml') AS r ON TRUE
    """)
    with pytest.raises(SQLError) as info:
        project.run("silver.checked")
    err = info.value
    assert err.file == str(yaml) and err.line == 8 and "sneaky" in err.transform
