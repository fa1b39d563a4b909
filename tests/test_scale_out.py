"""Scale-out (issue 10.2): a Dagster backfill of a new partitioned table on the S3 lake (moto).

Eight partitions of a table that does not exist yet are materialized by eight Dagster runs, four
at a time, each executed with Dagster's multiprocess executor (its step in its own process) on a
persistent DagsterInstance in a temp dir. Every partition lands exactly once, every run succeeds
(the creation race and the commits of disjoint partitions are resolved: write/_commit.py and
delta-rs' conflict check), and each run's ``delta_version`` is the commit that run wrote.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue as _queue
from pathlib import Path

import polars as pl
import pytest

from ratatouille.discover import Project
from ratatouille.write import materialization_for

pytestmark = pytest.mark.slow

TESTS = str(Path(__file__).resolve().parent)
DAYS = [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(8)]
PROCESSES = 4
BACKFILL = "scaleout1"


def _driver(index: int, keys: list[str], barrier, out) -> None:
    """Launch this driver's share of the backfill's runs (one run per partition)."""
    import dagster as dg

    job = dg.build_reconstructable_job("scale_out_defs", "daily_job", reconstructor_working_directory=TESTS)
    config = {"execution": {"config": {"max_concurrent": PROCESSES}}}
    with dg.DagsterInstance.get() as instance:
        barrier.wait(timeout=120)
        for key in keys:
            try:
                result = dg.execute_job(job, instance=instance, run_config=config,
                                        tags={"dagster/partition": key, "dagster/backfill": BACKFILL})
                versions = [e.event_specific_data.materialization.metadata["delta_version"].value
                            for e in result.get_asset_materialization_events()]
                errors = [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
                out.put((key, result.success, result.run_id, versions, errors))
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                out.put((key, False, None, [], [f"{type(exc).__name__}: {exc}"]))


def test_a_multiprocess_backfill_of_a_new_partitioned_table_on_s3_lands_every_partition_once(
        s3_project, tmp_path, monkeypatch):
    p = s3_project
    target = Project.load(p.root).target("bronze.events")
    source = pl.DataFrame({"day": [dt.date.fromisoformat(d) for d in DAYS for _ in range(3)],
                           "region": ["north", "south", "east"] * len(DAYS), "v": list(range(3 * len(DAYS)))})
    materialization_for("table").write(target, source)
    p.write("silver/daily.sql", """
        -- @materialized: incremental
        -- @strategy: replace_partitions
        -- @partition_by: day
        SELECT day, region, v, '{{ var('partition') }}' AS built_for FROM bronze.events
    """)
    p.write("silver/daily.yaml", f"partitions: {{daily: {DAYS[0]}, end: 2024-01-09}}\n")
    assert p.table("silver.daily") is None  # a new table: the backfill creates it

    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the drivers and their step processes inherit it
    with dg.DagsterInstance.get() as instance:  # its storage is created once, before the runs race
        assert not instance.get_runs()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    shares = [DAYS[i::PROCESSES] for i in range(PROCESSES)]
    drivers = [ctx.Process(target=_driver, args=(i, keys, barrier, out)) for i, keys in enumerate(shares)]
    for d in drivers:
        d.start()
    runs = []
    try:
        for _ in DAYS:
            runs.append(out.get(timeout=300))
    except _queue.Empty:
        pass
    for d in drivers:
        d.join(timeout=60)
        if d.is_alive():
            d.kill()
    assert sorted(r[0] for r in runs) == DAYS, runs
    assert all(r[1] for r in runs), [r for r in runs if not r[1]]

    table = p.read("silver.daily")
    assert table.height == source.height  # every partition exactly once
    counts = dict(table.group_by(pl.col("day").cast(pl.String)).len().iter_rows())
    assert counts == {d: 3 for d in DAYS}
    assert (table["built_for"] == table["day"].cast(pl.String)).all()
    assert sorted(table["v"].to_list()) == sorted(source["v"].to_list())

    # each run's delta_version is the commit it wrote (its partition), and no two runs share one
    log = {h["version"]: h for h in p.table("silver.daily").history()}
    versions = [r[3][0] for r in runs]
    assert sorted(versions) == list(range(len(DAYS)))
    for key, _, _, (version,), _ in runs:
        assert log[version]["ratatouille.partition"] == key

    with dg.DagsterInstance.get() as instance:
        recorded = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": BACKFILL}))
        assert len(recorded) == len(DAYS) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in recorded)
