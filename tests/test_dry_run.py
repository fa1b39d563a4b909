"""`rat check` / `run(..., dry_run=True)` (issue 12.1): the selection and its upstream are built in
memory exactly as `run` would; each upstream's would-be table feeds its downstream; every check runs;
nothing is written; a fresh lake (landing files only) works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ratatouille import RatatouilleError


def rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    env["RAT_SETTLE_SECONDS"] = "0"
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True,  # noqa: S603
                          text=True, env=env, timeout=300)


def _tables(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.glob("*/*") if p.parent.name != "landing"
                  and (p / "_delta_log").exists())


@pytest.mark.slow
def test_rat_check_passes_on_a_fresh_lake_and_creates_nothing(sample):
    out = rat("check", cwd=sample)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "has not been built yet" not in out.stderr
    assert "(9 rows checked" in out.stdout  # silver.sales built in memory from the landing files
    assert _tables(sample / "lake") == []
    assert sorted(p.name for p in (sample / "lake").iterdir()) == ["landing"]
    out = rat("check", "gold.sales_summary", cwd=sample)  # one table: its upstream is built too
    assert out.returncode == 0 and "bronze.sales" in out.stdout and "silver.sales" in out.stdout
    assert _tables(sample / "lake") == []


@pytest.mark.slow
def test_rat_check_sees_a_bad_landing_row_downstream_and_writes_nothing(sample):
    assert rat("run", "--all", cwd=sample).returncode == 0
    from ratatouille.discover import Project

    project = Project.load(str(sample))
    before = {n: project.target(n).open().version() for n in project.transforms}
    (sample / "lake/landing/sales/2024-01-04.csv").write_text(
        "order_id,order_date,product,quantity,unit_price,customer\n2001,2024-01-04,Doohickey,1,5.0,zed\n")
    out = rat("check", cwd=sample)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "silver.sales" in out.stderr and "schema" in out.stderr and "isin" in out.stderr
    out = rat("check", "silver.sales", cwd=sample)
    assert out.returncode == 1 and "silver.sales" in out.stderr
    after = {n: project.target(n).open().version() for n in project.transforms}
    assert after == before  # bronze did not commit the bad row
    assert not (sample / "lake/landing/_rejected").exists()


def _incremental_project(p) -> None:
    p.write("bronze/ev.yaml", """
        source: landing/ev/
        format: csv
    """)
    p.write("silver/ev.sql", """
        -- @materialized: incremental
        -- @strategy: merge
        -- @unique_key: id
        SELECT id, kind, amount, _ingested_at FROM bronze.ev
        {% if is_incremental() %} WHERE _ingested_at > {{ watermark('_ingested_at') }} {% endif %}
    """)
    p.write("gold/ev_count.sql", "SELECT kind, COUNT(*) AS n, SUM(amount) AS total FROM silver.ev GROUP BY kind\n")
    p.write("gold/ev_count.yaml", """
        tests:
          - name: at_most_three_ids
            sql: SELECT * FROM {{ this }} WHERE n > 3
    """)


def test_dry_run_feeds_the_would_be_table_downstream(lake_project):
    p = lake_project
    _incremental_project(p)
    p.landing("ev/a.csv", "id,kind,amount\n1,x,1\n2,x,2\n")
    p.run("*")
    versions = {n: p.version(n) for n in ("bronze.ev", "silver.ev", "gold.ev_count")}
    # one new id and one update of id 2: merged, silver holds 3 ids; gold counts 3 (passes)
    p.landing("ev/b.csv", "id,kind,amount\n2,x,20\n3,x,3\n")
    res = p.run("gold.ev_count", dry_run=True)
    by = {r["table"]: r for r in res.results}
    assert set(by) == {"bronze.ev", "silver.ev", "gold.ev_count"}
    assert all(r["dry_run"] and r["rows_written"] == 0 for r in by.values())
    assert by["bronze.ev"]["rows_checked"] == 2  # only the new file's rows
    assert by["gold.ev_count"]["rows_checked"] == 1
    assert {n: p.version(n) for n in versions} == versions
    # two more new ids: the would-be silver has 5 ids, so gold's test fails, though stored silver has 2
    p.landing("ev/c.csv", "id,kind,amount\n4,x,4\n5,x,5\n")
    with pytest.raises(RatatouilleError) as err:
        p.run("gold.ev_count", dry_run=True)
    failed = [r for r in err.value.results if r["status"] == "failed"]
    assert [r["table"] for r in failed] == ["gold.ev_count"]
    assert failed[0]["checks"][0]["name"] == "at_most_three_ids" and not failed[0]["checks"][0]["passed"]
    assert {n: p.version(n) for n in versions} == versions
    assert p.read("silver.ev").height == 2
    # a real run then agrees with the dry run
    with pytest.raises(RatatouilleError):
        p.run("*")


def test_dry_run_on_an_empty_lake_writes_no_table(rat_project):
    p = rat_project
    _incremental_project(p)
    p.landing("ev/a.csv", "id,kind,amount\n1,x,1\n2,y,2\n")
    res = p.run("*", dry_run=True)
    assert res["status"] == "success"
    assert [r["rows_checked"] for r in res.results] == [2, 2, 2]
    assert all(p.version(n) is None for n in ("bronze.ev", "silver.ev", "gold.ev_count"))
    assert sorted(x.name for x in Path(p.lake).iterdir()) == ["landing"]


def test_would_be_by_materialization():
    import polars as pl

    from ratatouille.execute._dry_run import would_be

    old = pl.LazyFrame({"d": ["a", "a", "b"], "v": [1, 2, 3]})
    new = pl.LazyFrame({"d": ["a"], "v": [9]})
    assert would_be("table", new, old).collect()["v"].to_list() == [9]
    assert sorted(would_be("append", new, old).collect()["v"].to_list()) == [1, 2, 3, 9]
    assert sorted(would_be("replace_partitions", new, old, partition_by=("d",)).collect()["v"].to_list()) == [3, 9]
    assert sorted(would_be("append", new, old, full_refresh=True).collect()["v"].to_list()) == [9]
    assert sorted(would_be("merge", new, None, unique_key=("d",)).collect()["v"].to_list()) == [9]
