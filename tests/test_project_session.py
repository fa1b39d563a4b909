"""The project session (issue 14.6): ``ratatouille.Project`` / ``ratatouille.project()`` loads a
project once and runs, queries, reads, diffs, promotes and tests on it; ``tools.*`` take
``project_dir=``; each CLI command loads the project once.

"Loaded once" is counted with a spy that wraps the real ``Project.load`` (every call goes through
to it); everything else is real: Delta tables in a temporary lake, real runs and promotions.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from test_workspace import ALICE_SILVER, DAY1, GOLD, SILVER, SILVER_YAML
from typer.testing import CliRunner

import ratatouille
from ratatouille import WorkspaceError, tools
from ratatouille.cli import app
from ratatouille.discover import Project as Loaded
from ratatouille.workspace import create_workspace


@pytest.fixture
def loads(monkeypatch):
    """Every workspace name ``Project.load`` is called with (the real load runs)."""
    calls: list[str | None] = []
    real = Loaded.load.__func__

    def spy(cls, project_dir=None, *, workspace=None):
        project = real(cls, project_dir, workspace=workspace)
        calls.append(project.workspace)
        return project

    monkeypatch.setattr(Loaded, "load", classmethod(spy))
    return calls


@pytest.fixture
def sales(rat_project, monkeypatch, tmp_path):
    """The sales pipeline written (not run) in default, a workspace ``alice``; the working
    directory is outside the project and RAT_PROJECT_DIR unset, so only ``path`` finds it."""
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    rat_project.write("silver/sales.sql", SILVER)
    rat_project.write("silver/sales.yaml", SILVER_YAML)
    rat_project.write("gold/by_product.py", GOLD)
    rat_project.landing("sales/day1.csv", DAY1)
    create_workspace("alice", project_dir=rat_project.root)
    monkeypatch.delenv("RAT_PROJECT_DIR")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return rat_project


def test_a_session_runs_queries_reads_and_tests_on_one_load(sales, loads):
    rat = ratatouille.project(sales.root)
    assert isinstance(rat, ratatouille.Project) and rat.workspace == "default" and rat.path == sales.root.resolve()
    assert sorted(rat.transforms) == ["bronze.sales", "gold.by_product", "silver.sales"]

    result = rat.run("*")
    assert [r["status"] for r in result.results] == ["success"] * 3
    revenue = rat.query("SELECT product, revenue FROM gold.by_product ORDER BY product")
    assert revenue.rows() == [("gadget", 75.0), ("gizmo", 15.0), ("widget", 20.0)]
    lazy = rat.query("SELECT COUNT(*) AS n FROM silver.sales", lazy=True)
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect()["n"][0] == 4
    assert rat.read("silver.sales").collect().height == 4
    assert rat.read("silver.sales", version=0).collect().height == 4
    report = rat.test()
    assert report["status"] == "passed" and {t["table"] for t in report["tables"]} >= {"silver.sales"}
    assert set(rat.tables()["table"]) == {"bronze.sales", "gold.by_product", "silver.sales"}
    assert rat.lineage("silver.sales")["downstream"] == ["gold.by_product"]
    assert rat.history("silver.sales")["version"].to_list() == [0]
    assert rat.ls("landing/sales/")[0].endswith("day1.csv")

    assert loads == ["default"]  # ten calls, one load
    # the module-level functions (thin wrappers) agree with the session
    assert ratatouille.query("SELECT product, revenue FROM gold.by_product ORDER BY product",
                             project_dir=sales.root).equals(revenue)


def test_a_workspace_session_diffs_and_promotes(sales, loads):
    ratatouille.project(sales.root).run("*")
    sales.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    sales.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    loads.clear()

    alice = ratatouille.project(sales.root, workspace="alice")
    assert alice.run("silver.sales")["status"] == "success"
    d = alice.diff("silver.sales")
    assert (d.rows_base, d.rows_workspace, d.added, d.removed) == (4, 4, 1, 1) and d.columns_added == {"discount": "Float64"}
    assert alice.diff("silver.sales", key=["order_id"]).key == ["order_id"]
    assert loads == ["alice", "default"]  # the workspace once, default's once (the base of the diffs)

    promotion = alice.promote("silver.sales")
    assert promotion.applied and [f.action for f in promotion.changes] == ["update"]
    assert (sales.root / "workspaces/default/pipelines/silver/sales.sql").read_text().strip() == ALICE_SILVER.strip()
    assert loads == ["alice", "default"]  # the plan, the checks (a dry run) and the apply reuse both

    # default, rebuilt, now has alice's change
    assert ratatouille.run("silver.sales", full_refresh=True, project_dir=sales.root)["status"] == "success"
    assert sorted(ratatouille.read("silver.sales", project_dir=sales.root).collect()["order_id"]) == [1, 3, 4, 5]


def test_module_level_diff_and_promote_load_each_workspace_once(sales, loads):
    from ratatouille.workspace import diff, promote

    ratatouille.run("*", project_dir=sales.root)
    sales.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    sales.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    ratatouille.run("silver.sales", workspace="alice", project_dir=sales.root)
    loads.clear()
    assert diff("silver.sales", workspace="alice", project_dir=sales.root).changed == 1
    assert loads == ["alice", "default"]
    loads.clear()
    assert promote("silver.sales", workspace="alice", project_dir=sales.root).applied
    assert loads == ["alice", "default"]  # the plan and the checks (a dry run in alice) share the loads


def test_a_default_session_refuses_to_diff_or_promote(sales):
    rat = ratatouille.project(sales.root)
    with pytest.raises(WorkspaceError, match="name another workspace"):
        rat.diff("silver.sales")
    with pytest.raises(WorkspaceError, match="name the workspace"):
        rat.promote("silver.sales")


def test_a_session_sees_file_changes_after_refresh(sales):
    rat = ratatouille.project(sales.root)
    sales.write("silver/extra.sql", "SELECT 1 AS one")
    assert "silver.extra" not in rat.transforms
    assert "silver.extra" in rat.refresh().transforms


def test_a_session_runs_a_decorated_function(sales):
    rat = ratatouille.Project(sales.root)
    rat.run("bronze.sales")

    @ratatouille.transform("gold.widgets", inputs=["bronze.sales"])
    def widgets(sales: pl.LazyFrame) -> pl.LazyFrame:
        return sales.filter(pl.col("product") == "widget").select("order_id")

    assert rat.run(widgets)["rows_written"] == 2
    assert sorted(rat.query("SELECT order_id FROM gold.widgets")["order_id"]) == [1, 3]


def test_tools_take_project_dir(sales):
    root = sales.root
    ratatouille.run("*", project_dir=root)
    assert set(tools.tables(project_dir=root)["table"]) == {"bronze.sales", "gold.by_product", "silver.sales"}
    assert tools.schema("gold.by_product", project_dir=root).names() == ["product", "revenue"]
    assert tools.preview("silver.sales", 2, project_dir=root).height == 2
    assert tools.history("silver.sales", project_dir=root)["version"].to_list() == [0]
    assert sorted(tools.lineage(project_dir=root)["edges"]) == [["bronze.sales", "silver.sales"],
                                                                ["silver.sales", "gold.by_product"]]
    assert tools.ls("landing/sales/", project_dir=root)[0].endswith("day1.csv")
    assert tools.test("silver.sales", project_dir=root)["status"] == "passed"
    assert tools.optimize("silver.sales", project_dir=root)["numFilesAdded"] in (0, 1)
    assert list(tools.vacuum("silver.sales", project_dir=root, retention_hours=0, dry_run=True)) == []
    sales.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    ratatouille.run("silver.sales", workspace="alice", project_dir=root)
    assert tools.diff("silver.sales", workspace="alice", project_dir=root).rows_workspace == 4


def test_each_cli_command_loads_the_project_once(sales, loads, monkeypatch):
    monkeypatch.chdir(sales.root)
    cli = CliRunner()
    assert cli.invoke(app, ["run", "--all"]).exit_code == 0
    assert loads == ["default"]

    loads.clear()
    out = cli.invoke(app, ["query", "--json", "SELECT COUNT(*) AS n FROM silver.sales"])
    assert out.exit_code == 0 and json.loads(out.stdout.strip()) == {"n": 4}
    assert loads == ["default"]

    sales.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    sales.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    assert cli.invoke(app, ["run", "-w", "alice", "silver.sales+"]).exit_code == 0
    loads.clear()
    out = cli.invoke(app, ["query", "-w", "alice", "--json", "SELECT COUNT(*) AS n FROM silver.sales WHERE order_id = 2"])
    assert out.exit_code == 0 and json.loads(out.stdout.strip()) == {"n": 0}  # alice's table (default's has it)
    assert loads == ["alice"]  # the query and the resolution line share one load

    loads.clear()
    out = cli.invoke(app, ["diff", "-w", "alice", "--json", "silver.sales", "gold.by_product"])
    assert out.exit_code == 0, out.output
    assert loads == ["alice", "default"]  # not once per table

    loads.clear()
    out = cli.invoke(app, ["promote", "-w", "alice", "-y", "silver.sales"])
    assert out.exit_code == 0, out.output
    assert "promoted" in out.stdout and "rat run -f silver.sales+" in out.stdout
    assert loads == ["alice", "default"]
    assert (Path(sales.root) / "workspaces/default/pipelines/silver/sales.sql").read_text().strip() == ALICE_SILVER.strip()
