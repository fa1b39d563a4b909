"""Daily revenue across all products: a Python transform."""

import polars as pl

from ratatouille import transform


@transform("gold.daily_revenue", inputs=["silver.sales"], materialized="table")
def daily_revenue(sales: pl.LazyFrame) -> pl.LazyFrame:
    """Revenue and order count per day."""
    return (
        sales.group_by("order_date")
        .agg(pl.col("total").sum().alias("revenue"), pl.len().alias("orders"))
        .sort("order_date")
    )
