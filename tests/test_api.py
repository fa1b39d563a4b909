"""The Python API: run selections, RunResult, query, read, tools, testing helpers."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from ratatouille import RunResult, TableNotFoundError, query, read, run, tools
from ratatouille.testing import run_transform


@pytest.fixture
def chain(rat_project):
    pl.DataFrame({"id": [1, 2, 3], "v": [1.0, 2.0, 3.0]}).write_delta(f"{rat_project.lake}/bronze/src")
    rat_project.write("silver/a.sql", "SELECT id, v * 10 AS v FROM bronze.src")
    rat_project.write("silver/b.sql", "SELECT id, v FROM silver.a WHERE id > 1")
    rat_project.write("gold/c.sql", "SELECT SUM(v) AS total FROM silver.b")
    rat_project.write("gold/d.sql", "SELECT COUNT(*) AS n FROM silver.a")
    return rat_project


def test_run_result_is_a_read_only_json_mapping(chain):
    result = run("silver.a")
    assert isinstance(result, RunResult)
    assert result["status"] == "success" and result.get("status") == "success" and result.get("nope", 1) == 1
    for key in ("status", "table", "mode", "rows_written", "version", "duration_s", "checks"):
        assert key in result
    assert json.loads(json.dumps(result))["rows_written"] == 3
    with pytest.raises(TypeError):
        result["status"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        result.update(status="x")


def test_selections_run_in_topological_order(chain):
    result = run("+gold.c")
    assert [r["table"] for r in result.results] == ["silver.a", "silver.b", "gold.c"]
    assert query("SELECT total FROM gold.c")["total"][0] == 50.0
    down = run("silver.a+")
    assert [r["table"] for r in down.results][0] == "silver.a"
    assert set(r["table"] for r in down.results) == {"silver.a", "silver.b", "gold.c", "gold.d"}
    assert run("gold.c", upstream=True).results[0]["table"] == "silver.a"
    listed = run(["gold.d", "silver.a"])
    assert [r["table"] for r in listed.results] == ["silver.a", "gold.d"]
    everything = run("*", full_refresh=True)  # built already: unchanged without it
    assert len(everything.results) == 4 and everything["status"] == "success"


def test_downstream_reuses_fresh_result_and_matches_storage(chain):
    run("+gold.c")
    stored = read("silver.b").sort("id").collect()
    assert stored["v"].to_list() == [20.0, 30.0]


def test_query_only_scans_referenced_tables(chain):
    run("silver.a")
    # silver.b and gold tables are not built: a query over silver.a alone must still work
    df = query("SELECT COUNT(*) AS cnt FROM silver.a")
    assert df["cnt"][0] == 3
    lazy = query("SELECT id FROM silver.a WHERE v > 15", lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert sorted(lazy.collect()["id"].to_list()) == [2, 3]
    plan = lazy.explain()  # projection and predicate are pushed into the Delta scan
    assert "SCAN" in plan and "PROJECT 2/2 COLUMNS" in plan and 'SELECTION: col("v") > 15.0' in plan
    with pytest.raises(TableNotFoundError, match="silver.b has not been built"):
        query("SELECT * FROM silver.b")
    with pytest.raises(TableNotFoundError, match="did you mean silver.a"):
        query("SELECT * FROM silver.aa")


def test_query_cte_and_join(chain):
    run("+silver.b")
    df = query("""
        WITH big AS (SELECT id FROM silver.a WHERE v >= 20)
        SELECT b.id, b.v FROM big JOIN silver.b AS b ON big.id = b.id ORDER BY b.id
    """)
    assert df["id"].to_list() == [2, 3]


def test_read_time_travel(chain):
    run("silver.a")
    pl.DataFrame({"id": [9], "v": [9.0]}).write_delta(f"{chain.lake}/bronze/src", mode="overwrite")
    run("silver.a")
    assert read("silver.a").collect()["id"].to_list() == [9]
    assert sorted(read("silver.a", version=0).collect()["id"].to_list()) == [1, 2, 3]


def test_tools(chain):
    run("+gold.c")
    assert tools.schema("silver.a") == pl.Schema({"id": pl.Int64, "v": pl.Float64})
    tables = tools.tables()
    assert set(tables["table"]) == {"bronze.src", "silver.a", "silver.b", "gold.c", "gold.d"}
    assert tables.filter(pl.col("table") == "gold.d")["resolves_to"][0] == "not built"
    run("silver.a", full_refresh=True)  # a second commit (unchanged without it)
    hist = tools.history("silver.a")
    assert hist["version"].to_list() == [1, 0] and hist["transform"][0] == "silver.a"
    assert tools.preview("silver.a", n=2).height == 2
    lineage = tools.lineage("silver.b")
    assert lineage["upstream"] == ["silver.a"] and lineage["downstream"] == ["gold.c"]
    assert ["silver.a", "silver.b"] in tools.lineage()["edges"]
    before = read("silver.a").collect().sort("id")
    metrics = tools.optimize("silver.a")
    assert "numFilesAdded" in metrics
    assert read("silver.a").collect().sort("id").equals(before)
    assert isinstance(tools.vacuum("silver.a", retention_hours=0, dry_run=True), list)


def test_ls_lists_sorted_full_paths(chain):
    chain.landing("sales/b.csv", "x\n1\n")
    chain.landing("sales/a.csv", "x\n1\n")
    chain.landing("sales/sub/c.csv", "x\n1\n")
    files = tools.ls("landing/sales/")
    assert files == sorted(files) and len(files) == 3
    assert files[0].endswith("landing/sales/a.csv") and files[0].startswith(chain.lake)
    assert tools.ls("landing/sales/*.csv") == files[:2]


def test_run_transform_sql_by_name_and_text(chain):
    src = pl.DataFrame({"id": [1, 2], "v": [1.0, 2.0]})
    out = run_transform("silver.a", inputs={"bronze.src": src})
    assert out["v"].to_list() == [10.0, 20.0]
    out = run_transform("SELECT id FROM bronze.src WHERE v > 1", inputs={"bronze.src": src})
    assert out["id"].to_list() == [2]
    with pytest.raises(TableNotFoundError, match="needs inputs"):
        run_transform("silver.a", inputs={})


def test_run_transform_python_function_without_a_lake():
    from ratatouille import transform

    @transform("gold.rev", inputs=["silver.sales"])
    def rev(sales: pl.LazyFrame) -> pl.LazyFrame:
        return sales.group_by("d").agg(pl.col("total").sum()).sort("d")

    out = run_transform(rev, inputs={"silver.sales": {"d": [1, 1, 2], "total": [1.0, 2.0, 3.0]}})
    assert out["total"].to_list() == [3.0, 3.0]
    # and it is still a plain function
    assert rev(pl.LazyFrame({"d": [1], "total": [5.0]})).collect()["total"][0] == 5.0


def test_run_a_decorated_function_directly(chain):
    from ratatouille import transform

    @transform("gold.adhoc", inputs=["bronze.src"])
    def adhoc(src):
        return src.filter(pl.col("id") == 1)

    assert run(adhoc)["rows_written"] == 1
    assert read("gold.adhoc").collect()["id"].to_list() == [1]


def test_import_ratatouille_does_not_import_dagster():
    code = "import sys, ratatouille; ratatouille.run; ratatouille.query; ratatouille.tools; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tools_on_a_view(rat_project):
    pl.DataFrame({"id": [1, 2]}).write_delta(f"{rat_project.lake}/bronze/src")
    rat_project.write("silver/v.sql", "-- @materialized: view\nSELECT id, id * 2 AS twice FROM bronze.src")
    assert dict(tools.schema("silver.v")) == {"id": pl.Int64, "twice": pl.Int64}
    assert tools.preview("silver.v")["twice"].to_list() == [2, 4]
    with pytest.raises(TableNotFoundError, match="silver.v is a view: it is never written"):
        tools.history("silver.v")
