"""Dagster asset checks (issue 12.6): a check executed on its own runs `rat test`'s logic on the stored
table; a check that was not evaluated shows as not executed, never as passed; a failed check carries a
markdown sample of its failing rows. Checks are really executed (jobs in process and the dagster CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

dg = pytest.importorskip("dagster")

from ratatouille.dagster import build_definitions  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning, module="dagster")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

KEY = dg.AssetKey(["silver", "t"])


def _project(p) -> None:
    p.write("silver/t.sql", "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS v(id, code)\n")
    p.write("silver/t.yaml", """
        columns:
          - name: code
            tests:
              - accepted_values: {values: [a, b, c], config: {severity: error}}
        tests:
          - name: small_ids
            sql: SELECT * FROM {{ this }} WHERE id > 100
    """)


def _assets(defs):
    return [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.name.startswith("ratatouille")]


@pytest.mark.slow
def test_a_check_executed_alone_runs_on_the_stored_table(rat_project):
    p = rat_project
    _project(p)
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(_assets(build_definitions()), instance=instance).success
    version = p.version("silver.t")
    # the expectation changes after the table was built: only a check on the stored table can see it
    p.write("silver/t.yaml", """
        columns:
          - name: code
            tests:
              - accepted_values: {values: [a], config: {severity: error}}
        tests:
          - name: small_ids
            sql: SELECT * FROM {{ this }} WHERE id > 100
    """)
    defs = build_definitions()
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(dg.AssetCheckKey(KEY, "accepted_values_code")))
    result = dg.Definitions(assets=_assets(defs), jobs=[job]).get_job_def("one_check").execute_in_process(
        instance=instance, raise_on_error=False)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evals) == {"accepted_values_code"}  # only the selected check, executed
    check = evals["accepted_values_code"]
    assert not check.passed and check.metadata["failing_rows"].value == 2
    assert check.metadata["on"].value == "stored table"
    sample = check.metadata["failing_rows_sample"].value
    assert sample.startswith("| id") and "| b " in sample.replace("  ", " ") and "c" in sample
    assert not result.get_asset_materialization_events()  # nothing built
    assert p.version("silver.t") == version  # nothing written


@pytest.mark.slow
def test_checks_job_and_a_not_evaluated_check_is_not_passed(rat_project):
    p = rat_project
    p.write("bronze/ev.yaml", """
        source: landing/ev/
        format: csv
        columns:
          - name: id
            tests: [not_null]
    """)
    p.landing("ev/a.csv", "id,v\n1,2\n")
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions()
    first = dg.materialize(_assets(defs), instance=instance)
    assert {e.check_name: e.passed for e in first.get_asset_check_evaluations()} == {"schema": True}
    again = dg.materialize(_assets(defs), instance=instance)  # nothing new landed: nothing evaluated
    assert again.success and again.get_asset_check_evaluations() == []
    key = dg.AssetCheckKey(dg.AssetKey(["bronze", "ev"]), "schema")
    rec = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    assert rec.run_id == again.run_id and rec.status.value == "PLANNED"  # planned, never a result: not executed
    # a job of checks only runs them on the stored table
    job = dg.define_asset_job("checks", selection=dg.AssetSelection.all_asset_checks())
    result = dg.Definitions(assets=_assets(defs), jobs=[job]).get_job_def("checks").execute_in_process(
        instance=instance)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals["schema"].passed and evals["schema"].metadata["on"].value == "stored table"


@pytest.mark.slow
def test_dagster_cli_executes_a_job_of_checks_on_the_stored_tables(rat_project, tmp_path):
    p = rat_project
    _project(p)
    from ratatouille import run

    run("silver.t")
    (p.root / "pipelines").mkdir()
    (p.root / "pipelines" / "__init__.py").write_text(
        "import dagster as dg\n\n"
        "all_jobs = [dg.define_asset_job('checks', selection=dg.AssetSelection.all_asset_checks())]\n")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), DAGSTER_DISABLE_TELEMETRY="1")
    cmd = [sys.executable, "-m", "dagster", "job", "execute", "-m", "ratatouille.definitions",
           "-j", "checks"]
    out = subprocess.run(cmd, cwd=p.root, env=env, capture_output=True, text=True, timeout=300)  # noqa: S603
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        keys = [dg.AssetCheckKey(KEY, "accepted_values_code"), dg.AssetCheckKey(KEY, "small_ids")]
        records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
        assert {k.name: r.status.value for k, r in records.items()} == {"accepted_values_code": "SUCCEEDED",
                                                                        "small_ids": "SUCCEEDED"}
    assert p.version("silver.t") == 0
