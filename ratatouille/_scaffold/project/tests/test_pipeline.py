"""Tests of the pipeline with ``ratatouille.testing``.

* ``run_transform`` runs one transform (SQL or Python) on in-memory frames;
* the ``rat_project`` fixture gives a temporary project with its own lake, so
  the whole pipeline runs end to end without touching ``lake/``.
"""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ratatouille.testing import run_transform

ROOT = Path(__file__).resolve().parents[1]


def test_silver_orders_cleans_and_computes_totals():
    bronze = pl.DataFrame({
        "order_id": [1, 2, 3],
        "order_date": ["2024-01-01", "2024-01-01", "2024-01-02"],
        "customer": ["ada", "bob", "cy"],
        "product": [" Widget ", "GADGET", "gizmo"],
        "quantity": [2, 0, 1],
        "unit_price": [10.0, 24.5, 14.0],
        "_ingested_at": [None, None, None],
    })
    out = run_transform("silver.orders", inputs={"bronze.orders": bronze}, project_dir=ROOT, check=True)
    assert out["order_id"].to_list() == [1, 3]          # the zero-quantity line is dropped
    assert out["product"].to_list() == ["widget", "gizmo"]
    assert out["total"].to_list() == [20.0, 14.0]
    assert out["order_date"].to_list() == [date(2024, 1, 1), date(2024, 1, 2)]


def test_revenue_by_day():
    silver = pl.DataFrame({"order_date": [date(2024, 1, 2), date(2024, 1, 1), date(2024, 1, 1)],
                           "total": [5.0, 10.0, 2.5]})
    out = run_transform("gold.revenue_by_day", inputs={"silver.orders": silver}, project_dir=ROOT)
    assert out.rows() == [(date(2024, 1, 1), 12.5, 2), (date(2024, 1, 2), 5.0, 1)]


def test_the_whole_pipeline_on_a_temporary_lake(rat_project):
    import shutil

    shutil.copytree(ROOT / "workspaces" / "default", rat_project.root / "workspaces" / "default", dirs_exist_ok=True)
    for csv in sorted((ROOT / "lake" / "landing").rglob("*.csv")):
        rat_project.landing(csv.relative_to(ROOT / "lake" / "landing").as_posix(), csv.read_bytes())

    result = rat_project.run("*")
    assert {r["table"]: r["status"] for r in result.results} == {
        "bronze.orders": "success", "silver.orders": "success", "gold.revenue_by_day": "success"}
    assert rat_project.query("SELECT COUNT(*) AS n FROM silver.orders")["n"][0] == 4
    revenue = rat_project.query("SELECT revenue FROM gold.revenue_by_day ORDER BY order_date")["revenue"]
    assert revenue.to_list() == pytest.approx([2 * 9.99 + 24.50, 5 * 9.99 + 14.00])

    again = rat_project.run("bronze.orders")          # nothing new in landing: nothing ingested twice
    assert again["status"] == "unchanged"
