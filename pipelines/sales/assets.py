from dagster import asset, AssetExecutionContext, MaterializeResult, MetadataValue
from ratatouille import run, query


@asset(
    group_name="sales",
    description="Raw sales data ingestion",
    compute_kind="python",
)
def sales_bronze(context: AssetExecutionContext) -> MaterializeResult:
    """Ingest sales files to bronze layer."""

    result = run("bronze.sales")
    context.log.info(f"Bronze pipeline completed: {result}")

    return MaterializeResult(
        metadata={"status": MetadataValue.text("completed")}
    )


@asset(
    group_name="sales",
    deps=[sales_bronze],
    description="Cleaned sales with calculations",
    compute_kind="sql",
)
def sales_silver(context: AssetExecutionContext) -> MaterializeResult:
    """Transform bronze → silver with cleaning."""

    result = run("silver.sales")

    # Get row count
    df = query("SELECT COUNT(*) as cnt FROM silver.sales")

    return MaterializeResult(
        metadata={
            "row_count": MetadataValue.int(df['cnt'][0]),
        }
    )


@asset(
    group_name="sales",
    deps=[sales_silver],
    description="Daily revenue aggregations",
    compute_kind="sql",
)
def sales_gold(context: AssetExecutionContext) -> MaterializeResult:
    """Aggregate to gold layer."""

    result = run("gold.sales_summary")

    return MaterializeResult(
        metadata={"status": MetadataValue.text("completed")}
    )
