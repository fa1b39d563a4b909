"""Ingest transforms end to end, on a local lake and on S3 (moto): formats, exactly once,
changed files, bad files, schema policies, concurrent runs.

Every test runs twice through the ``lake_project`` fixture (``local`` and ``s3``), each
time on a fresh lake; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging

import polars as pl
import pytest

from ratatouille import IngestError, query, read, run, tools
from ratatouille.transforms.ingest import IngestTransform

SALES_YAML = """
source: landing/sales/
format: csv
columns:
  - name: order_id
    type: int64
    tests: [not_null]
"""


def csv(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def counts_by_file(project, table: str = "bronze.sales") -> dict[str, int]:
    df = project.read(table).group_by("_source_file").len()
    return dict(zip(df["_source_file"].to_list(), df["len"].to_list()))


# -- the pipeline -----------------------------------------------------------------------------------
def test_ingest_silver_gold_query_end_to_end(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.write("silver/sales.sql", """
        -- @materialized: incremental
        SELECT order_id, product, quantity * unit_price AS total, _ingested_at
        FROM bronze.sales
        WHERE quantity > 0
        {% if is_incremental() %} AND _ingested_at > {{ watermark('_ingested_at') }} {% endif %}
    """)
    p.write("gold/revenue.sql", "SELECT product, SUM(total) AS revenue, COUNT(*) AS n FROM silver.sales GROUP BY product")
    p.landing("sales/2024-01-01.csv", csv("order_id,product,quantity,unit_price", "1,apple,2,1.5", "2,pear,0,9.0"))
    p.landing("sales/2024-01-02.csv", csv("order_id,product,quantity,unit_price", "3,apple,1,1.5", "4,plum,4,2.0"))

    first = run("gold.revenue", upstream=True)
    assert first["status"] == "success"
    bronze = first.results[0]
    assert bronze["table"] == "bronze.sales" and bronze["rows_written"] == 4
    assert bronze["files"] == ["landing/sales/2024-01-01.csv", "landing/sales/2024-01-02.csv"]
    assert bronze["rejected"] == [] and bronze["version"] == 0
    df = read("bronze.sales").collect()
    assert df.schema["order_id"] == pl.Int64 and df.schema["_ingested_at"] == pl.Datetime("us")
    assert set(df["_source_file"]) == {"landing/sales/2024-01-01.csv", "landing/sales/2024-01-02.csv"}
    assert df["_source_fingerprint"].null_count() == 0
    gold = query("SELECT product, revenue, n FROM gold.revenue ORDER BY product")
    assert gold.rows() == [("apple", 4.5, 2), ("plum", 8.0, 1)]

    again = run("gold.revenue", upstream=True)  # nothing new landed
    assert again.results[0]["status"] == "unchanged" and again.results[0]["files_skipped"] == 2
    assert p.version("bronze.sales") == 0

    p.landing("sales/2024-01-03.csv", csv("order_id,product,quantity,unit_price", "5,pear,2,3.0"))
    third = run("gold.revenue", upstream=True)
    b, s, g = third.results
    assert b["files"] == ["landing/sales/2024-01-03.csv"] and b["rows_written"] == 1 and b["version"] == 1
    assert s["rows_written"] == 1  # silver appended only the new row
    assert query("SELECT COUNT(*) AS cnt FROM bronze.sales")["cnt"][0] == 5
    gold = query("SELECT product, revenue FROM gold.revenue ORDER BY product")
    assert gold.rows() == [("apple", 4.5), ("pear", 6.0), ("plum", 8.0)]
    assert read("bronze.sales", version=0).collect().height == 4

    listed = tools.ls("landing/sales/")
    assert len(listed) == 3 and all(f.startswith(p.lake) for f in listed)
    history = tools.history("bronze.sales")
    assert history["version"].to_list() == [1, 0] and history["transform"].to_list() == ["bronze.sales"] * 2


def test_rerun_reads_only_new_files_and_skips_when_nothing_is_new(lake_project, monkeypatch):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    for i in range(5):
        p.landing(f"sales/{i}.csv", csv("order_id,qty", f"{i},1"))
    assert run("bronze.sales")["rows_written"] == 5

    read_files: list[str] = []
    original = IngestTransform.read_file

    def spy(self, path, lake, **kwargs):
        read_files.append(lake.relative(getattr(path, "path", path)))
        return original(self, path, lake, **kwargs)

    monkeypatch.setattr(IngestTransform, "read_file", spy)
    p.landing("sales/5.csv", csv("order_id,qty", "5,1"))
    second = run("bronze.sales")
    assert read_files == ["landing/sales/5.csv"]  # the old files are listed, never opened
    assert second["files"] == ["landing/sales/5.csv"] and second["files_skipped"] == 5

    read_files.clear()
    third = run("bronze.sales")
    assert third["status"] == "unchanged" and third["rows_written"] == 0 and read_files == []
    assert third["version"] == 1 == p.version("bronze.sales")
    assert counts_by_file(p) == {f"landing/sales/{i}.csv": 1 for i in range(6)}


def test_glob_source_and_full_refresh(lake_project):
    p = lake_project
    p.write("bronze/events.yaml", "source: landing/events/*.csv\nformat: csv\n")
    p.landing("events/a.csv", "id\n1\n")
    p.landing("events/b.txt", "id\n2\n")
    p.landing("events/sub/c.csv", "id\n3\n")
    assert run("bronze.events")["files"] == ["landing/events/a.csv"]
    p.landing("events/d.csv", "id\n4\n")
    rebuilt = run("bronze.events", full_refresh=True)  # every landing file again, the table rebuilt
    assert rebuilt["files"] == ["landing/events/a.csv", "landing/events/d.csv"] and rebuilt["version"] == 1
    assert sorted(p.read("bronze.events")["id"].to_list()) == [1, 4]
    assert run("bronze.events")["status"] == "unchanged"


# -- formats and reader options ---------------------------------------------------------------------
def _xlsx(df: pl.DataFrame, sheet: str) -> bytes:
    buf = io.BytesIO()
    df.write_excel(buf, worksheet=sheet)
    return buf.getvalue()


def test_every_format_and_reader_options(lake_project):
    p = lake_project
    p.write("bronze/semi.yaml", """
        source: landing/semi/
        format: csv
        separator: ";"
        encoding: latin-1
        columns:
          - {name: day, type: date}
          - {name: amount, type: "decimal(10,2)"}
          - {name: ok, type: bool}
    """)
    p.landing("semi/a.csv", "day;city;amount;ok\n2024-01-02;Zürich;12.50;yes\n2024-01-03;Genève;3;false\n".encode("latin-1"))
    p.write("bronze/nohead.yaml", "source: landing/nohead/\nformat: csv\nheader: false\ndtypes: {column_1: string}\n")
    p.landing("nohead/a.csv", "1,007\n2,008\n")
    p.write("bronze/js.yaml", "source: landing/js/\nformat: json\n")
    p.landing("js/a.json", json.dumps([{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]))
    p.write("bronze/nd.yaml", "source: landing/nd/\nformat: ndjson\n")
    p.landing("nd/a.ndjson", '{"id": 1, "v": 0.5}\n{"id": 2, "v": null}\n')
    p.landing("nd/b.jsonl", '{"id": 3, "v": 1.5}\n')
    p.write("bronze/pq.yaml", "source: landing/pq/\nformat: parquet\n")
    buf = io.BytesIO()
    pl.DataFrame({"id": [1, 2], "when": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]}).write_parquet(buf)
    p.landing("pq/a.parquet", buf.getvalue())
    p.write("bronze/gz.yaml", "source: landing/gz/\nformat: csv\n")
    p.landing("gz/a.csv.gz", gzip.compress(b"id,v\n1,x\n2,y\n"))
    p.write("bronze/xl.yaml", "source: landing/xl/\nformat: xlsx\nsheet: orders\n")
    p.landing("xl/a.xlsx", _xlsx(pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}), "orders"))

    result = run("*")
    assert result["status"] == "success"
    assert all(r["rejected"] == [] for r in result.results), [r["rejected"] for r in result.results]

    semi = p.read("bronze.semi").sort("day")
    assert semi.schema["day"] == pl.Date and semi.schema["amount"] == pl.Decimal(10, 2)
    assert semi["city"].to_list() == ["Zürich", "Genève"] and semi["ok"].to_list() == [True, False]
    assert [str(v) for v in semi["amount"]] == ["12.50", "3.00"]
    nohead = p.read("bronze.nohead").sort("column_0")
    assert nohead["column_1"].to_list() == ["007", "008"]
    js = p.read("bronze.js").sort("id")
    assert js["tags"].to_list() == [["x"], []]
    nd = p.read("bronze.nd").sort("id")
    assert nd["v"].to_list() == [0.5, None, 1.5] and nd["_source_file"].n_unique() == 2
    pq = p.read("bronze.pq").sort("id")
    assert pq.schema["when"] == pl.Datetime("us") and pq["id"].to_list() == [1, 2]
    assert p.read("bronze.gz").sort("id")["v"].to_list() == ["x", "y"]
    xl = p.read("bronze.xl").sort("id")
    assert xl["name"].to_list() == ["a", "b", "c"] and xl["_source_file"][0] == "landing/xl/a.xlsx"


def test_unreadable_files_of_every_format_are_rejected(lake_project):
    p = lake_project
    buf = io.BytesIO()
    pl.DataFrame({"id": [1]}).write_parquet(buf)
    cases = {
        "parquet": ("a.parquet", buf.getvalue(), "b.parquet", b"not a parquet file"),
        "json": ("a.json", b'[{"id": 1}]', "b.json", b'[{"id": 1},'),
        "ndjson": ("a.ndjson", b'{"id": 1}\n', "b.ndjson", b'{"id": 1}\n{"id": \n'),
        "excel": ("a.xlsx", _xlsx(pl.DataFrame({"id": [1]}), "Sheet1"), "b.xlsx", b"PK\x03\x04 broken zip"),
    }
    for fmt, (good, good_bytes, bad, bad_bytes) in cases.items():
        p.write(f"bronze/{fmt}.yaml", f"source: landing/{fmt}/\nformat: {fmt}\n")
        p.landing(f"{fmt}/{good}", good_bytes)
        p.landing(f"{fmt}/{bad}", bad_bytes)
    result = run("*")
    for r in result.results:
        fmt = r["table"].split(".")[1]
        assert r["files"] == [f"landing/{fmt}/{cases[fmt][0]}"], r
        assert [x["file"] for x in r["rejected"]] == [f"landing/{fmt}/{cases[fmt][2]}"], r
        assert r["rejected"][0]["reason"] and p.read(r["table"])["id"].to_list() == [1]
    assert {f for f in p.files("landing/") if "_rejected" in f and not f.endswith(".reason.txt")} == {
        f"landing/_rejected/{fmt}/{c[2]}" for fmt, c in cases.items()}


def test_ingest_config_mistakes_name_the_file(rat_project):
    from ratatouille import ConfigError

    p = rat_project
    for text, message in [
        ("source: landing/x/\nformat: xml\n", "format must be one of"),
        ("source: landing/x/\nformat: csv\nencoding: klingon\n", "unknown encoding 'klingon'"),
        ("source: landing/x/\nformat: xlsx\nsheet: 0\n", "1-based sheet number"),
        ("source: landing/x/\nformat: csv\non_change: sometimes\n", "on_change must be one of"),
        ("source: landing/x/\nformat: csv\ncolumns:\n  - {name: _source_file}\n", "added by ingestion"),
        ("source: landing/x/\nformat: csv\ncolumns:\n  - {name: a, type: int99}\n", "unknown column type"),
        ("source: landing/x/\n", "format: is required"),
    ]:
        p.write("bronze/x.yaml", text)
        with pytest.raises(ConfigError, match=message) as info:
            run("bronze.x")
        assert info.value.file.endswith("bronze/x.yaml"), text


# -- changed files ------------------------------------------------------------------------------------
def test_changed_file_is_ignored_with_a_warning_by_default(lake_project, caplog):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.landing("sales/a.csv", csv("order_id,qty", "1,1", "2,2"))
    p.landing("sales/b.csv", csv("order_id,qty", "3,3"))
    run("bronze.sales")
    p.landing("sales/a.csv", csv("order_id,qty", "1,10", "2,20", "9,90"))  # same name, new content
    with caplog.at_level(logging.WARNING, logger="ratatouille"):
        result = run("bronze.sales")
    assert result["status"] == "unchanged" and result["changed"] == ["landing/sales/a.csv"]
    assert "changed since they were ingested" in caplog.text and "landing/sales/a.csv" in caplog.text
    assert counts_by_file(p) == {"landing/sales/a.csv": 2, "landing/sales/b.csv": 1}
    assert p.version("bronze.sales") == 0


def test_changed_file_is_reingested_in_one_commit(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML + "on_change: reingest\n")
    p.landing("sales/a.csv", csv("order_id,qty", "1,1", "2,2"))
    p.landing("sales/b.csv", csv("order_id,qty", "3,3"))
    run("bronze.sales")
    p.landing("sales/a.csv", csv("order_id,qty", "1,10", "2,20", "9,90"))
    p.landing("sales/c.csv", csv("order_id,qty", "4,4"))
    result = run("bronze.sales")
    assert result["reingested"] == ["landing/sales/a.csv"]
    assert result["files"] == ["landing/sales/a.csv", "landing/sales/c.csv"]
    assert result["version"] == 1 == p.version("bronze.sales")  # delete + insert: one commit
    df = p.read("bronze.sales").sort("order_id")
    assert df.select("order_id", "qty").rows() == [(1, 10), (2, 20), (3, 3), (4, 4), (9, 90)]
    assert counts_by_file(p) == {"landing/sales/a.csv": 3, "landing/sales/b.csv": 1, "landing/sales/c.csv": 1}
    assert run("bronze.sales")["status"] == "unchanged"  # the new fingerprint is recorded


def test_ingested_set_survives_log_cleanup(lake_project):
    """The files and fingerprints live in the table's columns, not only in commit metadata:
    after a checkpoint and a log cleanup, nothing is ingested twice and changes are still seen."""
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    for i in range(3):
        p.landing(f"sales/{i}.csv", csv("order_id,qty", f"{i},1"))
        run("bronze.sales")
    table = p.table("bronze.sales")
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()
    history = p.table("bronze.sales").history()
    assert min(h["version"] for h in history) >= 3  # the early commits (and their metadata) are gone
    assert run("bronze.sales")["status"] == "unchanged"
    p.landing("sales/0.csv", csv("order_id,qty", "0,1", "100,1"))
    assert run("bronze.sales")["changed"] == ["landing/sales/0.csv"]
    assert counts_by_file(p) == {f"landing/sales/{i}.csv": 1 for i in range(3)}


# -- bad files ----------------------------------------------------------------------------------------
BAD_FILES = {
    "quoting.csv": ("order_id,name\n1,\"unterminated\n2,x\n", "could not parse"),
    "columns.csv": ("order_id,name\n1,a,surplus\n", "more fields"),
    "encoding.csv": (b"order_id,name\n1,caf\xe9\n", "utf-8"),
    "empty.csv": (b"", "empty file"),
    "header_only.csv": ("order_id,name\n", "no data rows"),
    "cast.csv": ("order_id,name\nx,a\n", "cannot be cast to Int64"),
}


def _land_good_and_bad(p) -> None:
    p.landing("sales/good1.csv", csv("order_id,name", "1,a", "2,b"))
    p.landing("sales/good2.csv", csv("order_id,name", "3,c"))
    for name, (content, _) in BAD_FILES.items():
        p.landing(f"sales/{name}", content)


def test_bad_files_are_rejected_and_moved_while_good_ones_land(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    _land_good_and_bad(p)
    result = run("bronze.sales")
    assert result["status"] == "success" and result["rows_written"] == 3
    assert result["files"] == ["landing/sales/good1.csv", "landing/sales/good2.csv"]
    reasons = {r["file"]: r["reason"] for r in result["rejected"]}
    assert set(reasons) == {f"landing/sales/{n}" for n in BAD_FILES}
    for name, (_, expected) in BAD_FILES.items():
        assert expected in reasons[f"landing/sales/{name}"], (name, reasons[f"landing/sales/{name}"])
    assert all(r["moved_to"] == "landing/_rejected/sales/" + r["file"].rsplit("/", 1)[1] for r in result["rejected"])
    files = p.files("landing/")
    assert [f for f in files if f.startswith("landing/sales/")] == ["landing/sales/good1.csv", "landing/sales/good2.csv"]
    for name, (_, expected) in BAD_FILES.items():
        assert f"landing/_rejected/sales/{name}" in files
        assert expected in p.read_text(f"landing/_rejected/sales/{name}.reason.txt")
    assert counts_by_file(p) == {"landing/sales/good1.csv": 2, "landing/sales/good2.csv": 1}
    again = run("bronze.sales")
    assert again["status"] == "unchanged" and again["rejected"] == []
    assert tools.ls("landing/sales/") == [p.lake + "/landing/sales/good1.csv", p.lake + "/landing/sales/good2.csv"]


def test_on_error_skip_leaves_bad_files_in_place(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML + "on_error: skip\n")
    _land_good_and_bad(p)
    result = run("bronze.sales")
    assert result["rows_written"] == 3 and len(result["rejected"]) == len(BAD_FILES)
    assert not any("_rejected" in f for f in p.files("landing/"))
    again = run("bronze.sales")  # still there, still reported, nothing written
    assert again["status"] == "unchanged" and len(again["rejected"]) == len(BAD_FILES)


def test_on_error_fail_writes_nothing(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML + "on_error: fail\n")
    p.landing("sales/good1.csv", csv("order_id,name", "1,a"))
    run("bronze.sales")
    p.landing("sales/good2.csv", csv("order_id,name", "2,b"))
    p.landing("sales/cast.csv", "order_id,name\nx,a\n")
    with pytest.raises(IngestError, match=r"landing/sales/cast\.csv.*cannot be cast") as info:
        run("bronze.sales")
    assert info.value.transform == "bronze.sales" and info.value.file.endswith("bronze/sales.yaml")
    assert p.version("bronze.sales") == 0 and p.read("bronze.sales").height == 1
    assert "landing/sales/cast.csv" in p.files("landing/")


def test_failed_check_writes_nothing_and_moves_nothing(lake_project):
    from ratatouille import CheckError

    p = lake_project
    # a check over the run's files as a whole (each file alone passes; a file failing a check on its
    # own rows is rejected and the others land: tests/test_ingest_stage.py)
    p.write("bronze/sales.yaml", SALES_YAML.replace("[not_null]", "[not_null, unique]"))
    p.landing("sales/a.csv", csv("order_id,name", "1,a"))
    p.landing("sales/dup.csv", csv("order_id,name", "1,b"))  # unique fails across files: the whole run stops
    p.landing("sales/bad.csv", b"")
    with pytest.raises(CheckError):
        run("bronze.sales")
    assert p.version("bronze.sales") is None
    assert "landing/sales/bad.csv" in p.files("landing/")  # nothing moved either


# -- schema policy -------------------------------------------------------------------------------------
def test_schema_evolve_adds_new_columns_as_nullable(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.landing("sales/a.csv", csv("order_id,name", "1,a"))
    run("bronze.sales")
    p.landing("sales/b.csv", csv("order_id,name,channel", "2,b,web"))
    p.landing("sales/c.csv", csv("order_id", "3"))  # a missing column is null
    result = run("bronze.sales")
    assert result["rejected"] == [] and result["rows_written"] == 2
    df = p.read("bronze.sales").sort("order_id")
    assert df.select("order_id", "name", "channel").rows() == [(1, "a", None), (2, "b", "web"), (3, None, None)]


def test_schema_strict_rejects_drift_with_a_clear_reason(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML + "schema: strict\n")
    p.landing("sales/a.csv", csv("order_id,name", "1,a"))
    run("bronze.sales")
    p.landing("sales/b.csv", csv("order_id,name,channel", "2,b,web"))
    p.landing("sales/c.csv", csv("order_id", "3"))
    p.landing("sales/d.csv", csv("order_id,name", "4,d"))
    result = run("bronze.sales")
    reasons = {r["file"]: r["reason"] for r in result["rejected"]}
    assert reasons == {
        "landing/sales/b.csv": "schema drift (schema: strict): new column(s) ['channel']",
        "landing/sales/c.csv": "schema drift (schema: strict): missing column(s) ['name']",
    }
    assert result["files"] == ["landing/sales/d.csv"]
    assert "channel" not in p.read("bronze.sales").columns

    p.write("bronze/sales.yaml", SALES_YAML + "schema: strict\non_error: fail\n")
    p.landing("sales/e.csv", csv("order_id,name,extra", "5,e,x"))
    with pytest.raises(IngestError, match="schema drift"):
        run("bronze.sales")
    assert p.version("bronze.sales") == 1


def test_value_that_wont_cast_to_the_existing_type_rejects_the_file(lake_project):
    p = lake_project
    p.write("bronze/t.yaml", "source: landing/t/\nformat: csv\n")  # no declared types: the table's win
    p.landing("t/a.csv", csv("id,zip", "1,01234"))
    run("bronze.t")
    assert p.read("bronze.t")["zip"].to_list() == [1234]  # inferred as an integer the first time
    p.landing("t/b.csv", csv("id,zip", "2,AB-12"))
    p.landing("t/c.csv", csv("id,zip", "3,555"))
    result = run("bronze.t")
    assert [r["file"] for r in result["rejected"]] == ["landing/t/b.csv"]
    assert "column 'zip' cannot be cast to Int64 (value 'AB-12')" in result["rejected"][0]["reason"]
    assert sorted(p.read("bronze.t")["id"].to_list()) == [1, 3]


# -- concurrency ----------------------------------------------------------------------------------------
def test_a_concurrent_commit_makes_the_slower_run_fail_not_duplicate(lake_project):
    """Two runs that read the same ingested set: the second commit is refused (Delta app
    transaction conflict) instead of ingesting the same files twice."""
    from ratatouille.discover import Project
    from ratatouille.transforms import BuildContext

    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.landing("sales/a.csv", csv("order_id", "1"))
    run("bronze.sales")
    p.landing("sales/b.csv", csv("order_id", "2"))

    project = Project.load(p.root)
    t = project.transforms["bronze.sales"]
    target = project.target("bronze.sales")
    stale = target.open()
    ctx = BuildContext(inputs={}, extra={"lake": project.lake, "table": stale})
    data = t.build(ctx).collect()
    plan = ctx.extra["ingest"]
    assert plan.files == ["landing/sales/b.csv"]

    assert run("bronze.sales")["files"] == ["landing/sales/b.csv"]  # the other run wins
    with pytest.raises(IngestError, match="another run committed"):
        t.writer(plan).write(target, data)
    assert counts_by_file(p) == {"landing/sales/a.csv": 1, "landing/sales/b.csv": 1}
    assert p.version("bronze.sales") == 1


# -- file names, sources and options that once went wrong -------------------------------------------
def test_file_names_with_glob_characters_are_read_and_moved_as_named(lake_project):
    """'a[1].csv' is that file, not a glob matching 'a1.csv'; a bad one moves aside under its own name."""
    p = lake_project
    p.write("bronze/s.yaml", "source: landing/s/\nformat: csv\n")
    p.write("bronze/n.yaml", "source: landing/n/\nformat: ndjson\n")
    p.landing("s/a[1].csv", csv("id", "1"))
    p.landing("s/a1.csv", csv("id", "100"))
    p.landing("s/b[2] ü.csv", csv("id", "x,y,z", "2"))  # malformed: three fields where one is expected
    p.landing("n/c[3].ndjson", '{"id": 3}\n')
    p.landing("n/c3.ndjson", '{"id": 33}\n')
    results = {r["table"]: r for r in run("*").results}
    s = results["bronze.s"]
    assert counts_by_file(p, "bronze.s") == {"landing/s/a1.csv": 1, "landing/s/a[1].csv": 1}
    assert p.read("bronze.s").filter(pl.col("_source_file") == "landing/s/a[1].csv")["id"].to_list() == [1]
    assert [r["file"] for r in s["rejected"]] == ["landing/s/b[2] ü.csv"]
    assert s["rejected"][0]["moved_to"] == "landing/_rejected/s/b[2] ü.csv"
    assert "landing/_rejected/s/b[2] ü.csv" in p.files("landing/")
    assert "landing/s/b[2] ü.csv" not in p.files("landing/")
    assert p.read("bronze.n").sort("id")["id"].to_list() == [3, 33]


def test_tsv_files_are_tab_separated(lake_project):
    p = lake_project
    p.write("bronze/t.yaml", "source: landing/t/\nformat: csv\n")
    p.landing("t/a.tsv", "id\tname\n1\ta, b\n")
    p.landing("t/b.csv", "id,name\n2,c\n")
    run("bronze.t")
    assert p.read("bronze.t").sort("id")["name"].to_list() == ["a, b", "c"]


def test_compressed_csv_in_another_encoding(lake_project):
    p = lake_project
    p.write("bronze/b.yaml", "source: landing/b/\nformat: csv\nseparator: ';'\nencoding: latin-1\n")
    p.landing("b/b.csv.gz", gzip.compress("id;name\n3;naïve\n".encode("latin-1")))
    result = run("bronze.b")
    assert result["rejected"] == [] and p.read("bronze.b")["name"].to_list() == ["naïve"]


def test_decimal_comma_holds_on_later_runs(lake_project):
    p = lake_project
    p.write("bronze/d.yaml", "source: landing/d/\nformat: csv\nseparator: ';'\ndecimal_comma: true\n")
    p.landing("d/a.csv", csv("id;amount", "1;1,5"))
    run("bronze.d")
    p.landing("d/b.csv", csv("id;amount", "2;2,5"))
    second = run("bronze.d")
    assert second["rejected"] == [] and second["rows_written"] == 1
    assert p.read("bronze.d").sort("id")["amount"].to_list() == [1.5, 2.5]


def test_reader_option_mistakes_are_config_errors_and_move_nothing(rat_project):
    from ratatouille import ConfigError

    p = rat_project
    p.landing("x/a.csv", csv("id", "1"))
    for text in ("separator: ';;'", "quote_char: ''", "separator: 1"):
        p.write("bronze/x.yaml", f"source: landing/x/\nformat: csv\n{text}\n")
        with pytest.raises(ConfigError, match="single-byte character") as info:
            run("bronze.x")
        assert info.value.file.endswith("bronze/x.yaml")
    assert p.files("landing/") == ["landing/x/a.csv"]


def test_a_storage_failure_fails_the_run_and_rejects_nothing(rat_project, monkeypatch):
    from ratatouille import StorageError

    p = rat_project
    p.write("bronze/x.yaml", "source: landing/x/\nformat: csv\n")
    p.landing("x/a.csv", csv("id", "1"))
    real = pl.scan_csv

    def flaky(*args, **kwargs):  # what Polars raises when the object store times out
        raise pl.exceptions.ComputeError("object-store error: Generic S3 error: request timed out")

    monkeypatch.setattr(pl, "scan_csv", flaky)
    with pytest.raises(StorageError, match="reading landing/x/a.csv failed.*nothing was written or moved"):
        run("bronze.x")
    assert p.files("landing/") == ["landing/x/a.csv"] and p.version("bronze.x") is None
    monkeypatch.setattr(pl, "scan_csv", real)
    assert run("bronze.x")["files"] == ["landing/x/a.csv"]


def test_a_glob_of_any_name_keeps_its_format_and_shared_files_stay(lake_project):
    """'landing/m/*' with format csv takes only CSV files; a file another ingest transform also
    takes is reported as rejected but never moved away from it."""
    p = lake_project
    p.write("bronze/g.yaml", "source: landing/m/*\nformat: csv\n")
    p.write("bronze/j.yaml", "source: landing/m/\nformat: ndjson\n")
    p.landing("m/a.csv", csv("id", "1"))
    p.landing("m/b.ndjson", '{"id": 2}\n')
    p.write("bronze/a.yaml", "source: landing/sales/\nformat: csv\ncolumns:\n  - {name: amount, type: int64}\n")
    p.write("bronze/b.yaml", "source: landing/sales/eu/\nformat: csv\n")
    p.landing("sales/eu/x.csv", csv("amount", "1.5"))
    results = {r["table"]: r for r in run("*").results}
    assert results["bronze.g"]["files"] == ["landing/m/a.csv"] and results["bronze.g"]["rejected"] == []
    assert results["bronze.j"]["files"] == ["landing/m/b.ndjson"]
    assert [r["file"] for r in results["bronze.a"]["rejected"]] == ["landing/sales/eu/x.csv"]
    assert results["bronze.a"]["rejected"][0].get("moved_to") is None
    assert results["bronze.b"]["files"] == ["landing/sales/eu/x.csv"]
    assert p.read("bronze.b")["amount"].to_list() == [1.5]
    assert not any("_rejected" in f for f in p.files("landing/"))


def test_a_file_uri_lake_is_a_local_lake(rat_project, monkeypatch):
    p = rat_project
    monkeypatch.setenv("RAT_LAKE", "file://" + p.lake)
    p.write("bronze/x.yaml", "source: landing/x/\nformat: csv\n")
    p.landing("x/a.csv", csv("id", "1"))
    p.landing("x/bad.csv", csv("id", "1,2"))
    result = run("bronze.x")
    assert result["files"] == ["landing/x/a.csv"]
    assert result["rejected"][0]["moved_to"] == "landing/_rejected/x/bad.csv"
    assert p.read("bronze.x")["_source_file"].to_list() == ["landing/x/a.csv"]
