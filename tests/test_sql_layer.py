"""Issue 14, item 4: one SQL layer on sqlglot.

Each SQL text is parsed once (files read once per version), tables are found by sqlglot's
scopes, error lines come from sqlglot's token positions, and one literal builder quotes every
value for Polars SQL and for delta-rs predicates alike.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from deltalake import DeltaTable

from ratatouille._literals import literal
from ratatouille._predicate import equals, ident, is_in, rows_match
from ratatouille._sql import execute_sql, referenced_tables
from ratatouille._sql_parse import cache_info, clear_caches, parse_sql, sql_file
from ratatouille.errors import SQLError


# -- parse once -----------------------------------------------------------------------------------
def test_sql_file_is_read_once_per_version(tmp_path):
    path = tmp_path / "x.sql"
    path.write_text("SELECT 1 AS a")
    clear_caches()
    first = sql_file(path)
    assert cache_info()["files"].misses == 1
    assert sql_file(path) is first and cache_info()["files"].hits == 1  # same version: a hit
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # same text, new mtime
    again = sql_file(path)
    assert again is not first and cache_info()["files"].misses == 2
    path.write_text("SELECT 22 AS a")  # new content (and size)
    assert sql_file(path).text == "SELECT 22 AS a" and cache_info()["files"].misses == 3


def test_a_quick_edit_of_the_same_size_and_timestamp_is_seen(tmp_path):
    """File systems keep modification times at a coarse granularity: an edit right after a read may
    keep the file's size and timestamp. A just-modified file is read again until it is older."""
    path = tmp_path / "q.sql"
    path.write_text("SELECT 1 AS a")
    st = path.stat()
    assert sql_file(path).text == "SELECT 1 AS a"
    path.write_text("SELECT 2 AS a")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same key as the version read
    assert sql_file(path).text == "SELECT 2 AS a"
    old = st.st_mtime_ns - 60_000_000_000  # a settled file (a minute old) is read once
    os.utime(path, ns=(old, old))
    first = sql_file(path)
    assert sql_file(path) is first and not first.racy


def test_a_text_is_parsed_once():
    clear_caches()
    sql = "SELECT a FROM bronze.parse_once_t"
    trees = parse_sql(sql)
    assert parse_sql(sql) is trees
    assert cache_info()["parse"].misses == 1 and cache_info()["parse"].hits == 1
    assert referenced_tables(sql) == ["bronze.parse_once_t"]  # the guard reuses the parse
    assert cache_info()["parse"].misses == 1


def test_a_transform_is_read_and_parsed_once_from_discovery_to_later_runs(rat_project):
    pl.DataFrame({"id": [1, 2, 3], "n": pl.Series([5, 6, 7], dtype=pl.Int32)}).write_delta(
        str(Path(rat_project.lake) / "bronze" / "src"))
    rat_project.write("silver/once.sql", "WITH s AS (SELECT id, n FROM bronze.src)\n"
                                         "SELECT id, SUM(n) AS total FROM s GROUP BY id ORDER BY id")
    clear_caches()
    rat_project.run("silver.once")
    files, parses = cache_info()["files"], cache_info()["parse"]
    assert files.misses >= 1 and parses.misses >= 1
    rat_project.run("silver.once")  # the project is discovered again: nothing is read or parsed again
    assert cache_info()["files"].misses == files.misses
    assert cache_info()["parse"].misses == parses.misses
    assert cache_info()["parse"].hits > parses.hits
    assert rat_project.read("silver.once").sort("id")["total"].to_list() == [5, 6, 7]
    rat_project.write("silver/once.sql", "SELECT id, n AS total FROM bronze.src")  # edited: read again
    rat_project.run("silver.once")
    assert cache_info()["files"].misses > files.misses


# -- scope-aware tables -----------------------------------------------------------------------------
@pytest.mark.parametrize("sql, tables", [
    ("WITH orders AS (SELECT * FROM bronze.orders) SELECT * FROM orders o "
     "JOIN (SELECT * FROM silver.customers) AS customers ON o.c = customers.id", ["bronze.orders", "silver.customers"]),
    ("WITH a AS (SELECT * FROM bronze.x), b AS (SELECT * FROM a JOIN bronze.y USING (k)) SELECT * FROM b",
     ["bronze.x", "bronze.y"]),
    ("SELECT * FROM (SELECT * FROM (SELECT * FROM bronze.deep) AS inner_q) AS outer_q", ["bronze.deep"]),
    ("SELECT * FROM bronze.a WHERE k IN (WITH z AS (SELECT k FROM silver.b) SELECT k FROM z)", ["bronze.a", "silver.b"]),
    ("SELECT k FROM bronze.a UNION ALL SELECT k FROM bronze.a", ["bronze.a"]),
])
def test_cte_and_subquery_names_are_not_tables(sql, tables):
    assert referenced_tables(sql) == tables


def test_a_cte_used_outside_its_scope_is_refused_with_its_line():
    sql = ("SELECT *\n"
           "FROM (WITH a AS (SELECT 1 AS x) SELECT * FROM a) AS s\n"
           "JOIN a ON TRUE")  # `a` is not visible here: it is not a CTE of this scope
    with pytest.raises(SQLError) as info:
        referenced_tables(sql, transform="silver.t", file="silver/t.sql")
    assert "table 'a'" in str(info.value) and "not layer-qualified" in str(info.value)
    assert info.value.line == 3


def test_ctes_and_subqueries_run_over_real_tables(rat_project):
    pl.DataFrame({"id": [1, 2], "v": ["a", "b"]}).write_delta(str(Path(rat_project.lake) / "bronze" / "l"))
    rat_project.write("silver/scoped.sql",
                      "WITH l AS (SELECT id, v FROM bronze.l)\n"
                      "SELECT l.id, r.v FROM l JOIN (SELECT id, v || '!' AS v FROM bronze.l) AS r ON l.id = r.id")
    rat_project.run("silver.scoped")
    assert rat_project.read("silver.scoped").sort("id")["v"].to_list() == ["a!", "b!"]


# -- error lines from sqlglot's positions -----------------------------------------------------------
def test_error_line_comes_from_token_positions_not_text_search(rat_project):
    """The missing column's name also appears in a string, a block comment and a Jinja comment
    above its use: the error names the line where it is used as a column."""
    pl.DataFrame({"id": [1]}).write_delta(str(Path(rat_project.lake) / "bronze" / "src"))
    path = rat_project.write("silver/lines.sql", (
        "{# nope: a Jinja comment\n"
        "   over two lines #}\n"
        "SELECT 'nope' AS label,  /* nope in a comment */\n"
        "  id,\n"
        "  {% if true %}\n"
        "  -- the next line uses nope\n"
        "  nope + 1 AS x\n"
        "  {% endif %}\n"
        "FROM bronze.src\n"))
    with pytest.raises(SQLError) as info:
        rat_project.run("silver.lines")
    err = info.value
    assert err.transform == "silver.lines" and err.file == str(path)
    assert err.line == 7


def test_query_error_line_skips_strings_and_comments(rat_project):
    pl.DataFrame({"id": [1]}).write_delta(str(Path(rat_project.lake) / "bronze" / "q"))
    with pytest.raises(SQLError) as info:
        rat_project.query("SELECT 'missing_col' AS a,\n/* missing_col */ id,\n-- missing_col\nmissing_col\n"
                          "FROM bronze.q")
    assert info.value.line == 4


def test_a_syntax_error_names_its_line():
    with pytest.raises(SQLError) as info:
        parse_sql("SELECT a\n-- fine\nFROM bronze.t WHERE (a = 1", transform="silver.t", file="t.sql", line_offset=10)
    assert info.value.line == 13


def test_an_unterminated_string_names_a_line():
    with pytest.raises(SQLError) as info:
        parse_sql("SELECT 1\n, 'abc\nFROM x")
    assert info.value.line is not None and info.value.line >= 2


# -- one literal builder, round-tripping ------------------------------------------------------------
NAMES = ['we"ird', "order date", "a.b", "ünï cöl", "it's"]
STRINGS = ["O'Brien", "a\\", "a\\'b", "é€😀", "tab\there", "", "NULL", "1 OR 1=1", "x' OR '1'='1"]
UTC = dt.timezone.utc
PARIS = ZoneInfo("Europe/Paris")
INSTANTS = [dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC), dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
            dt.datetime(2024, 3, 31, 1, 0, 0, 123456, tzinfo=UTC)]


@pytest.mark.parametrize("col", NAMES)
def test_string_predicates_round_trip_through_delta_rs(tmp_path, col):
    values = STRINGS + [None]
    path = str(tmp_path / "t")
    pl.DataFrame({col: values, "id": list(range(len(values)))}).write_delta(path)
    for i, value in enumerate(values):
        table = DeltaTable(path)
        assert table.delete(equals(col, value))["num_deleted_rows"] == 1, value
        left = pl.read_delta(path)["id"].to_list()
        assert sorted(left) == list(range(i + 1, len(values)))


@pytest.mark.parametrize("col", NAMES)
def test_string_literals_round_trip_through_polars_sql(col):
    values = STRINGS + [None]
    frames = {"bronze.t": pl.LazyFrame({col: values, "id": list(range(len(values)))})}
    for i, value in enumerate(values):
        where = f"{ident(col)} IS NULL" if value is None else f"{ident(col)} = {literal(value)}"
        out = execute_sql(f"SELECT id FROM bronze.t WHERE {where}", frames).collect()
        assert out["id"].to_list() == [i], value


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_zone_aware_timestamps_round_trip_through_delta_rs_and_polars_sql(tmp_path, zone):
    col = "event time"
    frame = pl.DataFrame({col: INSTANTS + [None], "id": [0, 1, 2, 3]},
                         schema={col: pl.Datetime("us", "UTC"), "id": pl.Int64}).with_columns(
        pl.col(col).dt.convert_time_zone(zone))
    path = str(tmp_path / "ts")
    frame.write_delta(path)
    for i, instant in enumerate(INSTANTS):
        for value in (instant, instant.astimezone(PARIS)):  # the same instant written in two zones
            out = execute_sql(f"SELECT id FROM bronze.ts WHERE {ident(col)} = {literal(value)}",
                              {"bronze.ts": frame.lazy()}).collect()
            assert out["id"].to_list() == [i], (value, zone)
            typed = literal(value, dtype=frame.schema[col])  # typed like the column
            out = execute_sql(f"SELECT id FROM bronze.ts WHERE {ident(col)} = {typed}", {"bronze.ts": frame.lazy()})
            assert out.collect()["id"].to_list() == [i], (typed, zone)
    # delta-rs: delete the DST-ambiguous instant written in Paris time, then the NULL row
    assert DeltaTable(path).delete(equals(col, INSTANTS[1].astimezone(PARIS)))["num_deleted_rows"] == 1
    assert DeltaTable(path).delete(equals(col, None))["num_deleted_rows"] == 1
    assert sorted(pl.read_delta(path)["id"].to_list()) == [0, 2]


def test_naive_nanosecond_timestamps_and_dates_round_trip(tmp_path):
    ts = pl.Series("ts", ["2024-01-01 12:00:00.123456789", "2024-01-01 12:00:00.123456788"]).str.to_datetime(
        time_unit="ns")
    frame = pl.DataFrame({"ts": ts, "d": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)], "id": [0, 1]})
    for i in range(2):
        one = frame.lazy().select(pl.col("ts").slice(i, 1))
        out = execute_sql(f"SELECT id FROM bronze.t WHERE ts = {literal(one)}", {"bronze.t": frame.lazy()})
        assert out.collect()["id"].to_list() == [i]  # nanoseconds kept
    path = str(tmp_path / "d")
    frame.drop("ts").write_delta(path)
    assert DeltaTable(path).delete(rows_match(["d"], [(dt.date(2024, 1, 2),)]))["num_deleted_rows"] == 1
    assert DeltaTable(path).delete(is_in("d", [dt.date(2024, 1, 1)]))["num_deleted_rows"] == 1


def test_one_literal_builder_serves_both_dialects():
    assert literal("it's") == literal("it's", dialect="delta") == "'it''s'"
    assert literal(None) == literal(None, dialect="delta") == "NULL"
    assert literal(dt.date(2024, 1, 2)) == "DATE '2024-01-02'"
    assert literal(dt.date(2024, 1, 2), dialect="delta") == "'2024-01-02'"
    with pytest.raises(ValueError):
        literal(1, dialect="duckdb")  # type: ignore[arg-type]
    import ratatouille._sql as sql_module

    assert not hasattr(sql_module, "sql_literal")  # the old renderers are gone


# -- one Jinja environment --------------------------------------------------------------------------
ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


def test_transforms_sql_tests_and_generic_tests_render_in_the_one_sandbox(rat_project):
    """The same sandbox escape is refused, naming its file, in a SQL transform, a SQL test and a
    custom generic test (tests/generic/<name>.sql): all three render through ratatouille._jinja."""
    from ratatouille import _jinja

    pl.DataFrame({"id": [1, 2]}).write_delta(str(Path(rat_project.lake) / "bronze" / "j"))
    places = {
        "silver.t1": ("silver/t1.sql", f"SELECT id FROM bronze.j WHERE id > 0 {ESCAPE}", None),
        "silver.t2": ("silver/t2.yaml", "tests:\n  - name: escape\n    sql: SELECT * FROM {{ this }} "
                                        f"WHERE 1 = 0 {ESCAPE}\n", "SELECT id FROM bronze.j"),
        "silver.t3": ("silver/t3.yaml", "columns:\n  - name: id\n    tests: [escapes]\n", "SELECT id FROM bronze.j"),
    }
    generic = rat_project.root / "tests" / "generic"
    generic.mkdir(parents=True)
    (generic / "escapes.sql").write_text(f"SELECT * FROM {{{{ model }}}} WHERE 1 = 0 {ESCAPE}")
    for name, (rel, text, sql) in places.items():
        rat_project.write(rel, text)
        if sql:
            rat_project.write(rel.replace(".yaml", ".sql"), sql)
    _jinja._compile.cache_clear()
    for name in places:
        with pytest.raises(SQLError) as info:
            rat_project.run(name)
        assert "sandbox" in str(info.value), (name, str(info.value))
    assert _jinja._compile.cache_info().misses >= 3  # each template compiled by the one environment
