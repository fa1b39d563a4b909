from dagster import define_asset_job, AssetSelection

sales_pipeline_job = define_asset_job(
    name="sales_pipeline",
    selection=AssetSelection.groups("sales"),
    description="Run full sales pipeline: Bronze → Silver → Gold"
)
