"""Declared types take parameters; one parser (ratatouille._types.parse_type) serves columns: checks and ingest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import polars as pl
import pytest

from ratatouille import CheckError, ConfigError
from ratatouille._types import parse_type

PARSED = [
    ("int64", pl.Int64), ("INTEGER", pl.Int32), ("bigint", pl.Int64), ("double", pl.Float64), ("string", pl.String),
    ("varchar(20)", pl.String), ("boolean", pl.Boolean), ("date", pl.Date), ("timestamp", pl.Datetime("us")),
    ("decimal(12,2)", pl.Decimal(12, 2)), ("decimal(12, 2)", pl.Decimal(12, 2)), ("numeric(5)", pl.Decimal(5, 0)),
    ("timestamp(us, UTC)", pl.Datetime("us", "UTC")), ("timestamp(ns)", pl.Datetime("ns")),
    ("timestamp(ms, Europe/Paris)", pl.Datetime("ms", "Europe/Paris")), ("timestamp_tz", pl.Datetime("us", "UTC")),
    ("list<string>", pl.List(pl.String)), ("array<int>", pl.List(pl.Int64)),
    ("list<decimal(10,2)>", pl.List(pl.Decimal(10, 2))), ("list<list<int32>>", pl.List(pl.List(pl.Int32))),
    ("struct<a: int, b: list<string>>", pl.Struct({"a": pl.Int64, "b": pl.List(pl.String)})),
    ("Int16", pl.Int16), ("Datetime", pl.Datetime("us")),
]


@pytest.mark.parametrize("text,dtype", PARSED, ids=[t for t, _ in PARSED])
def test_parse_declared_types(text, dtype):
    assert parse_type(text).dtype == dtype


@pytest.mark.parametrize("text", ["decimal(50,2)", "decimal(4,6)", "decimal(a)", "timestamp(us, Mars/Base)",
                                  "list<", "list<string", "struct<a int>", "nonsense", "list<string>>", ""])
def test_bad_declared_types_are_config_errors(text):
    with pytest.raises(ConfigError, match="type"):
        parse_type(text)


def test_bare_decimal_accepts_any_decimal():
    assert parse_type("decimal").matches(pl.Decimal(12, 2)) and parse_type("decimal").matches(pl.Decimal(3, 0))
    assert not parse_type("decimal").matches(pl.Float64)
    assert not parse_type("decimal(10,2)").matches(pl.Decimal(12, 2))


def _src(p):
    pl.DataFrame({"id": [1], "amount": pl.Series([D("12.50")], dtype=pl.Decimal(12, 2)),
                  "ts": pl.Series([dt.datetime(2024, 1, 1)]).dt.replace_time_zone("UTC"),
                  "tags": [["a", "b"]]}).write_delta(f"{p.lake}/bronze/src")


@pytest.mark.parametrize("declared,ok", [
    ("{name: amount, type: decimal}", True), ("{name: amount, type: 'decimal(12,2)'}", True),
    ("{name: amount, type: 'decimal(10,2)'}", False), ("{name: amount, type: double}", False),
    ("{name: ts, type: 'timestamp(us, UTC)'}", True), ("{name: ts, type: timestamp}", False),
    ("{name: tags, type: 'list<string>'}", True), ("{name: tags, type: 'list<int>'}", False),
])
def test_columns_checks_use_the_declared_parameters(rat_project, declared, ok):
    _src(rat_project)
    rat_project.write("silver/c.sql", "SELECT * FROM bronze.src")
    rat_project.write("silver/c.yaml", f"columns:\n  - {declared}\n")
    if ok:
        assert rat_project.run("silver.c")["status"] == "success"
    else:
        with pytest.raises(CheckError, match="silver.c"):
            rat_project.run("silver.c")
        assert rat_project.version("silver.c") is None


def test_a_bad_declared_type_names_the_column_and_file(rat_project):
    _src(rat_project)
    rat_project.write("silver/c.sql", "SELECT * FROM bronze.src")
    rat_project.write("silver/c.yaml", "columns:\n  - {name: amount, type: 'decimal(50,2)'}\n")
    with pytest.raises(ConfigError, match=r"(?s)amount.*decimal\(50,2\).*c\.yaml|c\.yaml.*amount.*decimal\(50,2\)"):
        rat_project.run("silver.c")


def test_ingest_casts_to_parameterized_declared_types(rat_project):
    p = rat_project
    p.write("bronze/o.yaml", "source: landing/o/\nformat: csv\ncolumns:\n"
                             "  - {name: amount, type: 'decimal(12,2)'}\n"
                             "  - {name: at, type: 'timestamp(us, UTC)'}\n")
    p.landing("o/a.csv", "amount,at\n12.5,2024-01-01 10:00:00\n")
    p.run("bronze.o")
    out = p.read("bronze.o")
    assert out.schema["amount"] == pl.Decimal(12, 2) and out["amount"][0] == D("12.50")
    assert out.schema["at"] == pl.Datetime("us", "UTC")
    assert out["at"][0] == dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone.utc)
    # a bare decimal keeps the table's precision and scale
    p.write("bronze/o.yaml", "source: landing/o/\nformat: csv\ncolumns:\n  - {name: amount, type: decimal}\n")
    p.landing("o/b.csv", "amount,at\n7.25,2024-01-02 10:00:00\n")
    assert p.run("bronze.o")["rejected"] == []
    assert sorted(p.read("bronze.o")["amount"].to_list()) == [D("7.25"), D("12.50")]


def test_ndjson_list_declared(rat_project):
    p = rat_project
    p.write("bronze/l.yaml", "source: landing/l/\nformat: ndjson\ncolumns:\n  - {name: tags, type: 'list<string>'}\n")
    p.landing("l/a.ndjson", '{"id": 1, "tags": ["a", "b"]}\n{"id": 2, "tags": null}\n')
    p.run("bronze.l")
    assert p.read("bronze.l").schema["tags"] == pl.List(pl.String)
