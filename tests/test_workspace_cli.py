"""``rat workspace``, ``rat diff`` and ``rat promote`` on real Delta tables."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ratatouille import CheckError, WorkspaceError
from ratatouille.cli import app, main

from test_workspace import ALICE_SILVER, DAY1, GOLD, SILVER, SILVER_YAML, versions


@pytest.fixture
def project(rat_project):
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    rat_project.write("silver/sales.sql", SILVER)
    rat_project.write("silver/sales.yaml", SILVER_YAML)
    rat_project.write("gold/by_product.py", GOLD)
    rat_project.landing("sales/day1.csv", DAY1)
    rat_project.run("*")
    return rat_project


def rat(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def test_workspace_create_list_run_tables_diff_reset(project):
    out = rat("workspace", "create", "alice", "--pin", "-d", "Alice's sandbox")
    assert out.exit_code == 0, out.output
    assert "pinned 3 default tables" in out.output and "bronze.sales@v0" in out.output
    out = rat("workspace", "list", "--json")
    listed = {w["workspace"]: w for w in json.loads(out.output)}
    assert listed["alice"]["pinned"] and listed["alice"]["description"] == "Alice's sandbox"

    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    before = versions(project)
    assert rat("run", "-w", "alice", "silver.sales").exit_code == 0
    assert versions(project) == before
    out = rat("tables", "-w", "alice")
    assert out.exit_code == 0 and "own" in out.output and "default" in out.output
    out = rat("query", "-w", "alice", "SELECT COUNT(*) AS n FROM silver.sales JOIN bronze.sales USING (order_id)")
    assert out.exit_code == 0, out.output
    assert "workspace alice read: bronze.sales <- default v0 (pinned), silver.sales <- own v0" in out.stderr
    assert "read:" not in rat("query", "SELECT COUNT(*) AS n FROM silver.sales").stderr

    out = rat("diff", "-w", "alice", "silver.sales")
    assert out.exit_code == 0, out.output
    assert "1 added, 1 removed, 1 changed" in out.output and "+discount Float64" in out.output
    assert "changed (sample)" in out.output
    d = json.loads(rat("diff", "-w", "alice", "silver.sales", "--json").output)
    assert (d["added"], d["removed"], d["changed"], d["key"]) == (1, 1, 1, ["order_id"])
    assert d["samples"]["changed"] == [{"order_id": 4, "total__default": 15.0, "total__alice": 13.5}]
    assert rat("diff", "-w", "alice", "silver.sales", "--exit-code").exit_code == 1

    out = rat("workspace", "reset", "alice")
    assert out.exit_code == 0 and "dropped 1 table of alice: silver.sales" in out.output
    assert versions(project) == before
    assert project.version("silver.sales", "alice") is None


def test_promote_shows_the_diff_and_asks(project):
    assert rat("workspace", "create", "alice").exit_code == 0
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    project.run("silver.sales", workspace="alice")
    target = project.root / "workspaces/default/pipelines/silver/sales.sql"
    original = target.read_text()

    out = rat("promote", "-w", "alice", "silver.sales", input="n\n")
    assert out.exit_code == 1 and "not promoted" in out.output  # answered no
    assert "update workspaces/default/pipelines/silver/sales.sql" in out.output
    assert "+       CAST(CASE WHEN quantity >= 3" in out.output   # the file diff
    assert "1 added, 1 removed, 1 changed" in out.output          # the data diff
    assert "Promote silver.sales from alice into default?" in out.output
    assert target.read_text() == original

    out = rat("promote", "-w", "alice", "silver.sales", input="y\n")
    assert out.exit_code == 0, out.output
    assert "promoted silver.sales into default" in out.output and "rat run -f silver.sales+" in out.output
    assert target.read_text() == ALICE_SILVER.lstrip()

    out = rat("promote", "-w", "alice", "silver.sales", "--yes")
    assert out.exit_code == 0 and "nothing to promote" in out.output


def test_promote_refuses_failing_checks_and_errors_are_one_line(project, capsys):
    assert rat("workspace", "create", "alice").exit_code == 0
    project.write("silver/sales.sql", SILVER.replace("quantity * unit_price AS total", "-quantity * unit_price AS total"),
                  workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    out = rat("promote", "-w", "alice", "silver.sales", "--yes")
    assert isinstance(out.exception, CheckError) and "not promoted" in str(out.exception)
    assert "no_negative_total" in str(out.exception)

    assert main(["promote", "-w", "alice", "silver.sales", "--yes"]) == 1
    assert main(["diff", "-w", "bob", "silver.sales"]) == 1
    assert main(["workspace", "create", "Not-Valid"]) == 1
    err = capsys.readouterr().err
    assert "not promoted" in err and "Traceback" not in err
    assert "unknown workspace 'bob'; workspaces: alice, default" in err
    assert "invalid workspace name 'Not-Valid'" in err

    out = rat("diff", "silver.sales")
    assert isinstance(out.exception, WorkspaceError)


def test_rat_diff_exit_code_through_the_real_entry_point(project):
    """``rat`` is ``main()``: the exit code of ``--exit-code`` must survive it."""
    assert main(["workspace", "create", "alice"]) == 0
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    assert main(["run", "-w", "alice", "silver.sales"]) == 0
    assert main(["diff", "-w", "alice", "silver.sales", "--exit-code"]) == 1
    assert main(["diff", "-w", "alice", "bronze.sales", "--exit-code"]) != 0  # alice has no bronze.sales
    assert main(["diff", "-w", "alice", "silver.sales"]) == 0
