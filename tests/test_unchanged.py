"""Only changed work runs: a transform whose code and input versions are those of its table's last
commit is skipped with status ``unchanged`` (execute/_fingerprint.py). Asserted on Delta versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ratatouille import RatatouilleError, tools

BRONZE = """
source: landing/trips/
format: csv
"""
SILVER = "SELECT trip_id, zone, fare FROM bronze.trips WHERE fare > 0"
GOLD = "SELECT zone, SUM(fare) AS revenue FROM silver.trips GROUP BY zone"
SIBLING = "SELECT zone, COUNT(*) AS n FROM silver.trips GROUP BY zone"


def _pipeline(p) -> None:
    p.write("bronze/trips.yaml", BRONZE)
    p.write("silver/trips.sql", SILVER)
    p.write("gold/revenue.sql", GOLD)
    p.write("gold/counts.sql", SIBLING)
    p.landing("trips/a.csv", "trip_id,zone,fare\n1,north,10.0\n2,south,0.0\n3,north,5.0\n")


TABLES = ("bronze.trips", "silver.trips", "gold.revenue", "gold.counts")


def _versions(p) -> dict[str, int | None]:
    return {name: p.version(name) for name in TABLES}


def _statuses(result) -> dict[str, str]:
    return {r["table"]: r["status"] for r in result.results}


def test_second_run_is_unchanged_and_writes_nothing(lake_project):
    p = lake_project
    _pipeline(p)
    first = p.run("*")
    assert set(_statuses(first).values()) == {"success"}
    before = _versions(p)
    assert before == {name: 0 for name in TABLES}

    again = p.run("*")  # nothing new: no exception, every table keeps its version
    assert again["status"] == "unchanged" and again.ok
    assert _statuses(again) == {name: "unchanged" for name in TABLES}
    assert _versions(p) == before
    by = {r["table"]: r for r in again.results}
    assert by["silver.trips"]["version"] == 0 and by["silver.trips"]["rows_written"] == 0
    assert "unchanged" in by["silver.trips"]["reason"]
    # the fingerprint is in the commit info of the table's commit
    assert p.table("silver.trips").history(1)[0]["ratatouille.fingerprint"]


def test_changed_sql_rebuilds_it_and_its_downstream_only(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.write("silver/trips.sql", SILVER + " AND zone <> 'south'")
    result = p.run("*")
    assert _statuses(result) == {"bronze.trips": "unchanged", "silver.trips": "success",
                                 "gold.revenue": "success", "gold.counts": "success"}
    assert _versions(p) == {"bronze.trips": 0, "silver.trips": 1, "gold.revenue": 1, "gold.counts": 1}


def test_changed_yaml_rebuilds(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.write("gold/revenue.yaml", "description: revenue by zone\n")
    result = p.run("*")
    assert _statuses(result)["gold.revenue"] == "success"
    assert _versions(p) == {"bronze.trips": 0, "silver.trips": 0, "gold.revenue": 1, "gold.counts": 0}


def test_changed_downstream_rebuilds_sibling_stays(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.write("gold/revenue.sql", GOLD.replace("SUM(fare)", "SUM(fare) * 2"))
    result = p.run("*")
    assert _statuses(result) == {"bronze.trips": "unchanged", "silver.trips": "unchanged",
                                 "gold.revenue": "success", "gold.counts": "unchanged"}
    assert _versions(p) == {"bronze.trips": 0, "silver.trips": 0, "gold.revenue": 1, "gold.counts": 0}
    assert p.read("gold.revenue").sort("zone").rows() == [("north", 30.0)]


def test_new_landing_file_rebuilds_ingest_and_downstream(lake_project):
    p = lake_project
    _pipeline(p)
    p.run("*")
    p.landing("trips/b.csv", "trip_id,zone,fare\n4,east,7.0\n")
    result = p.run("*")
    assert set(_statuses(result).values()) == {"success"}
    assert _versions(p) == {name: 1 for name in TABLES}
    assert p.read("gold.revenue").sort("zone").rows() == [("east", 7.0), ("north", 15.0)]
    assert set(_statuses(p.run("*")).values()) == {"unchanged"}
    assert _versions(p) == {name: 1 for name in TABLES}


def test_full_refresh_rebuilds(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    result = p.run("gold.revenue", full_refresh=True)
    assert result["status"] == "success" and p.version("gold.revenue") == 1
    # a full refresh of the downstream alone leaves the others as they were
    assert _versions(p) == {"bronze.trips": 0, "silver.trips": 0, "gold.revenue": 1, "gold.counts": 0}
    # a full refresh records the fingerprint too: the next run is unchanged
    assert _statuses(p.run("*")) == {name: "unchanged" for name in TABLES}
    everything = p.run("*", full_refresh=True)
    assert set(_statuses(everything).values()) == {"success"}
    assert _versions(p) == {"bronze.trips": 1, "silver.trips": 1, "gold.revenue": 2, "gold.counts": 1}
    assert _statuses(p.run("*")) == {name: "unchanged" for name in TABLES}


def test_deleted_table_rebuilds(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    shutil.rmtree(Path(p.table("silver.trips").table_uri.removeprefix("file://")))
    result = p.run("*")
    assert _statuses(result) == {"bronze.trips": "unchanged", "silver.trips": "success",
                                 "gold.revenue": "success", "gold.counts": "success"}
    # silver is a new table (new id, version 0 again): its downstream rebuilt although the version number matches
    assert _versions(p) == {"bronze.trips": 0, "silver.trips": 0, "gold.revenue": 1, "gold.counts": 1}


def test_vacuumed_or_optimized_table_rebuilds_once(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.run("gold.counts", full_refresh=True)  # version 1; the file of version 0 is no longer referenced
    removed = tools.vacuum("gold.counts", retention_hours=0)  # commits that are not the runner's: no fingerprint
    assert len(removed) == 1
    vacuumed = p.version("gold.counts")
    assert vacuumed > 1
    result = p.run("*")
    assert _statuses(result)["gold.counts"] == "success" and p.version("gold.counts") == vacuumed + 1
    assert _statuses(p.run("*"))["gold.counts"] == "unchanged"


def test_changed_var_rebuilds(rat_project):
    p = rat_project
    _pipeline(p)
    p.write("gold/revenue.sql", "SELECT zone, SUM(fare) * {{ var('rate', 1) }} AS revenue FROM silver.trips GROUP BY zone")
    p.run("*", vars={"rate": 1})
    assert p.run("gold.revenue", vars={"rate": 1})["status"] == "unchanged"
    changed = p.run("gold.revenue", vars={"rate": 3})
    assert changed["status"] == "success" and p.version("gold.revenue") == 1
    assert p.read("gold.revenue").rows() == [("north", 45.0)]


def test_python_transform_code_and_module_source(rat_project):
    p = rat_project
    _pipeline(p)
    body = '''
from ratatouille import transform
import polars as pl

FACTOR = {factor}

@transform("gold.scaled", inputs=["silver.trips"])
def scaled(trips: pl.LazyFrame) -> pl.LazyFrame:
    return trips.select("trip_id", (pl.col("fare") * FACTOR).alias("fare"))
'''
    p.write("gold/scaled.py", body.format(factor=1))
    p.run("*")
    assert p.run("gold.scaled")["status"] == "unchanged"
    p.write("gold/scaled.py", body.format(factor=2))  # the function's text is the same; its module changed
    assert p.run("gold.scaled")["status"] == "success" and p.version("gold.scaled") == 1
    assert sorted(p.read("gold.scaled")["fare"].to_list()) == [10.0, 20.0]


def test_upstream_changed_by_another_run_rebuilds_downstream(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.landing("trips/b.csv", "trip_id,zone,fare\n4,east,7.0\n")
    p.run("bronze.trips")  # a run of bronze alone
    result = p.run("gold.revenue", upstream=True)
    assert _statuses(result) == {"bronze.trips": "unchanged", "silver.trips": "success", "gold.revenue": "success"}
    assert p.read("gold.revenue").sort("zone").rows() == [("east", 7.0), ("north", 15.0)]


def test_view_input_changed_rebuilds_reader(rat_project):
    p = rat_project
    _pipeline(p)
    p.write("silver/north.sql", "-- @materialized: view\nSELECT * FROM silver.trips WHERE zone = 'north'")
    p.write("gold/north.sql", "SELECT COUNT(*) AS n FROM silver.north")
    p.run("*")
    assert p.run("gold.north")["status"] == "unchanged"
    p.write("silver/north.sql", "-- @materialized: view\nSELECT * FROM silver.trips WHERE zone = 'south'")
    assert p.run("gold.north")["status"] == "success" and p.version("gold.north") == 1


def test_failed_upstream_still_raises_and_unchanged_siblings_are_success(rat_project):
    p = rat_project
    _pipeline(p)
    p.run("*")
    p.write("gold/counts.sql", "SELECT nope FROM silver.trips")
    with pytest.raises(RatatouilleError) as info:
        p.run("*")
    statuses = {r["table"]: r["status"] for r in info.value.results}
    assert statuses == {"bronze.trips": "unchanged", "silver.trips": "unchanged", "gold.revenue": "unchanged",
                        "gold.counts": "failed"}
    assert _versions(p) == {name: 0 for name in TABLES}


def test_changed_workspace_pin_rebuilds(rat_project):
    from ratatouille.workspace import create_workspace, pin_workspace

    p = rat_project
    _pipeline(p)
    p.run("*")
    create_workspace("alice", pin=True, project_dir=p.root)  # reads default's tables at today's versions
    p.write("gold/top.sql", "SELECT MAX(fare) AS top FROM silver.trips", workspace="alice")
    assert p.run("gold.top", workspace="alice")["status"] == "success"
    assert p.run("gold.top", workspace="alice")["status"] == "unchanged"
    p.write("silver/trips.sql", SILVER + " AND zone = 'north'")
    p.landing("trips/b.csv", "trip_id,zone,fare\n4,east,70.0\n")
    p.run("*")  # default moves on; alice still reads its pinned versions
    assert p.version("silver.trips") == 1
    assert p.run("gold.top", workspace="alice")["status"] == "unchanged"
    pin_workspace("alice", project_dir=p.root)  # a changed pin: alice now reads silver.trips v1
    again = p.run("gold.top", workspace="alice")
    assert again["status"] == "success" and p.version("gold.top", workspace="alice") == 1
    assert p.read("gold.top", workspace="alice")["top"].to_list() == [10.0]


def test_unchanged_run_reads_no_table_data(rat_project, monkeypatch):
    import polars as pl

    p = rat_project
    p.write("silver/trips.sql", "SELECT * FROM bronze.seed")
    p.write("bronze/seed.sql", "SELECT * FROM (VALUES (1, 'north', 10.0)) AS s(trip_id, zone, fare)")
    p.write("gold/revenue.sql", GOLD)
    p.write("gold/counts.sql", SIBLING)
    p.run("*")
    scans: list[str] = []
    real = pl.scan_delta
    monkeypatch.setattr(pl, "scan_delta", lambda source, *a, **k: scans.append(str(source)) or real(source, *a, **k))
    result = p.run("*")  # bronze.seed is SQL over inline values: its code alone is its fingerprint
    assert {r["table"]: r["status"] for r in result.results} == {
        "bronze.seed": "unchanged", "silver.trips": "unchanged", "gold.revenue": "unchanged",
        "gold.counts": "unchanged"}
    assert scans == []  # only Delta logs were read


def test_python_transform_reading_no_table_always_runs(rat_project):
    p = rat_project
    p.write("bronze/api.py", """
from ratatouille import transform
import polars as pl

@transform("bronze.api", inputs=[])
def api() -> pl.LazyFrame:
    return pl.LazyFrame({"x": [1]})  # stands for a call to an outside system
""")
    p.write("silver/api.sql", "SELECT x FROM bronze.api")
    p.run("*")
    again = p.run("*")
    assert {r["table"]: r["status"] for r in again.results} == {"bronze.api": "success", "silver.api": "success"}
    assert p.version("bronze.api") == 1 and p.version("silver.api") == 1
