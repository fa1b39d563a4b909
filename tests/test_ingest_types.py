"""Ingest never drops data silently: whole-file inference, keys first seen late, all-NULL keys,
nested fields, header case, one test per format (real landing files, real Delta tables)."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

LATE = 100  # rows before the key (and the fractional value) first appears


def _rows(n_early: int = LATE, n_late: int = 20) -> list[dict]:
    early = [{"id": i, "amount": i} for i in range(n_early)]
    late = [{"id": n_early + i, "amount": 2.5, "coupon": "SPRING"} for i in range(n_late)]
    return early + late


def _file(fmt: str, rows: list[dict]) -> tuple[str, bytes]:
    """A landing file of ``fmt`` holding ``rows`` as a writer of that format would."""
    if fmt == "ndjson":
        return "ndjson", "\n".join(json.dumps(r) for r in rows).encode() + b"\n"
    if fmt == "json":
        return "json", json.dumps(rows).encode()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    if fmt == "csv":
        lines = [",".join(cols)] + [",".join("" if r.get(c) is None else str(r[c]) for c in cols) for r in rows]
        return "csv", ("\n".join(lines) + "\n").encode()
    df = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], infer_schema_length=None)
    buf = io.BytesIO()
    if fmt == "parquet":
        df.write_parquet(buf)
        return "parquet", buf.getvalue()
    df.write_excel(buf, worksheet="Sheet1")
    return "xlsx", buf.getvalue()


FORMATS = ["csv", "json", "ndjson", "parquet", "excel"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_first_seen_late_is_kept(rat_project, fmt):
    """Case 4: values that first appear after row 100 are ingested, never silently dropped, and a
    fractional value late in a column of integers does not reject the file."""
    p = rat_project
    p.write("bronze/orders.yaml", f"source: landing/orders/\nformat: {fmt}\n")
    ext, data = _file(fmt, _rows())
    p.landing(f"orders/a.{ext}", data)
    result = p.run("bronze.orders")
    assert result["rejected"] == [] and result["rows_written"] == LATE + 20
    out = p.read("bronze.orders")
    assert out["coupon"].to_list().count("SPRING") == 20
    assert out.schema["amount"].is_float() and out["amount"].sum() == pytest.approx(sum(range(LATE)) + 50.0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_schema_strict_rejects_a_late_key_and_evolve_adds_it(rat_project, fmt):
    p = rat_project
    ext, first = _file(fmt, [{"id": 1, "amount": 1.5}])
    _, late = _file(fmt, _rows())
    for policy in ("strict", "evolve"):
        p.write(f"bronze/{policy}.yaml", f"source: landing/{policy}/\nformat: {fmt}\nschema: {policy}\n")
        p.landing(f"{policy}/a.{ext}", first)
        p.run(f"bronze.{policy}")
        p.landing(f"{policy}/b.{ext}", late)
        result = p.run(f"bronze.{policy}")
        if policy == "strict":
            assert [r["file"] for r in result["rejected"]] == [f"landing/strict/b.{ext}"]
            assert "coupon" in result["rejected"][0]["reason"]
            assert p.read("bronze.strict").height == 1
        else:
            assert result["rejected"] == []
            assert p.read("bronze.evolve")["coupon"].to_list().count("SPRING") == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_that_is_always_null_does_not_block_the_run(rat_project, fmt):
    """Case 3 (ingest): a key whose every value is null lands as a nullable String, or as the
    table's type, or as the declared type."""
    p = rat_project
    p.write("bronze/o.yaml", f"source: landing/o/\nformat: {fmt}\n")
    ext, data = _file(fmt, [{"id": 2, "coupon": None}, {"id": 3, "coupon": None}])
    if fmt == "parquet":
        buf = io.BytesIO()
        pl.DataFrame({"id": [2, 3], "coupon": [None, None]}).write_parquet(buf)  # a Null-typed column
        data = buf.getvalue()
    p.landing(f"o/a.{ext}", data)
    assert p.run("bronze.o")["status"] == "success"
    assert p.read("bronze.o").schema["coupon"] == pl.String
    # an existing typed column: the all-null file takes the table's type
    p.write("bronze/t.yaml", f"source: landing/t/\nformat: {fmt}\n")
    p.landing(f"t/a.{ext}", _file(fmt, [{"id": 1, "coupon": 5}])[1])
    p.run("bronze.t")
    p.landing(f"t/b.{ext}", data)
    assert p.run("bronze.t")["rejected"] == []
    out = p.read("bronze.t")
    assert out.schema["coupon"] == pl.Int64 and out.height == 3
    # declared: the declared type
    p.write("bronze/d.yaml", f"source: landing/d/\nformat: {fmt}\ncolumns:\n  - {{name: coupon, type: 'decimal(12,2)'}}\n")
    p.landing(f"d/a.{ext}", data)
    p.run("bronze.d")
    assert p.read("bronze.d").schema["coupon"] == pl.Decimal(12, 2)


def test_new_nested_struct_fields_evolve_or_are_strict_drift(rat_project):
    p = rat_project
    first = b'{"id": 1, "meta": {"a": 1}}\n'
    later = b"".join(b'{"id": %d, "meta": {"a": %d}}\n' % (i, i) for i in range(2, 120)) + \
        b'{"id": 200, "meta": {"a": 5, "b": "new"}}\n'
    for policy in ("strict", "evolve"):
        p.write(f"bronze/{policy}.yaml", f"source: landing/{policy}/\nformat: ndjson\nschema: {policy}\n")
        p.landing(f"{policy}/a.ndjson", first)
        p.run(f"bronze.{policy}")
        p.landing(f"{policy}/b.ndjson", later)
        result = p.run(f"bronze.{policy}")
        if policy == "strict":
            assert len(result["rejected"]) == 1 and "meta.b" in result["rejected"][0]["reason"]
        else:
            out = p.read("bronze.evolve")
            assert result["rejected"] == []
            assert out.filter(pl.col("id") == 200)["meta"].struct.field("b").to_list() == ["new"]


@pytest.mark.parametrize("fmt", ["csv", "excel", "parquet"])
def test_header_names_match_the_table_case_insensitively(rat_project, fmt):
    p = rat_project
    p.write("bronze/h.yaml", f"source: landing/h/\nformat: {fmt}\nschema: strict\n")
    ext, a = _file(fmt, [{"id": 1, "coupon": "A"}])
    p.landing(f"h/a.{ext}", a)
    p.run("bronze.h")
    p.landing(f"h/b.{ext}", _file(fmt, [{"ID": 2, "Coupon": "B"}])[1])
    result = p.run("bronze.h")
    assert result["rejected"] == []
    out = p.read("bronze.h").sort("id")
    assert out.columns[:2] == ["id", "coupon"] and out["coupon"].to_list() == ["A", "B"]


def test_a_true_case_clash_is_a_clear_rejection(rat_project):
    p = rat_project
    p.write("bronze/c.yaml", "source: landing/c/\nformat: csv\n")
    p.landing("c/a.csv", "id,ID\n1,2\n")
    p.landing("c/b.csv", "id\n3\n")
    result = p.run("bronze.c")
    assert [r["file"] for r in result["rejected"]] == ["landing/c/a.csv"]
    assert "differ only in case" in result["rejected"][0]["reason"]
    assert p.read("bronze.c")["id"].to_list() == [3]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_wider_type_in_a_later_file_names_the_option_or_widens_the_table(rat_project, fmt):
    """The type policy in ingest: an integer column meeting 2.5 in a later file is rejected with
    the option to use (append_new_columns), or widens the table in one commit (sync_all_columns)."""
    p = rat_project
    ext, first = _file(fmt, [{"id": 1, "amount": 1}])
    _, later = _file(fmt, [{"id": 2, "amount": 2.5}])
    _, third = _file(fmt, [{"id": 3, "amount": 3}])
    for policy in ("append_new_columns", "sync_all_columns"):
        p.write(f"bronze/{policy}.yaml", f"source: landing/{policy}/\nformat: {fmt}\non_schema_change: {policy}\n")
        p.landing(f"{policy}/a.{ext}", first)
        p.run(f"bronze.{policy}")
        p.landing(f"{policy}/b.{ext}", later)
        result = p.run(f"bronze.{policy}")
        out = p.read(f"bronze.{policy}").sort("id")
        if policy == "append_new_columns":
            (rejected,) = result["rejected"]
            assert "amount" in rejected["reason"] and "sync_all_columns" in rejected["reason"]
            assert out["amount"].to_list() == [1] and p.version(f"bronze.{policy}") == 0
        else:
            assert result["rejected"] == [] and result["version"] == 1
            assert out.schema["amount"] == pl.Float64 and out["amount"].to_list() == [1.0, 2.5]
            assert out["_source_file"].to_list() == [f"landing/{policy}/a.{ext}", f"landing/{policy}/b.{ext}"]
            p.landing(f"{policy}/c.{ext}", third)
            assert p.run(f"bronze.{policy}")["rows_written"] == 1
            assert p.read(f"bronze.{policy}").sort("id")["amount"].to_list() == [1.0, 2.5, 3.0]


def test_zone_aware_timestamps_are_ingested_in_utc_file_after_file(rat_project):
    """Case 1 in ingest: parquet files holding Europe/Paris timestamps land in UTC, run after run."""
    p = rat_project
    p.write("bronze/tz.yaml", "source: landing/tz/\nformat: parquet\n")
    for day in (1, 2, 3):
        buf = io.BytesIO()
        pl.DataFrame({"id": [day], "ts": [f"2024-03-0{day} 10:00:00"]}).with_columns(
            pl.col("ts").str.to_datetime().dt.replace_time_zone("Europe/Paris")).write_parquet(buf)
        p.landing(f"tz/{day}.parquet", buf.getvalue())
        result = p.run("bronze.tz")
        assert result["rejected"] == [] and result["rows_written"] == 1
    out = p.read("bronze.tz").sort("id")
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert [t.hour for t in out["ts"].to_list()] == [9, 9, 9]


def test_a_widening_reingest_replaces_the_changed_file_rows(rat_project):
    p = rat_project
    p.write("bronze/r.yaml", "source: landing/r/\nformat: csv\non_change: reingest\non_schema_change: sync_all_columns\n")
    p.landing("r/a.csv", "id,amount\n1,1\n2,2\n")
    p.landing("r/b.csv", "id,amount\n3,3\n")
    p.run("bronze.r")
    p.landing("r/a.csv", "id,amount\n1,1.5\n")  # changed: fewer rows, a fractional value
    result = p.run("bronze.r")
    assert result["reingested"] == ["landing/r/a.csv"] and result["version"] == 1
    out = p.read("bronze.r").sort("id")
    assert out.schema["amount"] == pl.Float64
    assert out["id"].to_list() == [1, 3] and out["amount"].to_list() == [1.5, 3.0]


def test_case_3_an_always_null_key_in_one_file_does_not_block_the_run(rat_project):
    """Case 3 as reported: a table without `coupon`, then a run with a good file and one whose
    `coupon` is always null: both land, `coupon` is a nullable String."""
    p = rat_project
    p.write("bronze/orders.yaml", "source: landing/orders/\nformat: ndjson\n")
    p.landing("orders/1.ndjson", '{"id": 1}\n')
    p.run("bronze.orders")
    p.landing("orders/2.ndjson", '{"id": 2, "coupon": null}\n')
    p.landing("orders/3.ndjson", '{"id": 3}\n')
    result = p.run("bronze.orders")
    assert result["status"] == "success" and result["rejected"] == [] and result["rows_written"] == 2
    out = p.read("bronze.orders").sort("id")
    assert out["id"].to_list() == [1, 2, 3] and out.schema["coupon"] == pl.String
    assert out["coupon"].to_list() == [None, None, None]
