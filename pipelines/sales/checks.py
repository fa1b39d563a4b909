from dagster import asset_check, AssetCheckResult, AssetKey
from ratatouille import query


@asset_check(asset=AssetKey("sales_silver"))
def silver_not_empty() -> AssetCheckResult:
    df = query("SELECT COUNT(*) as cnt FROM silver.sales")
    return AssetCheckResult(
        passed=df['cnt'][0] > 0,
        metadata={"row_count": df['cnt'][0]}
    )


all_checks = [silver_not_empty]
