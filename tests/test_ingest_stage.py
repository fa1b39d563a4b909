"""The ingest stage package (issue 14.2), its ledger (13.5), streaming (13.3) and bad files (12.4).

Real Delta tables in temporary lakes (local and the moto S3 server); nothing is mocked.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import polars as pl

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
