"""Revenue per day: a Python transform (a pure function of LazyFrames)."""

import polars as pl

from ratatouille import transform


@transform("gold.revenue_by_day", inputs=["silver.orders"], materialized="table")
def revenue_by_day(orders: pl.LazyFrame) -> pl.LazyFrame:
    """Revenue and number of orders per day."""
    return (
        orders.group_by("order_date")
        .agg(pl.col("total").sum().alias("revenue"), pl.len().alias("orders"))
        .sort("order_date")
    )
