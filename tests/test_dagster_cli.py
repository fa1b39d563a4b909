"""Dagster from the command line: ``dagster asset materialize`` and ``rat dev`` (the UI), as subprocesses.

Each test works on a temporary copy of a project with ``DAGSTER_HOME`` in a
temporary folder; the UI listens on a free loopback port and is stopped by
process group at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

dg = pytest.importorskip("dagster")

REPO = Path(__file__).resolve().parents[1]
AUTO = ["bronze/sales", "silver/sales", "gold/sales_summary", "gold/daily_revenue"]
SEED = ["sales_bronze", "sales_silver", "sales_gold"]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), DAGSTER_DISABLE_TELEMETRY="1", RAT_SETTLE_SECONDS="0", **extra)
    return env


@pytest.mark.slow
def test_dagster_asset_materialize_cli_builds_the_sample(sample, tmp_path):
    home = tmp_path / "dagster_home"
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "ratatouille.definitions",
           "--select", ",".join(AUTO + SEED)]
    out = subprocess.run(cmd, cwd=sample, env=clean_env(home), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    from ratatouille import query

    counts = query("SELECT (SELECT COUNT(*) FROM bronze.sales) AS b, (SELECT COUNT(*) FROM silver.sales) AS s, "
                   "(SELECT COUNT(*) FROM gold.sales_summary) AS g", project_dir=str(sample))
    assert counts.row(0) == (10, 9, 9)

    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["silver", "sales"]))
        metadata = event.asset_materialization.metadata
        assert metadata["dagster/row_count"].value == 9
        assert metadata["delta_version"].value == 0
        assert metadata["mode"].value == "merge"
        assert metadata["dagster/uri"].value == str(sample / "lake" / "silver" / "sales")
        seed = instance.get_latest_materialization_event(dg.AssetKey("sales_silver"))
        assert seed.asset_materialization.metadata["row_count"].value == 9
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(["silver", "sales"]), "total_matches_quantity")])
        assert list(checks.values())[0].status.value == "SUCCEEDED"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.mark.slow
def test_rat_dev_serves_the_ui_for_a_workspace(rat_project, tmp_path):
    rat_project.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\n")
    rat_project.write("silver/orders.sql", "SELECT * FROM bronze.orders")
    rat_project.write("silver/mine.sql", "SELECT * FROM silver.orders", workspace="alice")  # only in alice
    home = tmp_path / "dagster_home"
    port = _free_port()
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "ratatouille", "dev", "-w", "alice", "--port", str(port),
                             "--host", "127.0.0.1"],
                            cwd=rat_project.root, env=clean_env(home), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    keys: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                keys = {"/".join(n["assetKey"]["path"]) for n in (data.get("data") or {}).get("assetNodes") or []}
                if keys:
                    break
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(1)
        assert keys == {"bronze/orders", "silver/orders", "silver/mine"}, (tmp_path / "dev.log").read_text()[-3000:]
        jobs = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
                              "jobs { name } sensors { name } } } } }")
        repo = jobs["data"]["repositoriesOrError"]["nodes"][0]
        assert {"bronze_job", "silver_job"} <= {j["name"] for j in repo["jobs"]}
        assert {s["name"] for s in repo["sensors"]} == {"bronze__orders_sensor"}
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # the process group this test started (rat dev -> dagster dev)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_rat_dev_check_builds_the_definitions(sample, tmp_path):
    out = subprocess.run([sys.executable, "-m", "ratatouille", "dev", "--check"], cwd=sample,
                         env=clean_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "7 assets (4 transforms)" in out.stdout and "4 checks" in out.stdout and "4 jobs" in out.stdout
    assert "2 sensors" in out.stdout
    env = {k: v for k, v in clean_env(tmp_path / "home").items() if k != "DAGSTER_HOME"}
    out = subprocess.run([sys.executable, "-m", "ratatouille", "dev", "--check"], cwd=sample, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and not (sample / ".dagster_home").exists()  # a check leaves nothing behind

    (sample / "workspaces/default/pipelines/clash.py").write_text(
        "from dagster import asset\n\n@asset(key=['silver', 'sales'])\ndef shadow():\n    return 1\n")
    out = subprocess.run([sys.executable, "-m", "ratatouille", "dev", "--check"], cwd=sample,
                         env=clean_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "asset key 'silver/sales' is defined twice" in out.stderr and "clash.py" in out.stderr


def test_rat_dev_command_line():
    from ratatouille.cli._dev import DEFAULT_PORT, dagster_command

    assert DEFAULT_PORT == 3030
    cmd = dagster_command(REPO, host="127.0.0.1", port=DEFAULT_PORT)
    assert cmd[1:4] == ["-m", "dagster", "dev"] and "-m" not in cmd[4:]  # [tool.dagster] in pyproject.toml
    assert cmd[-4:] == ["--host", "127.0.0.1", "--port", "3030"]
