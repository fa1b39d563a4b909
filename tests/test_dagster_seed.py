"""The Dagster samples of the user's doc page ("Python Pipelines"), run as written.

The samples go, verbatim, into a dropped-in module of a temporary project
(``workspaces/default/pipelines/my_pipeline.py``) whose tables have the
columns they query (``silver.my_data``, ``silver.sales`` with ``date``,
``product``, ``total``). The only glue is what the page leaves implicit: the
imports each snippet assumes from the ones before it, and a ``my_bronze``
asset for "Asset with Dependencies" to depend on. The "Complete Pipeline
Example" is this repo's ``pipelines/sales`` (see ``test_dagster.py``).
"""

from __future__ import annotations

import json

import pytest

dg = pytest.importorskip("dagster")

from ratatouille.dagster import build_definitions  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

GLUE = '''
from dagster import asset, AssetExecutionContext, MaterializeResult, MetadataValue, AssetKey
from ratatouille import run, query


@asset(group_name="my_pipeline", compute_kind="python")
def my_bronze(context: AssetExecutionContext) -> MaterializeResult:
    result = run("bronze.sales")
    return MaterializeResult(metadata={"status": MetadataValue.text(result["status"])})
'''

OVERVIEW = '''
from dagster import asset
from ratatouille import run

@asset
def my_silver_data():
    result = run("silver.my_data")
    return result
'''

BASIC_ASSET = '''
from dagster import asset, AssetExecutionContext, MaterializeResult, MetadataValue
from ratatouille import run

@asset(
    # Grouping in Dagster UI
    group_name="my_pipeline",

    # Rich description (supports markdown)
    description="""
    ## Silver: Cleaned Sales Data

    Transforms bronze sales data with cleaning and calculations.

    ### Output
    | Column | Type |
    |--------|------|
    | date | date |
    | product | string |
    | total | decimal |
    """,

    # Shows icon in UI
    compute_kind="sql",

    # For Dagster caching
    code_version="1.0.0",
)
def my_silver(context: AssetExecutionContext) -> MaterializeResult:
    """Transform bronze to silver."""

    result = run("silver.sales")

    context.log.info(f"Pipeline completed: {result}")

    return MaterializeResult(
        metadata={
            "status": MetadataValue.text(result.get("status", "completed")),
        }
    )
'''

BASIC_ASSET_NAME = "my_silver_basic"

WITH_DEPENDENCIES = '''
@asset(
    group_name="my_pipeline",
    deps=[my_bronze],  # Depends on my_bronze
    compute_kind="sql",
)
def my_silver(context: AssetExecutionContext) -> MaterializeResult:
    """Clean and transform to silver."""

    result = run("silver.sales")

    return MaterializeResult(
        metadata={
            "status": MetadataValue.text("completed"),
        }
    )
'''

METADATA = '''
from dagster import MetadataValue
from ratatouille import query

@asset
def my_asset():
    result = run("silver.sales")

    # Get row count for metadata
    df = query("SELECT COUNT(*) as cnt FROM silver.sales")
    row_count = df['cnt'][0]

    return MaterializeResult(
        metadata={
            # Numbers
            "row_count": MetadataValue.int(row_count),

            # Text
            "status": MetadataValue.text("completed"),

            # JSON
            "result": MetadataValue.json(result),

            # Markdown (great for previews!)
            "preview": MetadataValue.md("| col1 | col2 |\\n|---|---|"),
        }
    )
'''

CHECKS = '''
from dagster import asset_check, AssetCheckResult, AssetCheckSeverity, AssetKey
from ratatouille import query

@asset_check(
    asset=AssetKey("my_silver"),
    description="Table must have data"
)
def check_not_empty() -> AssetCheckResult:
    df = query("SELECT COUNT(*) as cnt FROM silver.sales")
    row_count = df['cnt'][0]

    return AssetCheckResult(
        passed=row_count > 0,
        metadata={"row_count": row_count},
        description=f"Found {row_count} rows"
    )


@asset_check(
    asset=AssetKey("my_silver"),
    description="No nulls in key columns"
)
def check_no_nulls() -> AssetCheckResult:
    df = query("""
        SELECT
            SUM(CASE WHEN date IS NULL THEN 1 ELSE 0 END) as null_date,
            SUM(CASE WHEN product IS NULL THEN 1 ELSE 0 END) as null_product
        FROM silver.sales
    """)

    total_nulls = df['null_date'][0] + df['null_product'][0]

    return AssetCheckResult(
        passed=total_nulls == 0,
        metadata={"null_counts": {"date": df['null_date'][0], "product": df['null_product'][0]}},
        severity=AssetCheckSeverity.ERROR if total_nulls > 0 else AssetCheckSeverity.WARN
    )
'''

JOBS = '''
from dagster import define_asset_job, AssetSelection

# All assets in a group
my_pipeline_job = define_asset_job(
    name="my_pipeline_job",
    selection=AssetSelection.groups("my_pipeline")
)

# Specific assets
silver_only_job = define_asset_job(
    name="silver_only",
    selection=AssetSelection.assets(my_silver)
)

# Assets and downstream
with_downstream = define_asset_job(
    name="full_pipeline",
    selection=AssetSelection.assets(my_bronze).downstream()
)
'''

SENSORS = '''
from dagster import sensor, RunRequest, SensorEvaluationContext, DefaultSensorStatus
from ratatouille import tools

@sensor(
    job=my_pipeline_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def new_files_sensor(context: SensorEvaluationContext):
    """Watch for new files in landing zone."""

    files = tools.ls("landing/sales/")

    # Track which files we've seen
    last_seen = context.cursor or ""
    new_files = [f for f in files if f > last_seen]

    if new_files:
        context.update_cursor(max(new_files))
        yield RunRequest(
            run_key=f"ingest-{max(new_files)}",
            run_config={}
        )
'''

PROGRAMMATIC = '''
from dagster import materialize
from my_pipeline import sales_bronze, sales_silver

result = materialize([sales_bronze, sales_silver])
'''


@pytest.fixture
def docs_project(rat_project):
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    rat_project.write("silver/sales.sql", """
        SELECT CAST(order_date AS DATE) AS date, product, quantity * unit_price AS total
        FROM bronze.sales WHERE quantity > 0
    """)
    rat_project.write("silver/my_data.sql", "SELECT product, SUM(total) AS total FROM silver.sales GROUP BY product")
    rat_project.landing("sales/2024-01-01.csv", "order_id,order_date,product,quantity,unit_price\n"
                                                "1,2024-01-01,widget,2,2.5\n2,2024-01-01,gadget,1,10\n")
    rat_project.landing("sales/2024-01-02.csv", "order_id,order_date,product,quantity,unit_price\n"
                                                "3,2024-01-02,widget,0,2.5\n4,2024-01-02,gizmo,3,1\n")
    # the basic asset and the one with dependencies are two versions of my_silver: the module keeps the last
    module = "\n".join([GLUE, OVERVIEW, BASIC_ASSET.replace("def my_silver(", f"def {BASIC_ASSET_NAME}("),
                        WITH_DEPENDENCIES, METADATA, CHECKS, JOBS, SENSORS])
    rat_project.write("my_pipeline.py", module)
    return rat_project


def _by_key(defs):
    return {k.to_user_string(): a for a in defs.assets if isinstance(a, dg.AssetsDefinition) for k in a.keys}


def test_every_doc_sample_loads_as_a_dropped_in_module(docs_project):
    defs = build_definitions()
    assets = _by_key(defs)
    assert {"my_silver_data", "my_silver", "my_silver_basic", "my_bronze", "my_asset", "bronze/sales"} <= set(assets)
    assert assets["my_silver"].asset_deps[dg.AssetKey("my_silver")] == {dg.AssetKey("my_bronze")}
    assert assets["my_silver_basic"].code_versions_by_key[dg.AssetKey("my_silver_basic")] == "1.0.0"
    assert "Silver: Cleaned Sales Data" in assets["my_silver_basic"].descriptions_by_key[dg.AssetKey("my_silver_basic")]
    assert {j.name for j in defs.jobs} >= {"my_pipeline_job", "silver_only", "full_pipeline"}
    assert "new_files_sensor" in {s.name for s in defs.sensors}
    repo = defs.get_repository_def()
    assert repo.get_job("full_pipeline").asset_layer.executable_asset_keys == {
        dg.AssetKey("my_bronze"), dg.AssetKey("my_silver")}


def test_doc_samples_materialize_and_check(docs_project):
    defs = build_definitions()
    repo = defs.get_repository_def()
    inst = dg.DagsterInstance.ephemeral()

    pipeline = repo.get_job("my_pipeline_job").execute_in_process(instance=inst)  # my_bronze, my_silver, my_silver_basic
    assert pipeline.success
    assert docs_project.read("silver.sales").height == 3

    assets = _by_key(defs)
    result = dg.materialize([assets["my_silver_data"], assets["my_asset"], assets["my_silver"], *defs.asset_checks],
                            instance=inst, selection=["my_silver_data", "my_asset", "my_silver"])
    assert result.success
    assert result.output_for_node("my_silver_data")["status"] == "success"   # the RunResult, stored by Dagster
    assert result.output_for_node("my_silver_data")["table"] == "silver.my_data"
    mat = {e.materialization.asset_key.to_user_string(): e.materialization
           for e in result.get_asset_materialization_events()}
    assert mat["my_asset"].metadata["row_count"].value == 3
    assert mat["my_asset"].metadata["result"].value["table"] == "silver.sales"   # MetadataValue.json(result)
    json.dumps(mat["my_asset"].metadata["result"].value)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["check_not_empty"].passed and checks["check_not_empty"].metadata["row_count"].value == 3
    assert checks["check_no_nulls"].passed and checks["check_no_nulls"].severity == dg.AssetCheckSeverity.WARN
    assert checks["check_no_nulls"].metadata["null_counts"].value == {"date": 0, "product": 0}

    silver_only = repo.get_job("silver_only").execute_in_process(instance=inst)
    assert silver_only.success


def test_doc_sensor_sample(docs_project):
    defs = build_definitions()
    sensor = next(s for s in defs.sensors if s.name == "new_files_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.minimum_interval_seconds == 60
    first = sensor.evaluate_tick(dg.build_sensor_context())
    assert len(first.run_requests) == 1 and first.cursor.endswith("2024-01-02.csv")
    assert not sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor)).run_requests
    docs_project.landing("sales/2024-01-03.csv", "order_id,order_date,product,quantity,unit_price\n")
    assert len(sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor)).run_requests) == 1


def test_doc_programmatic_materialize(docs_project, monkeypatch):
    """``from dagster import materialize; materialize([sales_bronze, sales_silver])`` with the page's module name."""
    (docs_project.root / "my_pipeline.py").write_text(
        "from pipelines.sales import sales_bronze, sales_silver  # the page's complete example\n")
    pkg = docs_project.root / "pipelines" / "sales"
    pkg.mkdir(parents=True)
    (docs_project.root / "pipelines" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .assets import sales_bronze, sales_silver\n")
    (pkg / "assets.py").write_text('''
from dagster import asset, AssetExecutionContext, MaterializeResult, MetadataValue
from ratatouille import run, query


@asset(group_name="sales", description="Raw sales data ingestion", compute_kind="python")
def sales_bronze(context: AssetExecutionContext) -> MaterializeResult:
    result = run("bronze.sales")
    return MaterializeResult(metadata={"status": MetadataValue.text("completed")})


@asset(group_name="sales", deps=[sales_bronze], description="Cleaned sales with calculations", compute_kind="sql")
def sales_silver(context: AssetExecutionContext) -> MaterializeResult:
    result = run("silver.sales")
    df = query("SELECT COUNT(*) as cnt FROM silver.sales")
    return MaterializeResult(metadata={"row_count": MetadataValue.int(df['cnt'][0])})
''')
    import sys

    monkeypatch.syspath_prepend(str(docs_project.root))
    for name in [m for m in sys.modules if m in ("my_pipeline", "pipelines") or m.startswith("pipelines.")]:
        monkeypatch.delitem(sys.modules, name)
    namespace: dict = {}
    try:
        exec(compile(PROGRAMMATIC, "pipelines-python.md[Programmatically]", "exec"), namespace)
    finally:
        for name in [m for m in sys.modules if m in ("my_pipeline", "pipelines") or m.startswith("pipelines.")]:
            sys.modules.pop(name, None)
    assert namespace["result"].success
    assert docs_project.read("silver.sales").height == 3
