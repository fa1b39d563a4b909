"""The `rat` CLI and the sample sales project, run as a new user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]


def rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    env["RAT_SETTLE_SECONDS"] = "0"  # landing files written by a test are complete: ingest them at once
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_rat_run_all_builds_the_sample_pipeline(sample):
    out = rat("run", "--all", cwd=sample)
    assert out.returncode == 0, out.stderr
    for table in ("bronze.sales", "silver.sales", "gold.sales_summary", "gold.daily_revenue"):
        assert table in out.stdout
    from ratatouille import query

    bronze = query("SELECT COUNT(*) AS cnt FROM bronze.sales")["cnt"][0]
    silver = query("SELECT COUNT(*) AS cnt FROM silver.sales")["cnt"][0]
    assert (bronze, silver) == (10, 9)  # one zero-quantity line is dropped
    widget = query("SELECT SUM(revenue) AS r FROM gold.sales_summary WHERE product = 'widget'")["r"][0]
    assert widget == pytest.approx(3 * 9.99 + 5 * 9.99 + 2 * 9.99)
    daily = query("SELECT revenue FROM gold.daily_revenue ORDER BY order_date")["revenue"].to_list()
    assert daily == pytest.approx([3 * 9.99 + 24.5 + 28.0, 49.0 + 5 * 9.99 + 14.0, 98.0 + 42.0 + 2 * 9.99])

    again = rat("run", "--all", cwd=sample)
    assert again.returncode == 0 and "unchanged" in again.stdout  # nothing new in landing


def test_new_landing_file_flows_to_gold_with_merge(sample):
    assert rat("run", "--all", cwd=sample).returncode == 0
    (sample / "lake/landing/sales/2024-01-04.csv").write_text(
        "order_id,order_date,product,quantity,unit_price,customer\n"
        "1002,2024-01-01,Gadget,3,24.50,bob\n"      # a correction of order 1002
        "1011,2024-01-04,Widget,1,9.99,gina\n")
    out = rat("run", "+gold.sales_summary", cwd=sample)
    assert out.returncode == 0, out.stderr
    from ratatouille import query, tools

    silver = query("SELECT order_id, quantity FROM silver.sales ORDER BY order_id")
    assert silver.height == 10 and dict(silver.rows())[1002] == 3
    assert tools.history("silver.sales")["operation"][0] == "MERGE"


def test_rat_query_ls_tables_lineage_history(sample):
    assert rat("run", "--all", cwd=sample).returncode == 0
    out = rat("query", "SELECT product, SUM(revenue) AS revenue FROM gold.sales_summary GROUP BY product ORDER BY product",
              cwd=sample)
    assert out.returncode == 0 and "gadget" in out.stdout and "3 rows" in out.stdout
    out = rat("ls", "landing/sales/", cwd=sample)
    assert out.stdout.count(".csv") == 3
    out = rat("tables", cwd=sample)
    assert "silver.sales" in out.stdout and "own" in out.stdout
    out = rat("lineage", "silver.sales", cwd=sample)
    assert "bronze.sales" in out.stdout and "gold.sales_summary" in out.stdout
    out = rat("history", "silver.sales", cwd=sample)
    assert out.returncode == 0 and "silver.sales" in out.stdout
    out = rat("check", "silver.sales", cwd=sample)
    assert out.returncode == 0 and "2/2" in out.stdout


def test_rat_errors_are_one_line_and_exit_non_zero(sample):
    (sample / "workspaces/default/pipelines/silver/broken.sql").write_text("SELECT *\nFROM\nWHERE x\n")
    out = rat("run", "silver.broken", cwd=sample)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "silver.broken" in out.stderr and "broken.sql, line 3" in out.stderr
    out = rat("--debug", "run", "silver.broken", cwd=sample)
    assert out.returncode != 0 and "Traceback" in out.stderr
    out = rat("run", "silver.sale", cwd=sample)
    assert out.returncode == 1 and "did you mean silver.sales" in out.stderr
    out = rat("query", "SELECT * FROM nowhere.x", cwd=sample)
    assert out.returncode == 1 and "unknown table 'nowhere.x'" in out.stderr


def test_rat_run_full_refresh_flag(sample):
    assert rat("run", "--all", cwd=sample).returncode == 0
    out = rat("run", "silver.sales", "-f", cwd=sample)
    assert out.returncode == 0
    from ratatouille import tools

    assert tools.history("silver.sales")["operation"][0] in ("WRITE", "CREATE OR REPLACE TABLE")
    assert pl.DataFrame(tools.tables()).filter(pl.col("table") == "silver.sales")["version"][0] == 1


def test_rat_check_reports_the_rows_it_checked_and_errors_keep_their_brackets(sample, tmp_path):
    assert rat("run", "--all", cwd=sample).returncode == 0
    out = rat("check", cwd=sample)
    assert out.returncode == 0 and "rows checked" in out.stdout and "nothing written" in out.stdout
    gold = next(line for line in out.stdout.splitlines() if "gold.sales_summary" in line and "│" in line)
    assert " 9 " in gold and "(9 rows checked" in out.stdout  # the rows it built and checked, although it wrote none
    out = rat("tables", cwd=tmp_path)  # not a project: the message names the [tool.ratatouille] table
    assert out.returncode == 1 and "add [tool.ratatouille] to a pyproject.toml" in out.stderr
