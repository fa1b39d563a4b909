"""Row-level expectations (issue 12.4): per test ``on_fail: error | warn | drop | quarantine``, as
Databricks' Delta Live Tables has them. ``drop`` removes failing rows before the write; ``quarantine``
also writes them (test names, run id) to ``<layer>.<name>__quarantine`` before the main commit, once
per run id; aggregate tests can only error or warn."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import RatatouilleError
from ratatouille.errors import CheckError, ConfigError


def _orders(p, tests_yaml: str) -> None:
    p.write("bronze/orders.yaml", """
        source: landing/orders/
        format: csv
    """)
    p.write("silver/orders.sql", "SELECT id, product, qty FROM bronze.orders\n")
    p.write("silver/orders.yaml", tests_yaml)
    p.landing("orders/a.csv", "id,product,qty\n1,widget,2\n2,gizmo,0\n3,,1\n4,widget,-5\n5,doohickey,1\n")


def test_drop_removes_the_failing_rows_and_counts_them(lake_project):
    p = lake_project
    _orders(p, """
        columns:
          - name: product
            tests:
              - not_null: {config: {on_fail: drop}}
              - accepted_values: {values: [widget, gizmo], config: {on_fail: drop}}
          - name: qty
            tests:
              - positive: {config: {on_fail: drop}}
    """)
    res = p.run("silver.orders", upstream=True)
    silver = next(r for r in res.results if r["table"] == "silver.orders")
    assert silver["status"] == "success"
    assert sorted(p.read("silver.orders")["id"].to_list()) == [1]
    assert silver["rows_written"] == 1 and silver["rows_dropped"] == 4 and silver["rows_quarantined"] == 0
    by = {c["name"]: c for c in silver["checks"] if c["name"] != "schema"}
    assert by["not_null_product"]["rows_dropped"] == 1
    assert by["accepted_values_product"]["rows_dropped"] == 1  # NULL is not judged by accepted_values
    assert by["positive_qty"]["rows_dropped"] == 2
    assert all(c["on_fail"] == "drop" and c["severity"] == "warn" for c in by.values())
    assert p.version("silver.orders__quarantine") is None


def test_quarantine_writes_failing_rows_with_test_names_and_run_id_before_the_commit(lake_project):
    p = lake_project
    _orders(p, """
        columns:
          - name: product
            tests:
              - accepted_values: {values: [widget, gizmo], config: {on_fail: quarantine}}
          - name: qty
            tests:
              - positive: {config: {on_fail: drop}}
        tests:
          - name: no_big_orders
            sql: SELECT * FROM {{ this }} WHERE qty > 100 OR product = 'doohickey'
            on_fail: quarantine
    """)
    res = p.run("silver.orders", upstream=True)
    silver = next(r for r in res.results if r["table"] == "silver.orders")
    assert sorted(p.read("silver.orders")["id"].to_list()) == [1, 3]  # 3: NULL product passes accepted_values
    assert silver["rows_quarantined"] == 1 and silver["rows_dropped"] == 2
    q = p.read("silver.orders__quarantine")
    assert q["id"].to_list() == [5]
    assert q["_failed_tests"].to_list() == [["accepted_values_product", "no_big_orders"]]
    assert q["_run_id"].to_list() == [silver["run_id"]]
    # the quarantine commit came first
    from ratatouille.discover import Project

    project = Project.load(str(p.root))
    qt, st = project.target("silver.orders__quarantine").open(), project.target("silver.orders").open()
    q_time = qt.history(1)[0]["timestamp"]
    s_time = st.history(1)[0]["timestamp"]
    assert q_time <= s_time


def test_quarantine_is_idempotent_by_run_id(rat_project):
    """A retry of the same run (the same Runner, as the runner's rerun after a lost create does) never
    doubles the quarantine table; a new run appends its own rows."""
    from ratatouille.discover import Project
    from ratatouille.execute import Runner

    p = rat_project
    p.write("silver/q.sql", "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, NULL)) AS t(id, name)\n")
    p.write("silver/q.yaml", """
        columns:
          - name: name
            tests:
              - not_null: {config: {on_fail: quarantine}}
    """)
    runner = Runner(Project.load(str(p.root)))
    runner.run(["silver.q"])
    v = p.version("silver.q__quarantine")
    runner.run(["silver.q"])  # the same run id again
    assert p.version("silver.q__quarantine") == v
    assert p.read("silver.q__quarantine").height == 2
    p.run("silver.q", full_refresh=True)  # another run (a plain run is `unchanged`: same code, same inputs)
    q = p.read("silver.q__quarantine")
    assert q.height == 4 and q["_run_id"].n_unique() == 2
    assert sorted(p.read("silver.q")["id"].to_list()) == [1]


def test_error_and_warn_on_fail(rat_project):
    p = rat_project
    p.write("silver/w.sql", "SELECT * FROM (VALUES (1, 5), (2, -1)) AS t(id, v)\n")
    p.write("silver/w.yaml", """
        columns:
          - name: v
            tests:
              - positive: {config: {on_fail: warn}}
    """)
    res = p.run("silver.w")
    assert res["status"] == "success" and p.read("silver.w").height == 2
    check = next(c for c in res["checks"] if c["name"] == "positive_v")
    assert check["severity"] == "warn" and not check["passed"] and check["failing_rows"] == 1
    p.write("silver/w.yaml", """
        tests:
          - name: v_positive
            sql: SELECT * FROM {{ this }} WHERE v <= 0
            severity: warn
            on_fail: error
    """)
    with pytest.raises(CheckError):
        p.run("silver.w", full_refresh=True)
    assert p.version("silver.w") == 0


def test_drop_or_quarantine_on_an_aggregate_test_is_a_config_error_naming_file_and_line(rat_project):
    p = rat_project
    p.write("silver/u.sql", "SELECT 1 AS id\n")
    path = p.write("silver/u.yaml", """
        columns:
          - name: id
            tests:
              - unique: {config: {on_fail: drop}}
    """)
    with pytest.raises(RatatouilleError) as err:
        p.run("silver.u")
    assert isinstance(err.value, ConfigError)
    assert "aggregate" in str(err.value) and str(path) in str(err.value) and "line 4" in str(err.value)
    path = p.write("silver/u.yaml", """
        tests:
          - name: per_group
            sql: SELECT id, COUNT(*) AS n FROM {{ this }} GROUP BY id HAVING COUNT(*) > 1
            on_fail: quarantine
    """)
    with pytest.raises(ConfigError) as err:
        p.run("silver.u")
    assert "not row-level" in str(err.value) and str(path) in str(err.value) and "line 2" in str(err.value)
    assert p.version("silver.u") is None and p.version("silver.u__quarantine") is None
    p.write("silver/u.yaml", """
        tests:
          - name: bad
            sql: SELECT * FROM {{ this }} WHERE id < 0
            on_fail: explode
    """)
    with pytest.raises(ConfigError, match="on_fail .* must be one of"):
        p.run("silver.u")


def test_relationships_drop_and_dry_run_writes_no_quarantine(rat_project):
    p = rat_project
    p.write("silver/dim.sql", "SELECT * FROM (VALUES (1), (2)) AS t(id)\n")
    p.write("silver/fact.sql", "SELECT * FROM (VALUES (10, 1), (11, 3), (12, NULL)) AS t(fid, dim_id)\n")
    p.write("silver/fact.yaml", """
        columns:
          - name: dim_id
            tests:
              - relationships: {to: ref('silver.dim'), field: id, config: {on_fail: quarantine}}
    """)
    res = p.run("silver.fact", dry_run=True)
    fact = next(r for r in res.results if r["table"] == "silver.fact")
    assert fact["rows_quarantined"] == 1 and fact["rows_checked"] == 2
    assert p.version("silver.fact__quarantine") is None and p.version("silver.fact") is None
    p.run("*")
    assert sorted(p.read("silver.fact")["fid"].to_list()) == [10, 12]
    assert p.read("silver.fact__quarantine")["fid"].to_list() == [11]


def test_ingest_quarantine_names_the_landing_file_and_never_blocks_other_files(rat_project):
    p = rat_project
    p.write("bronze/ev.yaml", """
        source: landing/ev/
        format: csv
        columns:
          - name: amount
            tests:
              - min: {value: 0, config: {on_fail: quarantine}}
    """)
    p.landing("ev/good.csv", "id,amount\n1,5\n2,6\n")
    p.landing("ev/bad.csv", "id,amount\n3,7\n4,-1\n")
    res = p.run("bronze.ev")
    assert res["status"] == "success" and res["rows_quarantined"] == 1
    assert sorted(p.read("bronze.ev")["id"].to_list()) == [1, 2, 3]
    q = p.read("bronze.ev__quarantine")
    assert q["id"].to_list() == [4] and q["_source_file"].to_list()[0].endswith("bad.csv")
    assert q["_failed_tests"].to_list() == [["min_amount"]]
    # a landing file whose every row is quarantined: read again by later runs, never quarantined twice
    p.landing("ev/all_bad.csv", "id,amount\n5,-2\n6,-3\n")
    for _ in range(3):
        p.run("bronze.ev")
    q = p.read("bronze.ev__quarantine")
    assert sorted(q["id"].to_list()) == [4, 5, 6]
    assert sorted(p.read("bronze.ev")["id"].to_list()) == [1, 2, 3]


def test_drop_test_in_rat_test_reports_a_warning(rat_project):
    from ratatouille import tools

    p = rat_project
    p.write("silver/s.sql", "SELECT * FROM (VALUES (1), (-2)) AS t(v)\n")
    p.run("silver.s")
    p.write("silver/s.yaml", """
        columns:
          - name: v
            tests:
              - positive: {config: {on_fail: drop}}
    """)
    report = tools.test("silver.s")
    check = next(c for c in report["tables"][0]["checks"] if c["name"] == "positive_v")
    assert report["status"] == "warned" and check["failing_rows"] == 1 and check["on_fail"] == "drop"


def test_apply_on_fail_takes_a_lazy_frame():
    from ratatouille.check._on_fail import apply_on_fail
    from ratatouille.transforms import SQLTransform

    yaml = {"columns": [{"name": "a", "tests": [{"min": {"value": 2, "config": {"on_fail": "drop"}}}]}]}
    t = SQLTransform.from_text("silver.s", "SELECT 1 AS a", yaml=yaml)
    out = apply_on_fail(t, pl.LazyFrame({"a": [1, 2, 3, 0]}), run_id="r")
    assert isinstance(out.data, pl.LazyFrame)
    assert out.data.collect()["a"].to_list() == [2, 3] and out.rows_dropped == 2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_dagster_materialization_carries_the_drop_and_quarantine_counts(rat_project):
    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    p = rat_project
    p.write("silver/m.sql", "SELECT * FROM (VALUES (1, 5), (2, -1), (3, NULL)) AS t(id, v)\n")
    p.write("silver/m.yaml", """
        columns:
          - name: v
            tests:
              - not_null: {config: {on_fail: quarantine}}
              - positive: {config: {on_fail: drop}}
    """)
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.name.startswith("ratatouille")]
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    mat = next(m for m in result.get_asset_materialization_events()
               if m.asset_key.to_user_string() == "silver/m").materialization
    assert mat.metadata["rows_dropped"].value == 1 and mat.metadata["rows_quarantined"].value == 1
    assert mat.metadata["rows_removed_by_test"].value == {"not_null_v": 1, "positive_v": 1}
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals["positive_v"].metadata["rows_dropped"].value == 1
    assert sorted(p.read("silver.m")["id"].to_list()) == [1]
    assert p.read("silver.m__quarantine")["id"].to_list() == [3]


def test_a_view_reports_its_drop_tests_as_warnings(rat_project):
    p = rat_project
    p.write("silver/v.sql", "-- @materialized: view\nSELECT * FROM (VALUES (1), (-2)) AS t(v)\n")
    p.write("silver/v.yaml", """
        columns:
          - name: v
            tests:
              - positive: {config: {on_fail: drop}}
    """)
    res = p.run("silver.v")
    check = next(c for c in res["checks"] if c["name"] == "positive_v")
    assert res["status"] == "success" and check["failing_rows"] == 1 and check["severity"] == "warn"


def test_a_test_of_another_model_reads_the_quarantine_table_through_ref(lake_project):
    p = lake_project
    _orders(p, """
        columns:
          - name: product
            tests:
              - accepted_values: {values: [widget, gizmo], config: {on_fail: quarantine}}
    """)
    p.run("silver.orders", upstream=True)
    p.write("gold/summary.sql", "SELECT count(*) AS n FROM silver.orders\n")
    p.write("gold/summary.yaml", """
        tests:
          - name: nothing_quarantined
            sql: SELECT * FROM {{ ref('silver.orders__quarantine') }}
    """)
    with pytest.raises(CheckError, match="nothing_quarantined") as info:
        p.run("gold.summary")
    failed = next(c for c in info.value.checks if c["name"] == "nothing_quarantined")
    assert failed["failing_rows"] == 1 and failed["failures"][0]["id"] == 5  # the quarantined row
