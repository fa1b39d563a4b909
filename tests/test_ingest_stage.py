"""The ingest stage package (issue 14.2), its ledger (13.5), streaming (13.3) and bad files (12.4).

Real Delta tables in temporary lakes (local and the moto S3 server); nothing is mocked.
"""

from __future__ import annotations

import ast
import io
import json
import os
from pathlib import Path

import polars as pl
import pytest

from ratatouille.ingest import _ledger

PKG = Path(__file__).resolve().parents[1] / "ratatouille"

SALES_YAML = """
source: landing/sales/
format: csv
columns:
  - name: order_id
    type: int64
"""


def csv(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def open_landing_files() -> list[str]:
    """The landing files this process holds open."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "/landing/" in target:
            out.append(target)
    return out


def data_files(project, table: str) -> list[str]:
    """The parquet data files of a local table (its folder, not its log)."""
    root = Path(project.lake) / table.replace(".", "/")
    return [str(p) for p in root.rglob("*.parquet") if "_delta_log" not in p.parts]


def ledger_entries(table) -> list[dict]:
    """The ledger entry of every commit of ``table`` that carries one, newest first."""
    out = []
    for entry in table.history():
        raw = entry.get(_ledger.LEDGER_KEY)
        if raw is not None:
            out.append(_ledger._unpack(raw))
    return out


# -- 13.5: the ingested set is read from the log, not from the rows ------------------------------------
def test_incremental_ingest_reads_the_ledger_not_the_rows(rat_project):
    """Many files over many commits, then the table's data files are deleted from disk: the next
    run still knows every file it holds (from the log alone) and ingests only the new one."""
    p = rat_project
    p.write("bronze/sales.yaml", SALES_YAML)
    for day in range(3):  # one run with several files
        p.landing(f"sales/batch0_{day}.csv", csv("order_id,amount", f"{day},1.5"))
    assert p.run("bronze.sales").results[0]["rows_written"] == 3
    for run_no in range(1, _ledger.FULL_EVERY + 3):  # past a whole-set entry: deltas, then the whole set again
        p.landing(f"sales/run{run_no:02d}.csv", csv("order_id,amount", f"{100 + run_no},2.0"))
        res = p.run("bronze.sales").results[0]
        assert res["files"] == [f"landing/sales/run{run_no:02d}.csv"] and res["rows_written"] == 1
    entries = ledger_entries(p.table("bronze.sales"))
    assert entries[-1]["depth"] == 0 and len(entries[-1]["files"]) == 3  # the first commit: the whole set
    assert any(e["depth"] == 0 and len(e["files"]) > 3 for e in entries[:-1])  # a whole set written again
    assert max(e["depth"] for e in entries) == _ledger.FULL_EVERY - 1
    held = 3 + _ledger.FULL_EVERY + 2

    for path in data_files(p, "bronze.sales"):  # the old rows are gone: reading them would fail
        os.remove(path)
    p.landing("sales/last.csv", csv("order_id,amount", "999,9.0"))
    res = p.run("bronze.sales").results[0]
    assert res["status"] == "success"
    assert res["files"] == ["landing/sales/last.csv"] and res["rows_written"] == 1
    assert res["files_skipped"] == held
    state = _ledger.ingested_state(p.table("bronze.sales"))
    assert len(state) == held + 1 and "landing/sales/batch0_1.csv" in state


def test_table_without_ledger_is_scanned_once_then_read_from_the_ledger(rat_project):
    """A bronze table written before the ledger (rows with ``_source_file`` / ``_source_fingerprint``,
    no ledger in its log): the first run reads the rows, writes the whole set in its commit; the
    next run no longer reads the rows."""
    p = rat_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.landing("sales/a.csv", csv("order_id,amount", "1,1.0"))
    p.landing("sales/b.csv", csv("order_id,amount", "2,2.0"))
    lake = p.lake_handle
    files = {f.rel: f.fingerprint for f in lake.files("landing/sales/")}
    old = pl.DataFrame({"order_id": [1, 2], "amount": [1.0, 2.0],
                        "_source_file": ["landing/sales/a.csv", "landing/sales/b.csv"],
                        "_source_fingerprint": [f"{r}@{files[r]}" for r in ("landing/sales/a.csv", "landing/sales/b.csv")],
                        "_ingested_at": [None, None]}, schema_overrides={"_ingested_at": pl.Datetime("us")})
    old.write_delta(str(Path(p.lake) / "bronze" / "sales"))  # as an ingest before the ledger left it
    table = p.table("bronze.sales")
    assert _ledger.logged_state(table) is None  # no ledger: the rows say
    assert set(_ledger.ingested_state(table)) == {"landing/sales/a.csv", "landing/sales/b.csv"}

    p.landing("sales/c.csv", csv("order_id,amount", "3,3.0"))
    res = p.run("bronze.sales").results[0]
    assert res["files"] == ["landing/sales/c.csv"] and res["files_skipped"] == 2
    logged = _ledger.logged_state(p.table("bronze.sales"))
    assert logged is not None and logged.depth == 0
    assert set(logged.files) == {"landing/sales/a.csv", "landing/sales/b.csv", "landing/sales/c.csv"}

    for path in data_files(p, "bronze.sales"):
        os.remove(path)
    p.landing("sales/d.csv", csv("order_id,amount", "4,4.0"))
    res = p.run("bronze.sales").results[0]
    assert res["files"] == ["landing/sales/d.csv"] and res["files_skipped"] == 3


def test_ledger_follows_reingest_and_full_refresh(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML + "on_change: reingest\n")
    p.landing("sales/a.csv", csv("order_id,amount", "1,1.0"))
    p.landing("sales/b.csv", csv("order_id,amount", "2,2.0"))
    p.run("bronze.sales")
    p.landing("sales/a.csv", csv("order_id,amount", "1,1.0", "10,10.0"))  # changed in place
    res = p.run("bronze.sales").results[0]
    assert res["reingested"] == ["landing/sales/a.csv"]
    again = p.run("bronze.sales").results[0]  # the ledger holds a's new fingerprint: nothing to do
    assert again["status"] == "unchanged" and again["files_skipped"] == 2
    assert sorted(p.read("bronze.sales")["order_id"].to_list()) == [1, 2, 10]

    p.remove("landing/sales/b.csv")
    full = p.run("bronze.sales", full_refresh=True).results[0]
    assert full["files"] == ["landing/sales/a.csv"]
    state = _ledger.ingested_state(p.table("bronze.sales"))
    assert set(state) == {"landing/sales/a.csv"}  # the refresh's whole set: b's rows are gone
    p.landing("sales/b.csv", csv("order_id,amount", "2,2.0"))
    back = p.run("bronze.sales").results[0]
    assert back["files"] == ["landing/sales/b.csv"]


def test_commits_of_other_writers_between_ingests_keep_the_ledger(rat_project):
    """An OPTIMIZE (compaction) between two ingests: the set is still read from the log."""
    from deltalake import DeltaTable

    p = rat_project
    p.write("bronze/sales.yaml", SALES_YAML)
    for name in ("a", "b"):
        p.landing(f"sales/{name}.csv", csv("order_id,amount", "1,1.0"))
        p.run("bronze.sales")
    DeltaTable(str(Path(p.lake) / "bronze" / "sales")).optimize.compact()
    assert _ledger.logged_state(p.table("bronze.sales")) is not None
    p.landing("sales/c.csv", csv("order_id,amount", "3,3.0"))
    res = p.run("bronze.sales").results[0]
    assert res["files"] == ["landing/sales/c.csv"] and res["files_skipped"] == 2


# -- 14.2: the stage package ------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            out.add(("." * node.level) + node.module)
    return out


def test_ingest_is_a_stage_package_of_small_modules():
    pkg = PKG / "ingest"
    modules = {p.stem for p in pkg.glob("*.py")}
    assert {"_spec", "_landing", "_readers", "_conform", "_ledger", "_bad", "_check", "_stage"} <= modules
    for path in [*pkg.glob("*.py"), PKG / "transforms" / "ingest.py", PKG / "write" / "_ingest.py"]:
        assert len(path.read_text().splitlines()) <= 400, path
    for path in pkg.glob("*.py"):  # the stage never reaches back into the transform kind
        assert not any("transforms.ingest" in m or m == "..transforms" for m in _imports(path)), path
    from ratatouille.ingest import BadFile, cast_column
    from ratatouille.transforms.ingest import BadFile as Shimmed

    assert Shimmed is BadFile and cast_column.__module__ == "ratatouille.ingest._cast"


# -- 12.4: a bad landing file never blocks the others; its error names the file and the line ----------
CHECKED_YAML = """
source: landing/sales/
format: csv
columns:
  - name: order_id
    type: int64
    tests: [not_null]
  - name: qty
    type: int64
"""


def test_file_failing_a_check_is_rejected_with_its_line_and_the_good_files_land(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", CHECKED_YAML)
    p.landing("sales/a.csv", csv("order_id,qty", "1,1", "2,2"))
    p.landing("sales/nulls.csv", csv("order_id,qty", "3,3", "4,4", ",5"))  # line 4 fails not_null
    p.landing("sales/cast.csv", csv("order_id,qty", "6,6", "7,x"))  # line 3 does not cast
    res = p.run("bronze.sales").results[0]
    assert res["status"] == "success" and res["files"] == ["landing/sales/a.csv"] and res["rows_written"] == 2
    rejected = {r["file"]: r for r in res["rejected"]}
    assert set(rejected) == {"landing/sales/nulls.csv", "landing/sales/cast.csv"}
    nulls, cast = rejected["landing/sales/nulls.csv"], rejected["landing/sales/cast.csv"]
    assert nulls["line"] == "line 4" and nulls["reason"].startswith("line 4: check(s) failed")
    assert "order_id" in nulls["reason"]
    assert cast["line"] == "line 3" and "cannot be cast" in cast["reason"] and "'x'" in cast["reason"]
    assert sorted(p.read("bronze.sales")["order_id"].to_list()) == [1, 2]
    moved = p.files("landing/")
    assert "landing/_rejected/sales/nulls.csv" in moved and "landing/_rejected/sales/cast.csv" in moved
    assert "line 4" in p.read_text("landing/_rejected/sales/nulls.csv.reason.txt")


def test_ndjson_line_and_on_error_fail_names_transform_file_and_line(rat_project):
    from ratatouille import CheckError

    p = rat_project
    p.write("bronze/events.yaml", """
        source: landing/events/
        format: ndjson
        on_error: fail
        columns:
          - {name: id, type: int64, tests: [not_null]}
    """)
    p.landing("events/good.ndjson", '{"id": 1}\n')
    p.landing("events/bad.ndjson", '{"id": 2}\n{"id": 3}\n{"id": null}\n')
    with pytest.raises(CheckError) as info:
        p.run("bronze.events")
    err = info.value
    assert err.transform == "bronze.events" and err.file.endswith("bronze/events.yaml")
    assert "landing/events/bad.ndjson" in err.message and "line 3" in err.message
    assert err.checks and not err.checks[0]["passed"]
    assert p.version("bronze.events") is None  # on_error: fail writes nothing


# -- 13.3: ingest streams: scan, then sink -------------------------------------------------------------
def test_parquet_landing_file_is_scanned_and_streamed_into_the_table(rat_project):
    """The run's frame is a scan of the landing file with the bookkeeping columns as literals, not
    a frame read into memory; the write streams it; the pinned file is released afterwards."""
    from ratatouille.discover import Project
    from ratatouille.transforms import BuildContext

    p = rat_project
    p.write("bronze/trips.yaml", "source: landing/trips/\nformat: parquet\n")
    buf = io.BytesIO()
    pl.DataFrame({"trip_id": list(range(1000)), "fare": [float(i) for i in range(1000)]}).write_parquet(buf)
    p.landing("trips/day1.parquet", buf.getvalue())
    project = Project.load(p.root)
    t = project.transforms["bronze.trips"]
    extra = {"lake": project.lake, "table": None, "full_refresh": False}
    lf = t.build(BuildContext(inputs={}, extra=extra))
    plan = lf.explain(optimized=False)
    assert "Parquet SCAN" in plan and "DF [" not in plan  # read by the write, never held whole
    assert extra["ingest"].rows_read == 1000
    assert open_landing_files()  # pinned until the write is done
    extra["ingest"].pins.close()
    assert not open_landing_files()

    res = p.run("bronze.trips").results[0]
    assert res["rows_written"] == 1000 and res["files"] == ["landing/trips/day1.parquet"]
    assert not open_landing_files()  # the pinned landing file was closed after the write
    df = p.read("bronze.trips")
    assert df.height == 1000 and df["_source_file"].unique().to_list() == ["landing/trips/day1.parquet"]
    assert df["_source_fingerprint"].null_count() == 0 and df["_ingested_at"].null_count() == 0
    assert df.columns[:2] == ["trip_id", "fare"] and df.columns[-3:] == ["_source_file", "_source_fingerprint",
                                                                        "_ingested_at"]

    buf = io.BytesIO()
    pl.DataFrame({"trip_id": [5000], "fare": [1.0]}).write_parquet(buf)
    p.landing("trips/day2.parquet", buf.getvalue())
    again = p.run("bronze.trips").results[0]
    assert again["rows_written"] == 1 and again["files"] == ["landing/trips/day2.parquet"]
    assert p.read("bronze.trips").height == 1001


def test_streamed_parquet_with_a_value_to_cast_is_read_and_checked(lake_project):
    """A Parquet file whose column needs a cast (a value may not fit) is read value by value: the bad
    file is rejected with its row, the good one lands."""
    p = lake_project
    p.write("bronze/trips.yaml", "source: landing/trips/\nformat: parquet\ncolumns:\n  - {name: trip_id, type: int32}\n")
    for name, ids in (("good", [1, 2]), ("big", [3, 2**40])):
        buf = io.BytesIO()
        pl.DataFrame({"trip_id": ids}, schema={"trip_id": pl.Int64}).write_parquet(buf)
        p.landing(f"trips/{name}.parquet", buf.getvalue())
    res = p.run("bronze.trips").results[0]
    assert res["files"] == ["landing/trips/good.parquet"]
    (bad,) = res["rejected"]
    assert bad["file"] == "landing/trips/big.parquet" and bad["line"] == "row 2"


def test_unreadable_csv_names_the_line_of_its_first_bad_record(lake_project):
    p = lake_project
    p.write("bronze/sales.yaml", SALES_YAML)
    p.landing("sales/good.csv", csv("order_id,amount", "1,1.0"))
    p.landing("sales/ragged.csv", csv("order_id,amount", "2,2.0", "3,3.0", "4,4.0,extra", "5,5.0"))
    p.landing("sales/quote.csv", 'order_id,amount\n6,6.0\n"7,7.0\n')
    res = p.run("bronze.sales").results[0]
    assert res["files"] == ["landing/sales/good.csv"] and res["rows_written"] == 1
    rejected = {r["file"]: r for r in res["rejected"]}
    assert rejected["landing/sales/ragged.csv"]["line"] == "line 4"
    assert rejected["landing/sales/ragged.csv"]["reason"].startswith("line 4: ")
    assert rejected["landing/sales/quote.csv"]["line"] == "line 3"
