"""Ingest streams for every format that has a scan (issue 13 item 3): CSV, NDJSON and Parquet needing
casts are scanned, cast lazily and sunk into the table; a file that turns out bad while it streams is
still reported with its file and line while the good files land; checks run on the scan; the first
ingest of a new table goes through the staged writer. Real Delta tables, the moto S3 server for the
``s3`` variant of ``lake_project``; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import polars as pl
import pytest

from ratatouille.transforms.ingest import IngestTransform

SALES = "source: landing/sales/\nformat: csv\ncolumns:\n  - {name: order_id, type: int64}\n"


def csv(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def _plan(p, name: str) -> tuple[pl.LazyFrame, dict]:
    """The ingest stage's frame for ``name`` (nothing written), and its build context's extra."""
    from ratatouille.discover import Project
    from ratatouille.transforms import BuildContext

    project = Project.load(p.root)
    t = project.transforms[name]
    extra = {"lake": project.lake, "table": None, "full_refresh": False}  # a new table
    return t.build(BuildContext(inputs={}, extra=extra)), extra


def _spy_reads(monkeypatch) -> list[tuple[str, bool]]:
    """Every ``IngestTransform.read_file`` call: (file, whether it was a scan of the pinned file)."""
    calls: list[tuple[str, bool]] = []
    original = IngestTransform.read_file

    def spy(self, path, lake, **kwargs):
        calls.append((lake.relative(getattr(path, "path", path)), kwargs.get("scan") is not None))
        return original(self, path, lake, **kwargs)

    monkeypatch.setattr(IngestTransform, "read_file", spy)
    return calls


def _orphans(p, name: str) -> list[str]:
    """Parquet files in a local table's folder that no commit references."""
    table = p.table(name)
    root = Path(table.table_uri.removeprefix("file://"))
    on_disk = {str(f.relative_to(root)) for f in root.rglob("*.parquet")}
    referenced = {str(Path(u.removeprefix("file://")).relative_to(root)) for u in table.file_uris()}
    return sorted(on_disk - referenced)


@pytest.mark.parametrize("fmt, body, scan", [
    ("csv", csv("order_id,amount,n", *(f"{i},{i}.5,{i}" for i in range(500))), "csv scan"),
    ("ndjson", "".join(f'{{"order_id": {i}, "amount": {i}.5, "n": {i}}}\n' for i in range(500)), "ndjson scan"),
])
def test_csv_and_ndjson_ingest_plans_are_scans(rat_project, fmt, body, scan):
    """The run's frame is a scan of each landing file (casts and bookkeeping columns as expressions),
    never a frame read into memory; the write lands the same rows and types."""
    p = rat_project
    p.write("bronze/sales.yaml", SALES.replace("format: csv", f"format: {fmt}")
            + "  - {name: amount, type: float64}\n  - {name: n, type: int32}\n")
    p.landing(f"sales/a.{fmt}", body)
    p.landing(f"sales/b.{fmt}", body)
    lf, extra = _plan(p, "bronze.sales")
    plan = lf.explain(optimized=False)
    assert plan.lower().count(scan) == 2 and "strict_cast(Int32)" in plan and "DF [" not in plan, plan
    assert extra["ingest"].rows_read == 1000
    extra["ingest"].pins.close()

    res = p.run("bronze.sales").results[0]
    assert res["status"] == "success" and res["rows_written"] == 1000
    df = p.read("bronze.sales")
    assert df.schema["order_id"] == pl.Int64 and df.schema["amount"] == pl.Float64 and df.schema["n"] == pl.Int32
    assert df.schema["_ingested_at"] == pl.Datetime("us") and df["_source_file"].n_unique() == 2
    assert sorted(df["order_id"].to_list()) == sorted(list(range(500)) * 2)


def test_bad_row_in_a_streamed_file_is_reported_with_file_and_line_while_good_files_land(lake_project,
                                                                                       monkeypatch):
    """A value that does not cast strictly, or a record Polars cannot parse, met while the files
    stream into the table: that file is rejected with its line, the good ones land in one commit,
    and the staged files of the failed attempt are never committed nor left behind."""
    p = lake_project
    p.write("bronze/sales.yaml", SALES)
    p.landing("sales/0-first.csv", csv("order_id,amount", "1,1.0"))
    assert p.run("bronze.sales").results[0]["rows_written"] == 1  # the table exists: known columns cast
    version = p.version("bronze.sales")

    rows = [f"{i},{i}.0" for i in range(2, 300)]
    p.landing("sales/1-good.csv", csv("order_id,amount", *rows))
    p.landing("sales/2-cast.csv", csv("order_id,amount", *rows[:150], "oops,1.0", *rows[150:]))
    p.landing("sales/3-ragged.csv", csv("order_id,amount", *rows[:10], "7,7.0,extra", *rows[10:]))
    p.landing("sales/4-good.csv", csv("order_id,amount", "1000,2.5"))
    calls = _spy_reads(monkeypatch)
    res = p.run("bronze.sales").results[0]
    assert res["status"] == "success"
    assert res["files"] == ["landing/sales/1-good.csv", "landing/sales/4-good.csv"]
    assert res["rows_written"] == len(rows) + 1
    rejected = {r["file"]: r for r in res["rejected"]}
    assert rejected["landing/sales/2-cast.csv"]["line"] == "line 152"  # the header, 150 rows, then it
    assert "oops" in rejected["landing/sales/2-cast.csv"]["reason"]
    assert rejected["landing/sales/3-ragged.csv"]["line"] == "line 12"
    assert p.version("bronze.sales") == version + 1  # one commit for the good files
    df = p.read("bronze.sales")
    assert df.height == 1 + len(rows) + 1 and df.schema["order_id"] == pl.Int64
    assert set(df["_source_file"].unique()) == {"landing/sales/0-first.csv", "landing/sales/1-good.csv",
                                                "landing/sales/4-good.csv"}
    # the good files were streamed: never read whole into memory
    assert ("landing/sales/1-good.csv", False) not in calls and ("landing/sales/1-good.csv", True) in calls
    if not p.lake.startswith("s3://"):
        assert _orphans(p, "bronze.sales") == []


def test_ndjson_value_that_does_not_cast_is_reported_with_its_line(lake_project):
    p = lake_project
    p.write("bronze/events.yaml", "source: landing/events/\nformat: ndjson\n"
            "columns:\n  - {name: id, type: int32}\n")
    p.landing("events/good.ndjson", '{"id": 1}\n{"id": 2}\n')
    p.landing("events/big.ndjson", '{"id": 3}\n{"id": 4}\n{"id": 99999999999}\n')
    res = p.run("bronze.events").results[0]
    assert res["files"] == ["landing/events/good.ndjson"] and res["rows_written"] == 2
    (bad,) = res["rejected"]
    assert bad["file"] == "landing/events/big.ndjson" and bad["line"] == "line 3"
    assert p.read("bronze.events").schema["id"] == pl.Int32


def test_all_new_files_bad_while_streaming_leaves_the_table_unchanged(rat_project):
    p = rat_project
    p.write("bronze/sales.yaml", SALES + "on_error: skip\n")
    p.landing("sales/a.csv", csv("order_id", "1"))
    p.run("bronze.sales")
    version = p.version("bronze.sales")
    p.landing("sales/b.csv", csv("order_id", "2", "3,4"))
    res = p.run("bronze.sales").results[0]
    assert res["status"] == "unchanged" and res["rejected"][0]["line"] == "line 3"
    assert p.version("bronze.sales") == version and p.read("bronze.sales").height == 1
    assert _orphans(p, "bronze.sales") == []


def test_casts_and_checks_apply_to_streamed_files(lake_project, monkeypatch):
    """Declared types are cast in the stream; the transform's checks run on the scan (a file failing
    one is rejected with the line of its first failing row); the good files are never read whole."""
    p = lake_project
    p.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\ncolumns:\n"
            "  - {name: order_id, type: int32, tests: [not_null]}\n"
            "  - {name: day, type: date}\n"
            "  - {name: paid, type: boolean}\n"
            "tests:\n  - name: positive\n    sql: SELECT * FROM {{ this }} WHERE order_id <= 0\n")
    p.landing("sales/good.csv", csv("order_id,day,paid", "1,2024-01-01,yes", "2,2024-01-02,no"))
    p.landing("sales/nulls.csv", csv("order_id,day,paid", "3,2024-01-03,yes", ",2024-01-04,no"))
    p.landing("sales/negative.csv", csv("order_id,day,paid", "4,2024-01-05,yes", "5,2024-01-05,y", "-6,2024-01-06,n"))
    calls = _spy_reads(monkeypatch)
    res = p.run("bronze.sales").results[0]
    assert res["files"] == ["landing/sales/good.csv"] and res["rows_written"] == 2
    rejected = {r["file"]: r for r in res["rejected"]}
    assert rejected["landing/sales/nulls.csv"]["line"] == "line 3"
    assert rejected["landing/sales/negative.csv"]["line"] == "line 4"
    assert "positive" in rejected["landing/sales/negative.csv"]["reason"]
    assert ("landing/sales/good.csv", False) not in calls  # checked on its scan
    df = p.read("bronze.sales")
    assert df.schema["order_id"] == pl.Int32 and df.schema["day"] == pl.Date and df.schema["paid"] == pl.Boolean
    assert df.sort("order_id")["paid"].to_list() == [True, False]
    assert any(c["name"] == "positive" and c["passed"] for c in res["checks"])  # the run's checks, on the staged rows


def test_first_ingest_of_a_new_table_goes_through_the_staged_writer(rat_project):
    """The first ingest creates the table from Polars' staged parquet files (not delta-rs' writer):
    the same rows and types, a naive ``_ingested_at`` with the ``timestampNtz`` feature; later
    appends keep working."""
    from deltalake import DeltaTable

    p = rat_project
    p.write("bronze/trips.yaml", "source: landing/trips/\nformat: parquet\n")
    buf = io.BytesIO()
    pl.DataFrame({"trip_id": list(range(1000)), "fare": [i / 2 for i in range(1000)],
                  "day": [dt.date(2024, 1, 1)] * 1000}).write_parquet(buf)
    p.landing("trips/day1.parquet", buf.getvalue())
    res = p.run("bronze.trips").results[0]
    assert res["status"] == "success" and res["rows_written"] == 1000
    table = p.table("bronze.trips")
    assert table.version() == 0
    history = table.history()[-1]
    assert history["operation"] == "CREATE TABLE"  # create_table_with_add_actions, not delta-rs' WRITE
    assert "timestampNtz" in (table.protocol().writer_features or [])
    df = p.read("bronze.trips")
    assert dict(df.schema) == {"trip_id": pl.Int64, "fare": pl.Float64, "day": pl.Date, "_source_file": pl.String,
                               "_source_fingerprint": pl.String, "_ingested_at": pl.Datetime("us")}
    assert df["trip_id"].sort().to_list() == list(range(1000)) and df["_ingested_at"].null_count() == 0
    add = pl.DataFrame(table.get_add_actions(flatten=True))
    assert add["num_records"].sum() == 1000  # statistics from the parquet footers

    # same as delta-rs' own writer would have made
    reference = Path(p.root) / "reference"
    df.write_delta(str(reference))
    assert DeltaTable(str(reference)).schema() == table.schema()

    buf = io.BytesIO()
    pl.DataFrame({"trip_id": [5000], "fare": [1.0], "day": [dt.date(2024, 1, 2)]}).write_parquet(buf)
    p.landing("trips/day2.parquet", buf.getvalue())
    assert p.run("bronze.trips").results[0]["rows_written"] == 1
    assert p.read("bronze.trips").height == 1001
    assert not [f for f in os.listdir(table.table_uri.removeprefix("file://")) if f.startswith("_stage")]


def test_staged_writer_creates_a_table_with_a_naive_timestamp():
    """The kind of the problem: a creating write with a timestamp without time zone is eligible for
    the staged writer, which lands the protocol delta-rs' writer would (the timestampNtz feature)."""
    import tempfile

    from deltalake import CommitProperties, DeltaTable

    from ratatouille.write import Target, fast_write, fast_write_eligible

    lf = pl.LazyFrame({"id": [1, 2], "at": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2, 3)]})
    with tempfile.TemporaryDirectory() as root:
        target = Target(uri=os.path.join(root, "t"))
        assert fast_write_eligible(lf, target, None, "error")
        out = fast_write(lf, target, None, "error", CommitProperties())
        assert out.version == 0 and out.rows_written == 2
        table = DeltaTable(target.uri)
        lf.collect().write_delta(os.path.join(root, "ref"))
        ref = DeltaTable(os.path.join(root, "ref"))
        assert table.protocol() == ref.protocol() and table.schema() == ref.schema()
        assert pl.read_delta(target.uri).sort("id").equals(lf.collect())


def _open_landing_files() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "/landing/" in target:
            out.append(target)
    return out


def test_a_run_that_stops_before_the_write_releases_the_streamed_files(rat_project):
    """``on_error: fail`` stops the run before the write: the landing files scanned so far are not
    left open (pinned) until the garbage collector finds the run's plan."""
    from ratatouille import CheckError

    p = rat_project
    p.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\non_error: fail\n"
            "columns:\n  - {name: order_id, type: int64, tests: [not_null]}\n")
    p.landing("sales/a.csv", csv("order_id", "1", "2"))
    p.landing("sales/b.csv", csv("order_id", "3", ""))
    with pytest.raises(CheckError, match="b.csv"):
        p.run("bronze.sales")
    assert not _open_landing_files()
    assert p.version("bronze.sales") is None
