"""The Dagster adapter: definitions, materializations, checks, partitions, sensors and the seed's samples.

Every test materializes for real (Delta tables in a temporary lake, an
ephemeral Dagster instance); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import polars as pl
import pytest

dg = pytest.importorskip("dagster")

from ratatouille import ConfigError, SchemaError  # noqa: E402
from ratatouille.dagster import build_definitions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AUTO = {("bronze", "sales"), ("silver", "sales"), ("gold", "sales_summary"), ("gold", "daily_revenue")}

warnings.filterwarnings("ignore", category=DeprecationWarning, module="dagster")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def instance():
    return dg.DagsterInstance.ephemeral()


def auto_assets(defs):
    """The multi-assets holding the transforms (one per partitions definition)."""
    return [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.name.startswith("ratatouille")]


def specs(defs) -> dict:
    """``{"silver/sales": AssetSpec}`` of every transform."""
    return {s.key.to_user_string(): s for a in auto_assets(defs) for s in a.specs}


def materialization(result, key):
    events = [e.materialization for e in result.get_asset_materialization_events()
              if e.materialization.asset_key == dg.AssetKey(key)]
    assert events, f"no materialization of {key}"
    return events[-1]


def md(mat, key):
    value = mat.metadata[key]
    return getattr(value, "value", value)


def checks_of(result):
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


# -- definitions ----------------------------------------------------------------------------------
def test_import_ratatouille_never_imports_dagster():
    code = ("import sys, ratatouille, ratatouille.cli, ratatouille.definitions, ratatouille.testing\n"
            "from ratatouille import run, query, read, tools, transform\n"
            "assert 'dagster' not in sys.modules, 'dagster was imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr


def test_sample_definitions_map_every_transform(sample):
    defs = build_definitions()
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    keys = {tuple(k.path) for k in graph.get_all_asset_keys()}
    assert AUTO | {("sales_bronze",), ("sales_silver",), ("sales_gold",)} <= keys  # auto and seed assets coexist

    from ratatouille.discover import Project

    project = Project.load(sample)
    by_key = {tuple(s.key.path): s for s in specs(defs).values()}
    assert set(by_key) == AUTO
    assert [a.node_def.name for a in auto_assets(defs)] == ["ratatouille"]  # one op backs every transform
    silver = by_key[("silver", "sales")]
    assert [d.asset_key for d in silver.deps] == [dg.AssetKey(["bronze", "sales"])]
    assert silver.group_name == "silver"  # the layer (a transform's group: setting wins, see below)
    assert by_key[("gold", "sales_summary")].group_name == "gold"
    assert silver.kinds == {"polars", "delta"}
    assert silver.code_version == project.get("silver.sales").code_version
    assert silver.description.startswith("Cleaned sales orders")
    assert by_key[("gold", "daily_revenue")].description == "Revenue and order count per day."  # the docstring
    assert silver.metadata["dagster/uri"] == str(sample / "lake" / "silver" / "sales")
    assert [c.name for c in silver.metadata["dagster/column_schema"].columns] == ["order_id", "product", "total"]

    check_keys = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert {("bronze/sales", "schema"), ("silver/sales", "schema"), ("silver/sales", "total_matches_quantity"),
            ("sales_silver", "silver_not_empty")} <= check_keys
    assert {j.name for j in defs.jobs} == {"bronze_job", "silver_job", "gold_job", "sales_pipeline"}
    assert {s.name for s in defs.sensors} == {"bronze__sales_sensor", "new_files_sensor"}
    assert repo.get_job("gold_job").asset_layer.executable_asset_keys == {
        dg.AssetKey(["gold", "sales_summary"]), dg.AssetKey(["gold", "daily_revenue"])}
    assert repo.get_job("sales_pipeline").asset_layer.executable_asset_keys == {  # the seed's group
        dg.AssetKey("sales_bronze"), dg.AssetKey("sales_silver"), dg.AssetKey("sales_gold")}
    assert "ratatouille/load_errors" not in defs.metadata


def test_code_version_follows_the_transform_text(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/b.sql", "SELECT x FROM silver.a")

    def versions():
        return {key: spec.code_version for key, spec in specs(build_definitions()).items()}

    before = versions()
    rat_project.write("silver/a.sql", "SELECT 2 AS x")
    after = versions()
    assert before["silver/a"] != after["silver/a"]
    assert before["silver/b"] == after["silver/b"]


def test_group_setting_wins_and_each_group_gets_a_job(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/b.sql", "SELECT x FROM silver.a")
    rat_project.write("silver/b.yaml", "group: finance\nowner: team:data\ntags: [pii]\n")
    defs = build_definitions()
    spec = specs(defs)
    assert spec["silver/a"].group_name == "silver" and spec["silver/b"].group_name == "finance"
    assert spec["silver/b"].owners == ["team:data"] and "pii" in spec["silver/b"].tags
    repo = defs.get_repository_def()
    assert repo.get_job("finance_job").asset_layer.executable_asset_keys == {dg.AssetKey(["silver", "b"])}
    assert repo.get_job("silver_job").asset_layer.executable_asset_keys == {dg.AssetKey(["silver", "a"])}
    result = repo.get_job("finance_job").execute_in_process(instance=instance(), raise_on_error=False)
    assert not result.success  # silver.a was never built: a clear error, nothing written
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "table silver.a has not been built yet" in failure.event_specific_data.error.message
    assert repo.get_job("silver_job").execute_in_process(instance=instance()).success
    assert repo.get_job("finance_job").execute_in_process(instance=instance()).success
    assert rat_project.read("silver.b")["x"].to_list() == [1]


def test_building_definitions_touches_no_table_and_imports_no_transform(rat_project, monkeypatch):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    py = rat_project.write("gold/g.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("gold.g", inputs=["silver.a"])
        def g(a: pl.LazyFrame) -> pl.LazyFrame:
            """Gold from a."""
            return a
    ''')
    rat_project.run("*")  # the tables exist: building must still not open them
    import deltalake

    def no_delta(*args, **kwargs):
        raise AssertionError("a Delta table was opened while building definitions")

    monkeypatch.setattr(deltalake.DeltaTable, "__init__", no_delta)
    monkeypatch.setattr(pl, "scan_delta", no_delta)
    for name in [n for n, m in list(sys.modules.items()) if getattr(m, "__file__", None) == str(py)]:
        monkeypatch.delitem(sys.modules, name)  # imported by the run above
    defs = build_definitions()
    assert set(specs(defs)) == {"silver/a", "gold/g"}
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == str(py)]
    spec = specs(defs)["gold/g"]
    assert spec.description == "Gold from a." and spec.code_version


def test_definitions_module_is_lazy_and_found_by_dagster(sample):
    code = ("import sys\nimport ratatouille.definitions as m\n"
            "assert 'dagster' not in sys.modules\n"
            "from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module\n"
            "targets = loadable_targets_from_python_module('ratatouille.definitions', None)\n"
            "import dagster\nassert [t.attribute for t in targets] == ['defs']\n"
            "assert isinstance(targets[0].target_definition, dagster.Definitions)\n"
            "print(sorted(k.to_user_string() for k in m.defs.get_repository_def().asset_graph.get_all_asset_keys()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=sample, timeout=120,
                         env={**os.environ, "RAT_PROJECT_DIR": str(sample)})
    assert out.returncode == 0, out.stderr
    assert "silver/sales" in out.stdout and "sales_silver" in out.stdout


# -- materializing --------------------------------------------------------------------------------
def test_materialize_the_sample_pipeline_reports_table_metadata(sample):
    defs = build_definitions()
    result = dg.materialize(auto_assets(defs), instance=instance())
    assert result.success
    expected_rows = {"bronze/sales": 10, "silver/sales": 9, "gold/sales_summary": 9, "gold/daily_revenue": 3}
    for key, rows in expected_rows.items():
        mat = materialization(result, key.split("/"))
        assert md(mat, "dagster/row_count") == rows
        assert md(mat, "delta_version") == 0
        assert md(mat, "dagster/uri") == str(sample / "lake" / key)
        assert md(mat, "status") == "success"
    silver = materialization(result, ["silver", "sales"])
    assert md(silver, "mode") == "merge" and md(silver, "rows_written") == 9
    columns = [c.name for c in md(silver, "dagster/column_schema").columns]
    assert columns[:3] == ["order_id", "order_date", "product"] and "total" in columns
    preview = md(silver, "preview")
    assert preview.startswith("| order_id | order_date |") and preview.count("\n") == 6  # header, rule, 5 rows
    assert md(materialization(result, ["bronze", "sales"]), "files_ingested") == 3
    checks = checks_of(result)
    assert checks[("silver/sales", "total_matches_quantity")].passed
    assert checks[("silver/sales", "schema")].passed
    assert checks[("silver/sales", "schema")].metadata["failing_rows"].value == 0

    from ratatouille import query

    assert query("SELECT COUNT(*) AS cnt FROM silver.sales")["cnt"][0] == 9

    again = dg.materialize(auto_assets(defs), instance=instance())  # nothing new landed
    bronze = materialization(again, ["bronze", "sales"])
    assert md(bronze, "status") == "unchanged" and md(bronze, "delta_version") == 0
    assert md(bronze, "dagster/row_count") == 10
    assert ("bronze/sales", "schema") not in checks_of(again)  # not evaluated: shown as not executed, never passed


def test_failed_error_check_fails_the_step_and_keeps_the_table(rat_project):
    rat_project.write("silver/t.sql", "SELECT * FROM (VALUES (1, 10), (2, 20)) AS v(id, amount)")
    rat_project.write("silver/t.yaml", """
        tests:
          - name: no_negative
            sql: SELECT * FROM {{ this }} WHERE amount < 0
            severity: error
          - name: small_amounts
            sql: SELECT * FROM {{ this }} WHERE amount > 15
            severity: warn
    """)
    defs = build_definitions()
    ok = dg.materialize(auto_assets(defs), instance=instance())
    assert ok.success
    warn = checks_of(ok)[("silver/t", "small_amounts")]
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.metadata["failing_rows"].value == 1
    assert rat_project.version("silver.t") == 0

    rat_project.write("silver/t.sql", "SELECT * FROM (VALUES (1, -10), (2, -20), (3, 5)) AS v(id, amount)")
    defs = build_definitions()
    failed = dg.materialize(auto_assets(defs), instance=instance(), raise_on_error=False)
    assert not failed.success
    check = checks_of(failed)[("silver/t", "no_negative")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failing_rows"].value == 2
    assert not failed.get_asset_materialization_events()
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no_negative" in failure.event_specific_data.error.message
    assert rat_project.version("silver.t") == 0  # unchanged
    assert rat_project.read("silver.t")["amount"].to_list() == [10, 20]


def test_schema_check_failures_carry_counts(rat_project):
    rat_project.write("silver/p.sql", "SELECT * FROM (VALUES (1, 'a'), (NULL, 'b'), (NULL, 'z')) AS v(id, code)")
    rat_project.write("silver/p.yaml", """
        columns:
          - name: id
            tests: [not_null]
          - name: code
            tests:
              - accepted_values: [a, b]
    """)
    failed = dg.materialize(auto_assets(build_definitions()), instance=instance(), raise_on_error=False)
    check = checks_of(failed)[("silver/p", "schema")]
    assert not check.passed
    assert check.metadata["failing_rows_by_column"].value == {"id": 2, "code": 1}
    assert rat_project.version("silver.p") is None


def test_broken_transform_is_an_asset_that_fails_clearly(rat_project):
    rat_project.write("silver/good.sql", "SELECT 1 AS x")
    rat_project.write("silver/bad.sql", "SELECT *\nFROM\nWHERE x\n")
    defs = build_definitions()
    assert "does not load" in specs(defs)["silver/bad"].description
    result = dg.materialize(auto_assets(defs), instance=instance(), raise_on_error=False)
    assert materialization(result, ["silver", "good"])
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "bad.sql" in failure.event_specific_data.error.message


# -- partitions -----------------------------------------------------------------------------------
RAW = """
    SELECT CAST(d AS DATE) AS day, region, v FROM (VALUES
      ('2024-01-01', 'north', 1), ('2024-01-02', 'north', 2), ('2024-01-02', 'south', 3),
      ('2024-01-03', 'south', {x})) AS t(d, region, v)
"""


def _partitioned_project(rat_project, x: int = 4) -> None:
    rat_project.write("bronze/raw.sql", RAW.format(x=x))
    rat_project.write("silver/daily.sql", """
        -- @partition_by: day
        SELECT day, region, v * 10 AS v10, '{{ var('partition', 'none') }}' AS built_for FROM bronze.raw
    """)
    rat_project.write("silver/daily.yaml", "partitions: {daily: 2024-01-01, end: 2024-01-05}\n")
    rat_project.write("silver/by_region.sql", "-- @partition_by: region\nSELECT region, SUM(v) AS v FROM bronze.raw GROUP BY region")
    rat_project.write("silver/by_region.yaml", "partitions: [north, south]\n")


def test_partitioned_assets_write_only_their_partition(rat_project):
    _partitioned_project(rat_project)
    rat_project.run("bronze.raw")
    defs = build_definitions()
    daily = next(a for a in auto_assets(defs) if dg.AssetKey(["silver", "daily"]) in a.keys)
    assert daily.keys == {dg.AssetKey(["silver", "daily"])} and daily.node_def.name == "ratatouille_daily"
    assert isinstance(daily.partitions_def, dg.DailyPartitionsDefinition)
    assert daily.partitions_def.get_partition_keys()[:2] == ["2024-01-01", "2024-01-02"]
    jobs = {j.name for j in defs.jobs}
    assert {"bronze_job", "silver_daily_job", "silver_static_job"} <= jobs
    defs.get_repository_def().get_job("silver_daily_job")  # one partitions definition per job: it resolves

    r = dg.materialize([daily], partition_key="2024-01-02", instance=instance())
    mat = materialization(r, ["silver", "daily"])
    assert md(mat, "dagster/partition_row_count") == 2 and md(mat, "dagster/row_count") == 2
    assert md(mat, "partition") == "2024-01-02" and md(mat, "delta_version") == 0
    table = rat_project.read("silver.daily")
    assert table["day"].cast(pl.String).unique().to_list() == ["2024-01-02"]
    assert table["built_for"].unique().to_list() == ["2024-01-02"]  # {{ var('partition') }}

    dg.materialize([daily], partition_key="2024-01-03", instance=instance())
    assert rat_project.version("silver.daily") == 1 and rat_project.read("silver.daily").height == 3

    # new data upstream: rebuilding 2024-01-03 replaces that partition only
    _partitioned_project(rat_project, x=7)
    rat_project.run("bronze.raw")
    dg.materialize([daily], partition_key="2024-01-03", instance=instance())
    table = rat_project.read("silver.daily").sort("day", "region")
    assert table["v10"].to_list() == [20, 30, 70]
    from ratatouille import tools

    last = tools.history("silver.daily")
    params = json.loads(last["parameters"][0])
    assert params["mode"] == "Overwrite" and "2024-01-03" in params["predicate"]

    static = next(a for a in auto_assets(defs) if dg.AssetKey(["silver", "by_region"]) in a.keys)
    assert static.partitions_def.get_partition_keys() == ["north", "south"]
    dg.materialize([static], partition_key="south", instance=instance())
    assert rat_project.read("silver.by_region").rows() == [("south", 10)]


def test_wrong_partition_key_is_an_error_and_writes_nothing(rat_project):
    _partitioned_project(rat_project)
    rat_project.run("bronze.raw")
    rat_project.run("silver.daily", partition="2024-01-01")
    with pytest.raises(ConfigError, match="partition key 'north' does not fit column 'day'"):
        rat_project.run("silver.daily", partition="north")
    with pytest.raises(ConfigError, match="needs partition_by"):
        rat_project.run("bronze.raw", partition="2024-01-01")
    assert rat_project.version("silver.daily") == 0

    # a row outside the partition is refused, never a wider overwrite
    from ratatouille.discover import Project
    from ratatouille.write import OverwritePartition

    target = Project.load().target("silver.daily")
    import datetime as dt

    rows = pl.DataFrame({"day": [dt.date(2024, 1, 2)], "region": ["x"], "v10": [1], "built_for": ["x"]})
    with pytest.raises(SchemaError, match="outside partition"):
        OverwritePartition("day", dt.date(2024, 1, 1)).write(target, rows)
    assert target.open().version() == 0 and rat_project.read("silver.daily").height == 1


def test_bad_partitions_setting_is_reported(rat_project):
    rat_project.write("silver/ok.sql", "SELECT 1 AS x")
    rat_project.write("silver/p.sql", "SELECT 1 AS x")
    rat_project.write("silver/p.yaml", "partitions: {daily: 2024-01-01}\n")  # no partition_by
    defs = build_definitions()
    errors = defs.metadata["ratatouille/load_errors"].value
    assert len(errors) == 1 and "needs partition_by" in errors[0] and "p.yaml" in errors[0]
    assert set(specs(defs)) == {"silver/ok", "silver/p"}
    with pytest.raises(ConfigError, match="needs partition_by"):
        build_definitions(strict=True)


# -- triggers and sensors -------------------------------------------------------------------------
def test_schedule_and_sensor_triggers_from_yaml(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("gold/g.sql", "SELECT x FROM silver.a")
    rat_project.write("gold/g.yaml", """
        triggers:
          - schedule: "0 6 * * *"
            timezone: Europe/Paris
            upstream: true
          - sensor: landing/drops/
            status: running
    """)
    defs = build_definitions()
    schedule = next(s for s in defs.schedules if s.name == "gold__g_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Europe/Paris"
    data = schedule.evaluate_tick(dg.build_schedule_context())
    assert len(data.run_requests) == 1
    sensor = next(s for s in defs.sensors if s.name == "gold__g_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert not sensor.evaluate_tick(dg.build_sensor_context()).run_requests
    rat_project.landing("drops/one.txt", "hello")
    tick = sensor.evaluate_tick(dg.build_sensor_context())
    assert len(tick.run_requests) == 1 and json.loads(tick.cursor)["path"].endswith("one.txt")

    repo = defs.get_repository_def()
    targets = repo.get_job(schedule.job_name).asset_layer.executable_asset_keys
    assert targets == {dg.AssetKey(["gold", "g"]), dg.AssetKey(["silver", "a"])}  # upstream: true


def test_invalid_trigger_is_a_clear_error(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/a.yaml", "triggers:\n  - schedule: every morning\n")
    with pytest.raises(ConfigError, match=r"triggers\[0\]: schedule must be a cron string") as err:
        build_definitions(strict=True)
    assert "a.yaml" in str(err.value)


def _ingest_project(rat_project) -> None:
    rat_project.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\n")
    rat_project.write("silver/orders.sql", "SELECT id, amount * 2 AS double FROM bronze.orders")


def test_ingest_landing_sensor_requests_one_run_per_new_file(lake_project):
    rat_project = lake_project  # a local lake, then an S3 one (moto)
    newer = 1.1 if str(rat_project.lake).startswith("s3://") else 0.02  # S3 times are in whole seconds
    _ingest_project(rat_project)
    defs = build_definitions()
    sensor = next(s for s in defs.sensors if s.name == "bronze__orders_sensor")

    def tick(cursor):
        return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))

    first = tick(None)
    assert not first.run_requests and first.skip_message.startswith("no new file")

    rat_project.landing("orders/a.csv", "id,amount\n1,10\n")
    one = tick(None)
    assert len(one.run_requests) == 1 and json.loads(one.cursor)["path"].endswith("a.csv")
    assert one.run_requests[0].tags["ratatouille/new_files"] == "1"
    assert not tick(one.cursor).run_requests  # the same file never triggers twice

    time.sleep(newer)
    rat_project.landing("orders/c.csv", "id,amount\n3,30\n")
    time.sleep(newer)
    rat_project.landing("orders/b.csv", "id,amount\n2,20\n")  # newer, although its name sorts first
    two = tick(one.cursor)
    assert len(two.run_requests) == 1 and two.run_requests[0].tags["ratatouille/new_files"] == "2"
    assert json.loads(two.cursor)["path"].endswith("b.csv")
    assert not tick(two.cursor).run_requests
    assert len({r.run_key for r in (*one.run_requests, *two.run_requests)}) == 2

    # the request targets the ingest asset and what depends on it: run it
    repo = defs.get_repository_def()
    job = repo.get_job(sensor.job_name)
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey(["bronze", "orders"]), dg.AssetKey(["silver", "orders"])}
    result = job.execute_in_process(instance=instance(), tags=two.run_requests[0].tags)
    assert result.success
    assert sorted(rat_project.read("silver.orders")["double"].to_list()) == [20, 40, 60]


def test_landing_sensor_sees_files_landing_with_an_old_modification_time(rat_project):
    """``cp -p`` / ``rsync -a`` keep a file's old mtime: the ingest table, not the clock, says what is new."""
    _ingest_project(rat_project)
    sensor = next(s for s in build_definitions().sensors if s.name == "bronze__orders_sensor")

    def tick(cursor):
        return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))

    rat_project.landing("orders/new.csv", "id,amount\n1,10\n")
    first = tick(None)
    assert len(first.run_requests) == 1
    rat_project.run("bronze.orders")                       # the requested run ingests it
    old = rat_project.landing("orders/old.csv", "id,amount\n2,20\n")
    os.utime(old, (time.time() - 86400, time.time() - 86400))  # a day older than the cursor's newest file
    second = tick(first.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].tags["ratatouille/new_files"] == "1"
    assert json.loads(second.cursor)["pending"] == ["landing/orders/old.csv"]
    assert not tick(second.cursor).run_requests            # requested once, not at every tick
    rat_project.run("bronze.orders")
    rat_project.landing("orders/manual.csv", "id,amount\n3,30\n")
    rat_project.run("bronze.orders")                       # ingested by hand before the sensor ticks
    third = tick(second.cursor)
    assert not third.run_requests and "no new file" in third.skip_message


def test_landing_sensor_waits_while_its_previous_run_is_going(rat_project):
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    _ingest_project(rat_project)
    sensor = next(s for s in build_definitions().sensors if s.name == "bronze__orders_sensor")
    rat_project.landing("orders/a.csv", "id,amount\n1,10\n")
    inst = instance()
    inst.add_run(DagsterRun(job_name="__ASSET_JOB", run_id="r1", status=DagsterRunStatus.STARTED,
                            tags={"ratatouille/sensor": "bronze__orders_sensor"}))
    with dg.build_sensor_context(instance=inst) as ctx:
        busy = sensor.evaluate_tick(ctx)
    assert not busy.run_requests and "still going" in busy.skip_message and busy.cursor is None
    inst.report_run_failed(inst.get_run_by_id("r1"))
    with dg.build_sensor_context(instance=inst) as ctx:
        assert len(sensor.evaluate_tick(ctx).run_requests) == 1


# -- user code: pipelines/ and dropped-in modules -------------------------------------------------
def test_seed_pipeline_samples_materialize(sample):
    defs = build_definitions()
    from dagster import materialize
    from pipelines.sales import all_asset_checks, sales_bronze, sales_silver

    result = materialize([sales_bronze, sales_silver])
    assert result.success
    assert md(materialization(result, ["sales_silver"]), "row_count") == 9
    from ratatouille import query

    assert query("SELECT COUNT(*) AS cnt FROM bronze.sales")["cnt"][0] == 10

    checked = materialize([sales_silver, *all_asset_checks], instance=instance())
    check = checks_of(checked)[("sales_silver", "silver_not_empty")]
    assert check.passed and check.metadata["row_count"].value == 9

    # the seed's job (group "sales") on the definitions, on an empty lake
    shutil.rmtree(sample / "lake" / "bronze")
    shutil.rmtree(sample / "lake" / "silver")
    job = defs.resolve_job_def("sales_pipeline")
    run = job.execute_in_process(instance=instance())
    assert run.success
    assert query("SELECT COUNT(*) AS cnt FROM gold.sales_summary")["cnt"][0] == 9


def test_seed_sensor_sample_uses_tools_ls_and_a_cursor(sample):
    from pipelines.sales.sensors import new_files_sensor

    first = new_files_sensor.evaluate_tick(dg.build_sensor_context())
    assert len(first.run_requests) == 1 and first.cursor.endswith("2024-01-03.csv")
    assert first.run_requests[0].run_key == f"ingest-{first.cursor}"
    assert not new_files_sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor)).run_requests
    (sample / "lake/landing/sales/2024-01-04.csv").write_text("order_id,order_date,product,quantity,unit_price,customer\n")
    assert len(new_files_sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor)).run_requests) == 1


def test_dropped_in_modules_are_merged(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("my_pipeline.py", """
        from dagster import AssetKey, asset, asset_check, AssetCheckResult, define_asset_job, AssetSelection
        from ratatouille import query

        @asset(deps=[AssetKey(["silver", "a"])], group_name="mine")
        def report():
            return query("SELECT COUNT(*) AS n FROM silver.a")["n"][0]

        @asset_check(asset=AssetKey(["silver", "a"]))
        def a_has_rows():
            return AssetCheckResult(passed=query("SELECT COUNT(*) AS n FROM silver.a")["n"][0] > 0)

        mine_job = define_asset_job("mine_job", AssetSelection.groups("mine"))
    """)
    rat_project.write("gold/extra.py", """
        import dagster as dg

        @dg.asset(key=["gold", "extra"], deps=[dg.AssetKey("report")])
        def extra():
            return 1
    """)
    only_transform = rat_project.write("gold/pure.py", """
        import polars as pl
        from ratatouille import transform

        @transform("gold.pure", inputs=["silver.a"])
        def pure(a: pl.LazyFrame) -> pl.LazyFrame:
            return a
    """)
    defs = build_definitions()
    keys = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    assert {"silver/a", "report", "gold/extra", "gold/pure"} <= keys
    assert "mine_job" in {j.name for j in defs.jobs}
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == str(only_transform)]
    result = dg.materialize([*auto_assets(defs), *[a for a in defs.assets if dg.AssetKey("report") in a.keys],
                             *defs.asset_checks], instance=instance(), selection=["silver/a", "report"])
    assert result.success and result.output_for_node("report") == 1
    assert checks_of(result)[("silver/a", "a_has_rows")].passed


def test_name_clash_is_an_error_naming_both_places(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("clash.py", """
        from dagster import asset

        @asset(key=["silver", "a"])
        def shadow():
            return 1
    """)
    with pytest.raises(ConfigError) as err:
        build_definitions()
    message = str(err.value)
    assert "asset key 'silver/a' is defined twice" in message
    assert "transform silver.a (workspaces/default/pipelines/silver/a.sql)" in message
    assert "workspaces/default/pipelines/clash.py" in message


def test_job_clash_between_pipelines_and_a_dropped_in_module(rat_project):
    pkg = rat_project.root / "pipelines"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from dagster import define_asset_job\nall_jobs = [define_asset_job('nightly', selection='*')]\n")
    rat_project.write("dev.py", "from dagster import define_asset_job\nnightly = define_asset_job('nightly')\n")
    with pytest.raises(ConfigError, match=r"job 'nightly' is defined twice: by pipelines/__init__.py \(all_jobs\) "
                                          r"and by workspaces/default/pipelines/dev.py \(nightly\)"):
        build_definitions()


def test_dropped_in_module_that_fails_to_import_is_reported(rat_project, caplog):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("broken.py", "import dagster\n\nraise RuntimeError('boom')\n")
    with caplog.at_level("ERROR", logger="ratatouille"):
        defs = build_definitions()
    assert set(specs(defs)) == {"silver/a"}  # the rest still loads
    errors = defs.metadata["ratatouille/load_errors"].value
    assert len(errors) == 1 and "broken.py" in errors[0] and "boom" in errors[0] and "line 3" in errors[0]
    assert "broken.py" in caplog.text
    with pytest.raises(ConfigError, match="boom") as err:
        build_definitions(strict=True)
    assert err.value.file.endswith("broken.py")


def test_dropped_in_module_with_a_syntax_error_breaks_nothing_else(rat_project, caplog):
    """Its docstring says 'transform', so discovery reads it for @transform too: still only it fails."""
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("broken_mod.py", '"""Assets that transform things."""\nimport dagster\n\ndef oops(:\n    pass\n')
    with caplog.at_level("WARNING", logger="ratatouille"):
        assert rat_project.run("silver.a")["status"] == "success"
    assert "broken_mod.py" in caplog.text
    defs = build_definitions()
    assert set(specs(defs)) == {"silver/a"}
    errors = defs.metadata["ratatouille/load_errors"].value
    assert len(errors) == 1 and "broken_mod.py" in errors[0]


def test_check_on_a_missing_asset_is_a_clear_error(rat_project):
    rat_project.write("silver/sales.sql", "SELECT 1 AS x")
    rat_project.write("checks.py", """
        from dagster import AssetCheckResult, AssetKey, asset_check

        @asset_check(asset=AssetKey(["silver", "sale"]))
        def typo():
            return AssetCheckResult(passed=True)
    """)
    with pytest.raises(ConfigError, match=r"asset check 'typo' \(workspaces/default/pipelines/checks.py \(typo\)\) "
                                          r"targets asset 'silver/sale', which does not exist; did you mean silver/sales"):
        build_definitions()


def test_pipelines_package_that_fails_to_import_names_the_file(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    pkg = rat_project.root / "pipelines"
    (pkg / "sales").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sales import all_assets\n")
    (pkg / "sales" / "__init__.py").write_text("x = 1\nall_assets = [undefined_name]\n")
    with pytest.raises(ConfigError, match="NameError") as err:
        build_definitions()
    assert err.value.file.endswith("pipelines/sales/__init__.py") and err.value.line == 2


def test_workspace_definitions_overlay_default(rat_project):
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/b.sql", "SELECT x FROM silver.a")
    rat_project.write("tools.py", "from dagster import asset\n\n@asset\ndef helper():\n    return 'default'\n")
    rat_project.write("silver/a.sql", "SELECT 2 AS x", workspace="alice")
    rat_project.write("tools.py", "from dagster import asset\n\n@asset\ndef helper_alice():\n    return 'alice'\n",
                      workspace="alice")
    default = build_definitions()
    alice = build_definitions(workspace="alice")
    spec = specs(alice)
    assert set(spec) == {"silver/a", "silver/b"}
    assert spec["silver/a"].metadata["dagster/uri"].endswith("workspaces/alice/silver/a")
    assert spec["silver/a"].code_version != specs(default)["silver/a"].code_version
    assert spec["silver/b"].code_version == specs(default)["silver/b"].code_version
    keys = {k.to_user_string() for k in alice.get_repository_def().asset_graph.get_all_asset_keys()}
    assert "helper_alice" in keys and "helper" not in keys  # alice's tools.py overrides default's
    result = dg.materialize(auto_assets(alice), instance=instance())
    assert result.success
    assert rat_project.version("silver.a", workspace="alice") == 0 and rat_project.version("silver.a") is None


def test_rat_run_partition_flag_rebuilds_one_partition(rat_project):
    _partitioned_project(rat_project)
    rat_project.run("bronze.raw")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")} | {"COLUMNS": "200",
                                                                                "RAT_SETTLE_SECONDS": "0"}

    def rat(*args):
        return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=rat_project.root,
                              capture_output=True, text=True, env=env, timeout=120)

    out = rat("run", "silver.daily", "--partition", "2024-01-02")
    assert out.returncode == 0, out.stderr
    assert rat_project.read("silver.daily")["built_for"].unique().to_list() == ["2024-01-02"]
    out = rat("run", "silver.daily", "-p", "2024-01-03")
    assert out.returncode == 0, out.stderr
    assert rat_project.read("silver.daily")["day"].cast(pl.String).unique().sort().to_list() == [
        "2024-01-02", "2024-01-03"]
    out = rat("run", "silver.daily", "-p", "north")
    assert out.returncode == 1 and "does not fit column 'day'" in out.stderr and "Traceback" not in out.stderr
    assert rat_project.version("silver.daily") == 1
