"""Workspaces: isolation, overlay reads, overrides, pinning, diff, promote, reset.

Everything runs on real Delta tables in the ``rat_project`` fixture's lake.
"""

from __future__ import annotations

import logging

import polars as pl
import pytest

from ratatouille import CheckError, TableNotFoundError, WorkspaceError, query, read, tools
from ratatouille._lake import Lake
from ratatouille.workspace import (
    create_workspace,
    diff,
    list_workspaces,
    pin_workspace,
    plan_promotion,
    promote,
    reset_workspace,
)
from ratatouille.discover import Project
from ratatouille.testing import _storage_options

TABLES = ("bronze.sales", "silver.sales", "gold.by_product")

SILVER = """
-- @materialized: incremental
-- @strategy: merge
-- @unique_key: order_id
SELECT order_id, product, quantity, unit_price, quantity * unit_price AS total, _ingested_at
FROM bronze.sales
WHERE quantity > 0
{% if is_incremental() %}  AND _ingested_at > {{ watermark('_ingested_at') }}{% endif %}
"""

SILVER_YAML = """
columns:
  - name: order_id
    tests: [not_null, unique]
tests:
  - name: no_negative_total
    sql: SELECT * FROM {{ this }} WHERE total < 0
"""

# alice's change: keep zero-quantity lines, drop single units, 10% discount from 3 units
ALICE_SILVER = """
-- @materialized: incremental
-- @strategy: merge
-- @unique_key: order_id
SELECT order_id, product, quantity, unit_price,
       CAST(CASE WHEN quantity >= 3 THEN 0.1 ELSE 0.0 END AS DOUBLE) AS discount,
       quantity * unit_price * CAST(CASE WHEN quantity >= 3 THEN 0.9 ELSE 1.0 END AS DOUBLE) AS total,
       _ingested_at
FROM bronze.sales
WHERE quantity <> 1
"""

GOLD = """
import polars as pl
from ratatouille import transform

@transform("gold.by_product", inputs=["silver.sales"], materialized="table")
def by_product(sales: pl.LazyFrame) -> pl.LazyFrame:
    return sales.group_by("product").agg(pl.col("total").sum().alias("revenue")).sort("product")
"""

DAY1 = """
order_id,product,quantity,unit_price
1,widget,2,10.0
2,gadget,1,25.0
3,widget,0,10.0
4,gizmo,3,5.0
5,gadget,2,25.0
"""


@pytest.fixture
def project(rat_project):
    """The sales pipeline built in default, plus an empty workspace ``alice``."""
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    rat_project.write("silver/sales.sql", SILVER)
    rat_project.write("silver/sales.yaml", SILVER_YAML)
    rat_project.write("gold/by_product.py", GOLD)
    rat_project.landing("sales/day1.csv", DAY1)
    result = rat_project.run("*")
    assert [r["status"] for r in result.results] == ["success"] * 3
    create_workspace("alice", project_dir=rat_project.root)
    return rat_project


def versions(p, workspace="default"):
    return {t: p.version(t, workspace) for t in TABLES}


def lake_of(p) -> Lake:
    """The project's lake, local or object storage (``RatProject.lake_handle`` when it has one)."""
    return getattr(p, "lake_handle", None) or Lake(p.lake, _storage_options())


def lake_exists(p, *parts: str) -> bool:
    lake = lake_of(p)
    return lake.exists(lake.path(*parts))


def rows(df: pl.DataFrame, *cols: str) -> list[tuple]:
    return sorted(df.select(cols).rows())


# -- isolation and overlay ----------------------------------------------------------------------
def test_a_workspace_run_writes_only_its_own_prefix_and_reads_production_with_zero_copies(project):
    before = versions(project)
    default_silver = project.query("SELECT order_id, total FROM silver.sales ORDER BY order_id")
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")

    result = project.run("silver.sales", workspace="alice")
    assert result["status"] == "success" and result["workspace"] == "alice" and result["version"] == 0

    # default's tables did not move, and still hold production's rows
    assert versions(project) == before
    assert project.query("SELECT order_id, total FROM silver.sales ORDER BY order_id").equals(default_silver)
    # alice wrote under <lake>/workspaces/alice/silver/sales and copied nothing else
    assert lake_exists(project, "workspaces", "alice", "silver", "sales", "_delta_log")
    assert not lake_exists(project, "workspaces", "alice", "bronze")
    assert Project.load(workspace="alice").lake_tables("alice") == {"silver.sales"}

    # in alice: silver is alice's, bronze is production's (overlay read)
    alice = project.query("SELECT order_id, total FROM silver.sales", workspace="alice")
    assert rows(alice, "order_id", "total") == [(1, 20.0), (3, 0.0), (4, 13.5), (5, 50.0)]
    assert project.query("SELECT COUNT(*) AS n FROM bronze.sales", workspace="alice")["n"][0] == 5
    assert read("silver.sales", workspace="alice").collect().height == 4
    assert read("silver.sales").collect().height == 4 and "discount" not in read("silver.sales").collect_schema()

    resolved = {r["table"]: (r["resolves_to"], r["version"]) for r in tools.tables(workspace="alice").iter_rows(named=True)}
    assert resolved == {"bronze.sales": ("default", 0), "silver.sales": ("own", 0), "gold.by_product": ("default", 0)}
    assert set(tools.tables()["resolves_to"]) == {"own"}


def test_an_inherited_transform_runs_in_the_workspace_on_the_workspace_s_inputs(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    before = versions(project)
    result = project.run(["silver.sales", "gold.by_product"], workspace="alice")
    assert [r["status"] for r in result.results] == ["success", "success"]
    assert versions(project) == before
    alice = project.query("SELECT product, revenue FROM gold.by_product", workspace="alice")
    prod = project.query("SELECT product, revenue FROM gold.by_product")
    assert rows(alice, "product", "revenue") == [("gadget", 50.0), ("gizmo", 13.5), ("widget", 20.0)]
    assert rows(prod, "product", "revenue") == [("gadget", 75.0), ("gizmo", 15.0), ("widget", 20.0)]
    assert project.version("gold.by_product", "alice") == 0


def test_every_kind_of_write_in_a_workspace_leaves_default_untouched(project):
    project.landing("sales/day2.csv", "order_id,product,quantity,unit_price\n6,widget,4,10.0\n")
    before = versions(project)
    project.run("*", workspace="alice")                          # ingest + merge + table, first runs
    project.run("*", workspace="alice", full_refresh=True)       # overwrite
    project.landing("sales/day3.csv", "order_id,product,quantity,unit_price\n7,gizmo,1,5.0\n")
    project.run("*", workspace="alice")                          # incremental append + merge
    assert versions(project) == before
    assert project.query("SELECT COUNT(*) AS n FROM bronze.sales")["n"][0] == 5
    assert project.query("SELECT COUNT(*) AS n FROM bronze.sales", workspace="alice")["n"][0] == 7
    assert project.query("SELECT COUNT(*) AS n FROM silver.sales", workspace="alice")["n"][0] == 6
    assert project.version("silver.sales", "alice") == 2


def test_rejected_landing_files_are_not_moved_by_a_workspace(project):
    # alice makes ingestion stricter: production's landing zone must not change because of her
    project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\non_error: reject\n"
                  "dtypes:\n  order_id: int64\n", workspace="alice")
    project.landing("sales/bad.csv", "order_id,product,quantity,unit_price\nnot-a-number,x,1,1.0\n")
    landing = sorted(p.rsplit("/", 1)[-1] for p in tools.ls("landing/sales/"))
    assert landing == ["bad.csv", "day1.csv"]
    result = project.run("bronze.sales", workspace="alice")
    assert [r["file"].rsplit("/", 1)[-1] for r in result["rejected"]] == ["bad.csv"]   # reported...
    assert sorted(p.rsplit("/", 1)[-1] for p in tools.ls("landing/sales/")) == landing  # ...but not moved
    assert not lake_exists(project, "landing", "_rejected")


def test_query_and_read_log_where_each_table_resolves(project, caplog):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.run("silver.sales", workspace="alice")
    with caplog.at_level(logging.INFO, logger="ratatouille"):
        query("SELECT s.order_id FROM silver.sales s JOIN bronze.sales b USING (order_id)", workspace="alice")
        read("gold.by_product", workspace="alice")
    text = caplog.text
    assert "workspace alice: silver.sales -> own v0" in text
    assert "workspace alice: bronze.sales -> default v0" in text
    assert "workspace alice: gold.by_product -> default v0" in text


# -- overrides ----------------------------------------------------------------------------------
def test_workspace_transforms_override_default_only_inside_the_workspace(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("gold/top.sql", "SELECT product FROM silver.sales WHERE total > 20", workspace="alice")
    alice, default = Project.load(workspace="alice"), Project.load()
    assert alice.get("silver.sales").workspace == "alice" and "discount" in alice.get("silver.sales").sql
    assert alice.get("bronze.sales").workspace == "default"          # inherited, not copied
    assert alice.get("gold.by_product").workspace == "default"
    assert set(alice.transforms) == {*TABLES, "gold.top"}
    assert set(default.transforms) == set(TABLES)
    assert "discount" not in default.get("silver.sales").sql
    # what the Dagster adapter needs: every transform, where the workspace writes and reads it
    assert alice.target("silver.sales").uri == alice.lake.table_uri("silver.sales", "alice")
    assert alice.read_target("bronze.sales").uri == alice.lake.table_uri("bronze.sales", "default")

    assert project.run("gold.top", workspace="alice")["status"] == "success"
    with pytest.raises(TableNotFoundError, match="gold.top"):
        project.run("gold.top")
    with pytest.raises(TableNotFoundError):
        project.query("SELECT * FROM gold.top")


# -- pinning ------------------------------------------------------------------------------------
def test_a_pinned_workspace_reads_default_at_the_versions_of_its_creation(project):
    create_workspace("pinned", pin=True, project_dir=project.root)
    create_workspace("bob", project_dir=project.root)
    cfg = (project.root / "workspaces/pinned/workspace.yaml").read_text()
    assert "pin: true" in cfg
    assert Project.load(workspace="pinned").pins == {t: 0 for t in TABLES}

    project.landing("sales/day2.csv", "order_id,product,quantity,unit_price\n6,widget,4,10.0\n")
    project.run("*")                                         # production moves on to v1
    assert project.version("bronze.sales") == 1

    count = "SELECT COUNT(*) AS n FROM bronze.sales"
    assert project.query(count, workspace="pinned")["n"][0] == 5     # pinned: v0
    assert project.query(count, workspace="bob")["n"][0] == 6        # not pinned: latest
    assert project.query(count)["n"][0] == 6
    tables = tools.tables(workspace="pinned").filter(pl.col("table") == "bronze.sales").row(0, named=True)
    assert (tables["resolves_to"], tables["version"], tables["pinned"]) == ("default", 0, True)
    assert read("bronze.sales", workspace="pinned", version=1).collect().height == 6  # explicit version wins

    # a run in the pinned workspace builds from the pinned inputs
    project.run("silver.sales", workspace="pinned")
    assert project.query("SELECT COUNT(*) AS n FROM silver.sales", workspace="pinned")["n"][0] == 4

    assert pin_workspace("pinned", project_dir=project.root)["bronze.sales"] == 1
    assert project.query(count, workspace="pinned")["n"][0] == 6

    # pin: false turns the pins off without losing them
    path = project.root / "workspaces/pinned/workspace.yaml"
    path.write_text(path.read_text().replace("pin: true", "pin: false"))
    assert Project.load(workspace="pinned").pins == {}


# -- diff ---------------------------------------------------------------------------------------
def test_diff_reports_schema_rows_and_changes_by_unique_key(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.run("silver.sales", workspace="alice")
    d = tools.diff("silver.sales", workspace="alice")
    assert (d.table, d.workspace, d.base) == ("silver.sales", "alice", "default")
    assert d.key == ["order_id"] and d.key_source == "unique_key"
    assert d.columns_added == {"discount": "Float64"} and not d.columns_removed and not d.columns_changed
    assert (d.rows_base, d.rows_workspace) == (4, 4)
    assert (d.added, d.removed, d.changed) == (1, 1, 1)
    assert d.changed_columns == {"total": 1}
    assert d.samples["added"]["order_id"].to_list() == [3]
    assert d.samples["removed"]["order_id"].to_list() == [2]
    assert d.samples["changed"].rows() == [(4, 15.0, 13.5)]
    assert d.samples["changed"].columns == ["order_id", "total__default", "total__alice"]
    assert not d.identical and d.workspace_version == 0 and d.base_version == 0
    as_dict = d.to_dict()
    assert as_dict["rows"] == {"default": 4, "alice": 4} and as_dict["samples"]["removed"][0]["product"] == "gadget"
    assert d["changed"] == 1
    assert "1 added, 1 removed, 1 changed" in d.summary()


def test_diff_of_an_unchanged_rebuild_is_identical(project):
    project.write("silver/sales.sql", SILVER, workspace="alice")
    project.run("silver.sales", workspace="alice")
    d = diff("silver.sales", workspace="alice")
    assert d.identical and (d.added, d.removed, d.changed) == (0, 0, 0) and d.rows_workspace == 4


def test_diff_without_unique_key_compares_whole_rows(project):
    project.write("gold/by_product.py", GOLD.replace("sort(\"product\")", "filter(pl.col(\"product\") != \"gizmo\")"),
                  workspace="alice")
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.run(["silver.sales", "gold.by_product"], workspace="alice")
    d = diff("gold.by_product", workspace="alice")
    assert d.key_source == "all columns" and d.key == ["product", "revenue"]
    # gadget 75 -> 50 shows as one removed + one added row; gizmo is gone; widget is unchanged
    assert (d.added, d.removed, d.changed) == (1, 2, 0)
    assert d.samples["removed"].rows() == [("gadget", 75.0), ("gizmo", 15.0)]
    assert d.samples["added"].rows() == [("gadget", 50.0)]
    # an explicit key turns it into a change
    d = diff("gold.by_product", workspace="alice", key=["product"])
    assert (d.added, d.removed, d.changed) == (0, 1, 1) and d.changed_columns == {"revenue": 1}


def test_diff_of_a_table_default_does_not_have_and_of_type_changes(project):
    project.write("gold/top.sql", "SELECT order_id, CAST(total AS VARCHAR) AS total FROM silver.sales",
                  workspace="alice")
    project.write("silver/sales.sql", SILVER.replace("quantity * unit_price AS total", "quantity * unit_price AS total_price")
                  .replace("product, quantity", "quantity"), workspace="alice")
    project.run(["gold.top"], workspace="alice")
    d = diff("gold.top", workspace="alice")
    assert (d.rows_base, d.rows_workspace, d.added, d.removed) == (0, 4, 4, 0)
    assert any("every row is new" in n for n in d.notes)
    project.run("silver.sales", workspace="alice")
    d = diff("silver.sales", workspace="alice")
    assert d.columns_added == {"total_price": "Float64"}
    assert d.columns_removed == {"product": "String", "total": "Float64"}
    assert (d.added, d.removed, d.changed) == (0, 0, 0)       # the common columns agree


def test_diff_flags_duplicate_keys_and_counts_whole_rows_as_multisets(project):
    frame = """
        import polars as pl
        from ratatouille import transform

        @transform("silver.t", inputs=[], materialized="table"{extra})
        def t() -> pl.LazyFrame:
            return pl.LazyFrame({{"id": {ids}, "v": {vs}}})
    """
    project.write("silver/t.py", frame.format(extra=', unique_key="id"', ids=[1, 2], vs=["a", "b"]))
    project.write("silver/t.py", frame.format(extra=', unique_key="id"', ids=[1, 1, 2], vs=["a", "z", "b"]),
                  workspace="alice")
    project.run("silver.t")
    project.run("silver.t", workspace="alice")
    d = diff("silver.t", workspace="alice")
    assert d.duplicate_keys == {"alice": 1} and any("not unique" in n for n in d.notes)
    assert "1 duplicate key value(s) in alice's table" in d.summary()

    project.write("silver/t.py", frame.format(extra="", ids=[1, 2], vs=["a", "b"]))
    project.write("silver/t.py", frame.format(extra="", ids=[1, 1, 3], vs=["a", "a", "c"]), workspace="alice")
    project.run("silver.t")
    project.run("silver.t", workspace="alice")
    d = diff("silver.t", workspace="alice")
    assert d.key_source == "all columns" and not d.duplicate_keys
    assert (d.rows_base, d.rows_workspace, d.added, d.removed) == (2, 3, 2, 1)
    assert d.samples["added"].rows() == [(1, "a"), (1, "a"), (3, "c")]   # the rows whose count differs
    assert d.samples["removed"].rows() == [(2, "b")]


def test_diff_needs_a_workspace_table_and_a_workspace(project):
    with pytest.raises(TableNotFoundError, match="workspace alice has not built silver.sales"):
        diff("silver.sales", workspace="alice")
    with pytest.raises(WorkspaceError, match="compares a workspace with 'default'"):
        diff("silver.sales")
    with pytest.raises(TableNotFoundError, match="did you mean silver.sales"):
        diff("silver.sale", workspace="alice")


def test_diff_stays_lazy_and_fast_on_a_larger_table(project):
    n = 300_000
    base = pl.DataFrame({"id": range(n), "v": [i % 97 for i in range(n)], "s": ["x"] * n})
    project.write("silver/big.py", f"""
        import polars as pl
        from ratatouille import transform

        @transform("silver.big", inputs=[], unique_key="id", materialized="table")
        def big() -> pl.LazyFrame:
            return pl.LazyFrame({{"id": range({n})}}).with_columns(v=pl.col("id") % 97, s=pl.lit("x"))
    """)
    project.write("silver/big.py", f"""
        import polars as pl
        from ratatouille import transform

        @transform("silver.big", inputs=[], unique_key="id", materialized="table")
        def big() -> pl.LazyFrame:
            lf = pl.LazyFrame({{"id": range(10, {n} + 5)}}).with_columns(v=pl.col("id") % 97, s=pl.lit("x"))
            return lf.with_columns(v=pl.when(pl.col("id") < 1000).then(-1).otherwise(pl.col("v")))
    """, workspace="alice")
    project.run("silver.big")
    project.run("silver.big", workspace="alice")
    import time

    started = time.perf_counter()
    d = diff("silver.big", workspace="alice")
    elapsed = time.perf_counter() - started
    assert (d.rows_base, d.rows_workspace) == (n, n - 5)
    assert (d.added, d.removed, d.changed) == (5, 10, 990) and d.changed_columns == {"v": 990}
    assert len(d.samples["changed"]) == 5 and base.height == n
    assert elapsed < 10, elapsed


# -- promote ------------------------------------------------------------------------------------
def test_promote_copies_the_transform_files_into_default(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML + "description: with discounts\n", workspace="alice")
    project.run("silver.sales", workspace="alice")
    before = versions(project)
    plan = plan_promotion("silver.sales", workspace="alice")
    assert sorted(f.action for f in plan.files) == ["update", "update"]
    assert "+       CAST(CASE WHEN quantity >= 3" in next(f.diff for f in plan.files if f.dest.suffix == ".sql")

    done = promote("silver.sales", workspace="alice")
    assert done.applied and done.checks["status"] == "success"
    default_dir = project.root / "workspaces/default/pipelines/silver"
    assert (default_dir / "sales.sql").read_text() == (project.root / "workspaces/alice/pipelines/silver/sales.sql").read_text()
    assert "with discounts" in (default_dir / "sales.yaml").read_text()
    assert versions(project) == before                        # only files moved, no data
    project.run("silver.sales", full_refresh=True)
    assert diff("silver.sales", workspace="alice").identical   # production now builds what alice built
    assert plan_promotion("silver.sales", workspace="alice").changes == []


def test_promote_refuses_a_transform_whose_checks_fail_in_the_workspace(project):
    project.write("silver/sales.sql", SILVER.replace("quantity * unit_price AS total", "-quantity * unit_price AS total"),
                  workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    original = (project.root / "workspaces/default/pipelines/silver/sales.sql").read_text()
    with pytest.raises(CheckError, match="not promoted.*no_negative_total") as info:
        promote("silver.sales", workspace="alice")
    assert info.value.transform == "silver.sales"
    assert (project.root / "workspaces/default/pipelines/silver/sales.sql").read_text() == original
    assert project.version("silver.sales", "alice") is None   # the check ran as a dry run: nothing written


def test_promote_python_replacing_sql_and_new_transforms_with_their_inputs(project):
    project.write("silver/sales.py", """
        import polars as pl
        from ratatouille import transform

        @transform("silver.sales", inputs=["bronze.sales"], materialized="table")
        def sales(bronze: pl.LazyFrame) -> pl.LazyFrame:
            return bronze.filter(pl.col("quantity") > 0).with_columns(total=pl.col("quantity") * pl.col("unit_price"))
    """, workspace="alice")
    project.write("silver/clean.sql", "SELECT order_id, product FROM bronze.sales", workspace="alice")
    project.write("gold/products.sql", "SELECT DISTINCT product FROM silver.clean", workspace="alice")

    with pytest.raises(WorkspaceError, match="reads silver.clean, which default does not have"):
        plan_promotion("gold.products", workspace="alice")
    with pytest.raises(WorkspaceError, match="not changed in workspace alice"):
        plan_promotion("bronze.sales", workspace="alice")
    with pytest.raises(WorkspaceError, match="name the workspace"):
        plan_promotion("silver.sales")

    plan = promote(["silver.clean", "gold.products"], workspace="alice")
    assert sorted(f.dest.name for f in plan.files) == ["clean.sql", "products.sql"]
    plan = promote("silver.sales", workspace="alice")
    actions = {f.dest.name: f.action for f in plan.files}
    assert actions == {"sales.py": "create", "sales.sql": "remove", "sales.yaml": "remove"}
    silver = project.root / "workspaces/default/pipelines/silver"
    assert sorted(p.name for p in silver.iterdir()) == ["clean.sql", "sales.py"]
    assert Project.load().get("silver.sales").kind == "python"
    result = project.run(["silver.sales", "silver.clean", "gold.products"])
    assert [r["status"] for r in result.results] == ["success"] * 3


# -- reset, list, create ------------------------------------------------------------------------
def test_reset_drops_the_workspace_tables_and_nothing_of_default(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.run(["silver.sales", "gold.by_product"], workspace="alice")
    before = versions(project)
    assert reset_workspace("alice", tables=["gold.by_product"], project_dir=project.root) == ["gold.by_product"]
    assert Project.load(workspace="alice").lake_tables("alice") == {"silver.sales"}
    assert reset_workspace("alice", project_dir=project.root) == ["silver.sales"]
    assert not lake_exists(project, "workspaces", "alice")
    assert versions(project) == before
    assert (project.root / "workspaces/alice/pipelines/silver/sales.sql").is_file()   # code stays
    resolved = set(tools.tables(workspace="alice")["resolves_to"])
    assert resolved == {"default"}
    with pytest.raises(WorkspaceError, match="refusing to reset 'default'"):
        reset_workspace("default", project_dir=project.root)
    with pytest.raises(TableNotFoundError, match="has not built silver.sales"):
        reset_workspace("alice", tables=["silver.sales"], project_dir=project.root)


def test_list_and_create_workspaces(project):
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.write("gold/top.sql", "SELECT 1 AS x", workspace="alice")
    project.run("silver.sales", workspace="alice")
    create_workspace("bob", pin=True, description="Bob's sandbox: try things", project_dir=project.root)
    listed = {w["workspace"]: w for w in list_workspaces(project_dir=project.root)}
    assert list(listed) == ["alice", "bob", "default"]
    assert listed["alice"]["overrides"] == ["silver.sales"] and listed["alice"]["transforms"] == ["gold.top", "silver.sales"]
    assert listed["alice"]["tables"] == ["silver.sales"] and not listed["alice"]["pinned"]
    assert listed["bob"]["pinned"] and listed["bob"]["description"] == "Bob's sandbox: try things"
    assert listed["default"]["tables"] == sorted(TABLES)
    with pytest.raises(WorkspaceError, match="already exists"):
        create_workspace("alice", project_dir=project.root)
    with pytest.raises(WorkspaceError, match="production"):
        create_workspace("default", project_dir=project.root)


@pytest.mark.parametrize("bad", ["Alice", "../alice", "a-b", "a/b", "", "1st", "al ice"])
def test_workspace_names_must_be_simple_identifiers(rat_project, bad):
    with pytest.raises(WorkspaceError, match="invalid workspace name"):
        create_workspace(bad, project_dir=rat_project.root)
    if bad:  # an empty name means "the configured workspace"
        with pytest.raises(WorkspaceError):
            rat_project.run("*", workspace=bad)
    assert not (rat_project.root / "workspaces" / "alice").exists()


def test_unknown_workspace_is_a_clear_error_listing_the_workspaces(project):
    for call in (lambda: Project.load(workspace="bob"), lambda: project.run("*", workspace="bob"),
                 lambda: project.query("SELECT 1 AS x FROM silver.sales", workspace="bob"),
                 lambda: tools.tables(workspace="bob"), lambda: diff("silver.sales", workspace="bob"),
                 lambda: pin_workspace("bob", project_dir=project.root)):
        with pytest.raises(WorkspaceError, match="unknown workspace 'bob'; workspaces: alice, default"):
            call()
    with pytest.raises(WorkspaceError, match="unknown workspace 'bob'"):
        reset_workspace("bob", project_dir=project.root)


def test_bad_pins_file_names_the_file(project):
    create_workspace("pinned", pin=True, project_dir=project.root)
    (project.root / "workspaces/pinned/pins.yaml").write_text("tables:\n  bronze.sales: latest\n")
    with pytest.raises(Exception, match="pins.yaml"):
        project.query("SELECT * FROM bronze.sales", workspace="pinned")


def test_diff_of_a_view_compares_the_plans_over_each_workspace_s_tables(project):
    project.write("gold/big_orders.sql", "-- @materialized: view\nSELECT order_id, total FROM silver.sales WHERE total >= 20")
    project.write("silver/sales.sql", ALICE_SILVER, workspace="alice")
    project.run("silver.sales", workspace="alice")
    d = diff("gold.big_orders", workspace="alice")          # a view is never built: its plan is compared
    assert (d.workspace_version, d.base_version) == (None, None)
    assert (d.key_source, d.rows_base, d.rows_workspace) == ("all columns", 3, 2)
    assert d.samples["removed"].rows() == [(2, 25.0)] and d.added == 0


def test_promote_an_ingest_transform(project):
    project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\ndescription: orders\n", workspace="alice")
    plan = promote("bronze.sales", workspace="alice")
    assert [(f.action, f.dest.name) for f in plan.files] == [("update", "sales.yaml")]
    assert Project.load().get("bronze.sales").description == "orders"


def test_promote_checks_everything_an_incremental_transform_builds(project):
    """Built once in the workspace, an incremental transform has nothing new on a second
    dry run: the promotion check still sees every row (it runs as a full refresh)."""
    project.write("silver/sales.sql", SILVER, workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="alice")
    project.run("silver.sales", workspace="alice")
    project.write("silver/sales.yaml", SILVER_YAML + "  - name: never\n    sql: SELECT * FROM {{ this }}\n",
                  workspace="alice")
    with pytest.raises(CheckError, match="not promoted.*never"):
        promote("silver.sales", workspace="alice")
    assert "never" not in (project.root / "workspaces/default/pipelines/silver/sales.yaml").read_text()


def test_workspace_yaml_vars_override_the_project_s_and_unknown_keys_are_errors(project):
    from ratatouille import ConfigError

    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "[tool.ratatouille.vars]\nmin_qty = 0\n")
    project.write("gold/big.sql", "SELECT order_id FROM silver.sales WHERE quantity > {{ var('min_qty') }}")
    project.write("gold/big.sql", "SELECT order_id FROM silver.sales WHERE quantity > {{ var('min_qty') }}",
                  workspace="alice")
    project.run("gold.big")
    assert project.read("gold.big").height == 4
    path = project.root / "workspaces/alice/workspace.yaml"
    path.write_text(path.read_text() + "vars:\n  min_qty: 2\n")
    project.run("gold.big", workspace="alice")
    assert project.query("SELECT * FROM gold.big", workspace="alice")["order_id"].to_list() == [4]
    assert project.read("gold.big").height == 4  # default keeps the project's value
    path.write_text(path.read_text() + "pinn: true\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['pinn'\]") as info:
        project.run("gold.big", workspace="alice")
    assert info.value.file.endswith("workspaces/alice/workspace.yaml")


def test_a_stray_folder_under_workspaces_does_not_hide_the_others(project, caplog):
    (project.root / "workspaces" / "My-WS" / "pipelines").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="ratatouille"):
        listed = [w["workspace"] for w in list_workspaces(project_dir=project.root)]
    assert listed == ["alice", "default"] and "My-WS" in caplog.text


def test_diff_ignores_when_and_from_which_file_version_rows_were_loaded(project):
    project.run("bronze.sales", workspace="alice")  # the same landing files, ingested again in alice
    d = diff("bronze.sales", workspace="alice")
    assert (d.added, d.removed, d.changed) == (0, 0, 0)
    assert d.rows_base == d.rows_workspace == 5 and "_ingested_at" not in d.key


def test_diff_of_a_pinned_workspace_compares_with_default_at_the_pin(project):
    create_workspace("pinned", pin=True, project_dir=project.root)
    project.write("silver/sales.sql", SILVER, workspace="pinned")
    project.write("silver/sales.yaml", SILVER_YAML, workspace="pinned")
    project.run("silver.sales", workspace="pinned")            # the same logic, on default as pinned
    project.landing("sales/day2.csv", "order_id,product,quantity,unit_price\n6,widget,4,10.0\n")
    project.run("*")                                             # production moves on
    d = diff("silver.sales", workspace="pinned")
    assert (d.added, d.removed, d.changed) == (0, 0, 0) and d.base_version == 0
    assert any("pinned to (latest: v1)" in n for n in d.notes)
