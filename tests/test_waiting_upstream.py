"""A run whose ingest has only files still in flight skips what depends on it, instead of failing.

Found by following the README's Quick start on a fresh clone: ``git clone`` gives the sample's
landing files a modification time of "now", so a ``rat run --all`` within ``settle_seconds`` of the
clone reported them ``waiting`` (right: "the next run picks them up") but then *failed* silver with
"table bronze.sales has not been built yet: run it first" and exited 1. A transform whose upstream
has no table yet because nothing was ready to ingest is now ``skipped`` with that reason; the run
succeeds and the next run builds everything.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ratatouille.errors import TableNotFoundError

INGEST = """\
source: landing/pay/
format: csv
settle_seconds: {settle}
"""


def _project(p, settle: int) -> None:
    p.write("bronze/pay.yaml", INGEST.format(settle=settle))
    p.write("silver/pay.sql", "SELECT id, amount * 2 AS doubled FROM bronze.pay")
    p.write("gold/pay_total.sql", "SELECT SUM(doubled) AS total FROM silver.pay")
    p.landing("pay/a.csv", "id,amount\n1,10\n2,5\n")


def test_downstream_of_waiting_files_is_skipped_then_built(rat_project):
    _project(rat_project, settle=3600)  # the file was just written: still settling for an hour
    result = rat_project.run("*")
    by_table = {r["table"]: r for r in result.results}
    assert result["status"] == "skipped"
    assert by_table["bronze.pay"]["status"] == "skipped"
    assert [w["file"] for w in by_table["bronze.pay"]["waiting"]] == ["landing/pay/a.csv"]
    for name in ("silver.pay", "gold.pay_total"):
        assert by_table[name]["status"] == "skipped"
        assert by_table[name]["version"] is None
        assert "has no table yet" in by_table[name]["reason"]
        assert rat_project.version(name) is None  # nothing written anywhere

    _project(rat_project, settle=0)  # the file is complete now: the next run builds everything
    result = rat_project.run("*")
    assert [r["status"] for r in result.results] == ["success"] * 3
    assert rat_project.read("gold.pay_total")["total"].to_list() == [30]


def test_cli_run_all_exits_0_while_files_are_waiting(rat_project):
    _project(rat_project, settle=3600)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([p for p in sys.path if p])}
    proc = subprocess.run([sys.executable, "-m", "ratatouille", "run", "--all"], cwd=rat_project.root,
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "waiting landing/pay/a.csv" in " ".join(proc.stderr.split())
    assert "error" not in proc.stderr.lower()
    assert rat_project.version("silver.pay") is None


def test_a_table_that_is_really_missing_still_fails(rat_project):
    # only "nothing was ready to ingest in this run" skips: reading a table nobody built still fails
    rat_project.write("bronze/pay.yaml", INGEST.format(settle=0))
    rat_project.write("silver/pay.sql", "SELECT id FROM bronze.pay")
    with pytest.raises(TableNotFoundError, match="bronze.pay"):
        rat_project.run("silver.pay")
