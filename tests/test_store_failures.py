"""Store failures (issue 12.5): ``store_failures: true`` per test (under ``config:`` as dbt writes it)
or project-wide (``[tool.ratatouille] store_failures = true``, ``rat test --store-failures``) keeps the
failing rows of the last run of a test in ``audit.<layer>_<name>__<test>``, replaced on each run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ratatouille import tools
from ratatouille.errors import CheckError, ConfigError


def test_a_test_with_store_failures_keeps_its_failing_rows_of_the_last_run(lake_project):
    p = lake_project
    p.write("silver/s.sql", "SELECT * FROM (VALUES (1, 'a'), (2, 'zz'), (3, 'zz')) AS t(id, code)\n")
    p.write("silver/s.yaml", """
        columns:
          - name: code
            tests:
              - accepted_values: {values: [a, b], config: {store_failures: true, severity: warn}}
              - not_null
    """)
    res = p.run("silver.s")
    check = next(c for c in res["checks"] if c["name"] == "accepted_values_code")
    assert check["failures_table"] == "audit.silver_s__accepted_values_code"
    stored = p.read("audit.silver_s__accepted_values_code")
    assert sorted(stored["id"].to_list()) == [2, 3]
    # replaced on each run: now one failing row
    p.write("silver/s.sql", "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'zz')) AS t(id, code)\n")
    p.run("silver.s")
    assert p.read("audit.silver_s__accepted_values_code")["id"].to_list() == [3]
    # a passing test leaves an empty table (the last run had no failure)
    p.write("silver/s.sql", "SELECT * FROM (VALUES (1, 'a')) AS t(id, code)\n")
    p.run("silver.s")
    assert p.read("audit.silver_s__accepted_values_code").height == 0
    assert p.version("audit.silver_s__not_null_code") is None  # not asked to store


def test_failing_rows_are_stored_even_when_the_error_check_blocks_the_write(rat_project):
    p = rat_project
    p.write("silver/e.sql", "SELECT * FROM (VALUES (1, 5), (2, -1)) AS t(id, v)\n")
    p.write("silver/e.yaml", """
        tests:
          - name: v_positive
            sql: SELECT * FROM {{ this }} WHERE v <= 0
            config: {store_failures: true}
    """)
    with pytest.raises(CheckError):
        p.run("silver.e")
    assert p.version("silver.e") is None
    assert p.read("audit.silver_e__v_positive")["id"].to_list() == [2]
    with pytest.raises(CheckError):
        p.run("silver.e", dry_run=True)  # a dry run writes nothing, audit tables included
    assert p.version("audit.silver_e__v_positive") == 0


def test_project_wide_setting_and_rat_test_store_failures(rat_project):
    p = rat_project
    p.write("silver/u.sql", "SELECT * FROM (VALUES (1), (1), (2)) AS t(id)\n")
    p.run("silver.u")
    p.write("silver/u.yaml", """
        columns:
          - name: id
            tests:
              - unique: {config: {severity: warn}}
              - not_null: {config: {store_failures: false}}
    """)
    report = tools.test("silver.u")  # project setting off: nothing stored
    assert report["status"] == "warned" and p.version("audit.silver_u__unique_id") is None
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    out = subprocess.run([sys.executable, "-m", "ratatouille", "test", "--store-failures"], cwd=p.root,
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    stored = p.read("audit.silver_u__unique_id")
    assert stored.to_dicts() == [{"id": 1, "n_records": 2}]  # an aggregate test stores what its query returns
    assert p.version("audit.silver_u__not_null_id") is None  # store_failures: false wins
    (p.root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "{p.lake}"\nstore_failures = true\n')
    p.write("silver/u.sql", "SELECT * FROM (VALUES (1), (1), (2), (2)) AS t(id)\n")
    p.run("silver.u")
    assert sorted(p.read("audit.silver_u__unique_id")["id"].to_list()) == [1, 2]


def test_store_failures_must_be_a_boolean(rat_project):
    p = rat_project
    p.write("silver/b.sql", "SELECT 1 AS id\n")
    path = p.write("silver/b.yaml", """
        columns:
          - name: id
            tests:
              - not_null: {config: {store_failures: maybe}}
    """)
    with pytest.raises(ConfigError) as err:
        p.run("silver.b")
    assert "store_failures" in str(err.value) and str(path) in str(err.value)
