"""Files in flight (issue 10.5): a landing file is ingested only once it is complete.

``settle_seconds`` (stable size and modification time), ``ready_marker`` (a folder
``_SUCCESS`` or a per-file suffix such as ``.done``), files reported as waiting, changed
files reported with what changed, ``on_change: reingest`` in one commit. Real files on a
local lake and on S3 (moto); a real writer process for the race.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest

from ratatouille import ConfigError, run

YAML = """
source: landing/pay/
format: csv
columns:
  - {name: id, type: int64}
  - {name: amount, type: float64}
"""


def _age(p, rel: str, seconds: float = 60) -> None:
    """Make a local landing file look written ``seconds`` ago (the settle time has passed)."""
    path = os.path.join(p.lake, "landing", rel)
    old = time.time() - seconds
    os.utime(path, (old, old))


def _settled(p, rel: str, settle: float) -> None:
    """Let the settle time pass for a landing file (local: backdate it; S3: wait)."""
    if p.lake.startswith("s3://"):
        time.sleep(settle + 0.3)
    else:
        _age(p, rel)


def test_file_still_being_written_never_lands_cut_off(lake_project):
    """The issue's case: half a file written, ingest runs, the rest is written. The cut-off
    content (2500.0 for 2500.75) never lands; the whole file lands on a later run."""
    p = lake_project
    settle = 3 if p.lake.startswith("s3://") else 1  # S3 stamps objects to the second
    p.write("bronze/pay.yaml", YAML + f"settle_seconds: {settle}\n")
    if p.lake.startswith("s3://"):  # an object appears whole, but a fresh one still waits the settle time
        p.landing("pay/a.csv", "id,amount\n1,2500.75\n2,10.5\n")
    else:
        path = os.path.join(p.lake, "landing", "pay", "a.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fh = open(path, "w")
        fh.write("id,amount\n1,2500")
        fh.flush()
    first = run("bronze.pay")
    assert first["status"] == "skipped" and first["files"] == []
    assert [w["file"] for w in first["waiting"]] == ["landing/pay/a.csv"]
    assert "settling" in first["waiting"][0]["reason"]
    assert p.version("bronze.pay") is None  # nothing landed, nothing recorded
    assert p.files("landing/") == ["landing/pay/a.csv"]  # not rejected, not moved
    if not p.lake.startswith("s3://"):
        fh.write(".75\n2,10.5\n")
        fh.close()
    _settled(p, "pay/a.csv", settle + 1)
    second = run("bronze.pay")
    assert second["status"] == "success" and second["files"] == ["landing/pay/a.csv"] and second["waiting"] == []
    assert p.read("bronze.pay").sort("id").select("id", "amount").rows() == [(1, 2500.75), (2, 10.5)]
    assert run("bronze.pay")["status"] == "unchanged"  # recorded once


def test_default_settle_time_applies_without_configuration(rat_project, monkeypatch):
    monkeypatch.delenv("RAT_SETTLE_SECONDS")
    p = rat_project
    p.write("bronze/pay.yaml", YAML)
    p.landing("pay/new.csv", "id,amount\n1,1.0\n")
    p.landing("pay/old.csv", "id,amount\n2,2.0\n")
    _age(p, "pay/old.csv")
    result = run("bronze.pay")
    assert result["files"] == ["landing/pay/old.csv"]
    assert [w["file"] for w in result["waiting"]] == ["landing/pay/new.csv"]
    assert "settle_seconds: 5" in result["waiting"][0]["reason"]
    monkeypatch.setenv("RAT_SETTLE_SECONDS", "0")  # the project-wide default, e.g. in CI
    assert run("bronze.pay")["files"] == ["landing/pay/new.csv"]


@pytest.mark.slow
def test_a_writer_process_appending_while_ingest_runs_never_lands_a_partial_file(rat_project):
    """A real writer process appends rows to a landing file while ingest runs again and again:
    no version of the table ever holds part of the file; once it is complete, all of it lands."""
    p = rat_project
    p.write("bronze/pay.yaml", YAML + "settle_seconds: 0.6\n")
    path = os.path.join(p.lake, "landing", "pay", "big.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = 40
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        with open({path!r}, "w") as fh:
            fh.write("id,amount\\n")
            for i in range({rows}):
                fh.write(f"{{i}},{{i}}.25\\n")
                fh.flush()
                time.sleep(0.05)
    """)])
    try:
        while writer.poll() is None:
            result = run("bronze.pay")
            assert result["files"] in ([], ["landing/pay/big.csv"])
            time.sleep(0.1)
    finally:
        writer.wait(timeout=60)
    _age(p, "pay/big.csv")
    run("bronze.pay")
    table = p.table("bronze.pay")
    for version in range(table.version() + 1):
        held = pl.read_delta(table.table_uri, version=version).height
        assert held in (0, rows), f"version {version} holds {held} of {rows} rows"
    assert p.read("bronze.pay").height == rows


def test_folder_marker_success(lake_project):
    p = lake_project
    p.write("bronze/pay.yaml", YAML + "settle_seconds: 0\nready_marker: _SUCCESS\n")
    p.landing("pay/day=1/part-0.csv", "id,amount\n1,1.0\n")
    p.landing("pay/day=1/part-1.csv", "id,amount\n2,2.0\n")
    first = run("bronze.pay")
    assert first["status"] == "skipped"
    assert sorted(w["file"] for w in first["waiting"]) == ["landing/pay/day=1/part-0.csv",
                                                           "landing/pay/day=1/part-1.csv"]
    assert "_SUCCESS" in first["waiting"][0]["reason"]
    p.landing("pay/day=1/_SUCCESS", "")
    second = run("bronze.pay")
    assert second["files"] == ["landing/pay/day=1/part-0.csv", "landing/pay/day=1/part-1.csv"]
    assert sorted(p.read("bronze.pay")["id"].to_list()) == [1, 2]  # the marker is not data


def test_per_file_marker_suffix(lake_project):
    p = lake_project
    p.write("bronze/pay.yaml", YAML + "settle_seconds: 0\nready_marker: .done\n")
    p.landing("pay/a.csv", "id,amount\n1,1.0\n")
    p.landing("pay/b.csv", "id,amount\n2,2.0\n")
    p.landing("pay/a.csv.done", "")
    first = run("bronze.pay")
    assert first["files"] == ["landing/pay/a.csv"]
    assert [w["file"] for w in first["waiting"]] == ["landing/pay/b.csv"]
    assert "landing/pay/b.csv.done" in first["waiting"][0]["reason"]
    p.landing("pay/b.csv.done", "")
    assert run("bronze.pay")["files"] == ["landing/pay/b.csv"]
    assert sorted(p.read("bronze.pay")["id"].to_list()) == [1, 2]


def test_changed_file_is_reported_with_what_changed(lake_project, caplog):
    p = lake_project
    p.write("bronze/pay.yaml", YAML)
    p.landing("pay/a.csv", "id,amount\n1,1.0\n")
    run("bronze.pay")
    p.landing("pay/a.csv", "id,amount\n1,1.0\n2,2.0\n")
    with caplog.at_level(logging.WARNING, logger="ratatouille"):
        result = run("bronze.pay")
    assert result["changed"] == ["landing/pay/a.csv"]
    [change] = result["changes"]
    assert change["file"] == "landing/pay/a.csv" and "size 16 -> 22" in change["what"]
    assert "landing/pay/a.csv (size 16 -> 22" in caplog.text


def test_reingest_replaces_the_rows_of_that_file_in_one_commit(lake_project):
    p = lake_project
    p.write("bronze/pay.yaml", YAML + "on_change: reingest\n")
    p.landing("pay/a.csv", "id,amount\n1,1.0\n2,2.0\n")
    p.landing("pay/b.csv", "id,amount\n3,3.0\n")
    run("bronze.pay")
    p.landing("pay/a.csv", "id,amount\n1,1.5\n")
    result = run("bronze.pay")
    assert result["reingested"] == ["landing/pay/a.csv"] and result["version"] == 1 == p.version("bronze.pay")
    assert "size" in result["changes"][0]["what"]
    assert p.read("bronze.pay").sort("id").select("id", "amount").rows() == [(1, 1.5), (3, 3.0)]
    ops = [h["operation"] for h in p.table("bronze.pay").history()]
    assert len(ops) == 2  # create + one replacing commit (delete old rows and insert new ones together)


@pytest.mark.parametrize("line", ["settle_seconds: -1", "settle_seconds: soon", "ready_marker: a/b"])
def test_bad_settle_settings_name_the_file(rat_project, line):
    p = rat_project
    path = p.write("bronze/pay.yaml", YAML + line + "\n")
    with pytest.raises(ConfigError) as info:
        run("bronze.pay")
    assert str(path) in str(info.value)


def test_gate_sees_a_file_that_changed_while_it_was_read(rat_project):
    """The second guard: after a file is read, its size and modification time must be the ones
    listed; a writer that appended meanwhile makes it wait instead of landing a cut."""
    from ratatouille.transforms._config import build_config
    from ratatouille.transforms._settle import Gate

    p = rat_project
    p.landing("pay/a.csv", "id,amount\n1,2500")
    _age(p, "pay/a.csv")
    lake = p.lake_handle
    [listed] = lake.files("landing/pay/")
    gate = Gate(build_config({"source": "landing/pay/", "format": "csv", "settle_seconds": 1}), lake)
    assert gate.waiting(listed) is None and gate.moved(listed) is None
    with open(os.path.join(p.lake, "landing", "pay", "a.csv"), "a") as fh:
        fh.write(".75\n")
    assert "changed while it was being read" in gate.moved(listed)


def test_downstream_of_an_ingest_whose_files_are_all_settling_is_skipped_not_failed(rat_project, monkeypatch):
    monkeypatch.setenv("RAT_SETTLE_SECONDS", "3600")  # every landing file is still "in flight"
    rat_project.landing("sales/a.csv", "id,amount\n1,2.5\n")
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    rat_project.write("silver/sales.sql", "SELECT id, amount FROM bronze.sales")
    result = rat_project.run("*")
    by_table = {r["table"]: r for r in result.results}
    assert by_table["bronze.sales"]["status"] == "skipped"
    assert by_table["silver.sales"]["status"] == "skipped"
    assert "bronze.sales has no table yet" in by_table["silver.sales"]["reason"]
    assert rat_project.table("silver.sales") is None
