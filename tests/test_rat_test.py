"""`rat test [SELECTION]` and `tools.test(...)` (issue 12.2): every check on the STORED tables, like
`dbt test`; exit 1 on an error-severity failure; --json; failing-row samples in the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ratatouille import tools


def rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    env["RAT_SETTLE_SECONDS"] = "0"
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.slow
def test_rat_test_sees_what_rat_check_missed_on_the_sample(sample):
    """The issue's case: drop gizmo from accepted_values; the stored silver.sales has 3 gizmo rows."""
    assert rat("run", "--all", cwd=sample).returncode == 0
    out = rat("test", cwd=sample)
    assert out.returncode == 0, out.stdout + out.stderr
    yaml_path = sample / "workspaces/default/pipelines/silver/sales.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("[widget, gadget, gizmo]", "[widget, gadget]"))
    out = rat("test", "silver.sales", cwd=sample)
    assert out.returncode == 1
    assert "isin" in out.stderr and "gizmo" in out.stderr  # the failing-row sample
    out = rat("test", "silver.sales", "--json", cwd=sample)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["status"] == "failed" and [t["table"] for t in report["tables"]] == ["silver.sales"]
    schema = next(c for c in report["tables"][0]["checks"] if c["name"] == "schema")
    failure = next(f for f in schema["failures"] if f["column"] == "product")
    assert failure["failing_rows"] == 3 and set(failure["examples"]) == {"gizmo"}
    assert report["tables"][0]["rows"] > 3
    assert report["tables"][0]["checks"][0]  # nothing was written by rat test
    from deltalake import DeltaTable

    before = DeltaTable(str(sample / "lake/silver/sales")).version()
    rat("test", cwd=sample)
    assert DeltaTable(str(sample / "lake/silver/sales")).version() == before


@pytest.fixture
def stored(rat_project):
    pl.DataFrame({"id": [1, 2, 2, None], "kind": ["a", "b", "z", "a"]}).write_delta(f"{rat_project.lake}/bronze/items")
    pl.DataFrame({"id": [1, 2]}).write_delta(f"{rat_project.lake}/bronze/refs")
    rat_project.write("silver/items.sql", "SELECT * FROM bronze.items")
    rat_project.write("silver/refs.sql", "SELECT * FROM bronze.refs")
    rat_project.run("*")
    return rat_project


def _tables(report):
    return {t["table"]: t for t in report["tables"]}


def test_tools_test_runs_every_check_on_the_stored_table(stored):
    """Checks added after the write are tested on what is stored (dbt test), nothing is written."""
    stored.write("silver/items.yaml", """
columns:
  - name: id
    tests:
      - unique
      - relationships: {to: silver.refs, field: id, config: {severity: warn}}
  - name: kind
    tests:
      - accepted_values: {values: [a, b]}
tests:
  - name: no_z
    sql: SELECT * FROM {{ this }} WHERE kind = 'z'
    severity: warn
""")
    version = stored.version("silver.items")
    report = tools.test("silver.items")
    assert stored.version("silver.items") == version
    assert report["status"] == "failed" and report["failed"] == 1 and report["warned"] == 1  # schema; no_z
    items = _tables(report)["silver.items"]
    assert items["rows"] == 4
    checks = {c["name"]: c for c in items["checks"]}
    assert {(f["column"], f["check"], f["failing_rows"]) for f in checks["schema"]["failures"]} == {
        ("id", "field_uniqueness", 2), ("kind", "isin(['a', 'b'])", 1)}
    assert checks["relationships_id"]["passed"]  # 1 and 2 are in silver.refs; the NULL is ignored
    assert checks["no_z"]["severity"] == "warn" and checks["no_z"]["failures"] == [{"id": 2, "kind": "z"}]


def test_tools_test_selection_and_warn_only(stored):
    stored.write("silver/items.yaml", "tests:\n  - name: no_z\n    sql: SELECT * FROM {{ this }} WHERE kind = 'z'\n"
                                      "    severity: warn\n")
    stored.write("silver/refs.yaml", "columns:\n  - name: id\n    tests: [not_null, unique]\n")
    report = tools.test("silver.refs")
    assert [t["table"] for t in report["tables"]] == ["silver.refs"] and report["status"] == "passed"
    report = tools.test()
    assert set(_tables(report)) == {"silver.items", "silver.refs"}
    assert report["status"] == "warned" and report["failed"] == 0 and report["warned"] == 1


def test_a_table_not_built_is_an_error_the_others_still_run(stored):
    stored.write("silver/later.sql", "SELECT * FROM silver.refs")
    stored.write("silver/refs.yaml", "columns:\n  - name: id\n    tests: [unique]\n")
    report = tools.test()
    tables = _tables(report)
    assert tables["silver.later"]["status"] == "failed" and "not been built" in tables["silver.later"]["error"]
    assert tables["silver.refs"]["status"] == "passed" and report["errors"] == 1 and report["status"] == "failed"


def test_rat_test_cli_exit_codes_and_json(stored):
    stored.write("silver/refs.yaml", "columns:\n  - name: id\n    tests: [not_null]\n")
    out = rat("test", "silver.refs", "--json", cwd=stored.root)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "passed"
    stored.write("silver/items.yaml", "columns:\n  - name: id\n    tests: [{not_null: {config: {severity: warn}}}]\n")
    out = rat("test", "silver.items", cwd=stored.root)
    assert out.returncode == 0, out.stderr  # a warning does not fail
    assert "not_null_id" in out.stderr and "'kind': 'a'" in out.stderr  # the failing row's sample
    stored.write("silver/items.yaml", "columns:\n  - name: id\n    tests: [not_null]\n")
    out = rat("test", "silver.items", cwd=stored.root)
    assert out.returncode == 1 and "not_nullable" in out.stderr
