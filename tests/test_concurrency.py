"""Concurrent writers with real processes (spawn + a barrier), on the local lake and on S3 (moto).

Of N processes creating one table at once exactly one creates it; the others continue as the
ordinary write on the now existing table (append, merge, partition overwrite, ingest of the
files not yet held) or fail with a clear "concurrent commit, run again" error. A run that
reports success never loses its rows, and its ``version`` is the commit it wrote.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as _queue
from typing import Any

import polars as pl
import pytest

from ratatouille.discover import Project
from ratatouille.errors import ConcurrentCommitError
from ratatouille.write import materialization_for

pytestmark = pytest.mark.slow

ROUNDS = 2


# -- the worker (runs in a spawned process) ---------------------------------------------------------
def _worker(index: int, root: str, jobs: list[tuple[str, dict[str, Any]]], barrier, out,
            commit_settings: dict[str, int] | None = None) -> None:
    """Run ``jobs[r]`` in round ``r``, all processes starting each round together.

    ``commit_settings`` overrides constants of ``ratatouille.write._commit`` in this process."""
    import ratatouille.write._commit as commit_module
    from ratatouille import run
    from ratatouille.errors import RatatouilleError

    for key, value in (commit_settings or {}).items():
        setattr(commit_module, key, value)

    for rnd, (name, kwargs) in enumerate(jobs):
        try:
            barrier.wait(timeout=120)
        except Exception:  # noqa: BLE001 - another worker died: stop
            out.put((rnd, index, "broken", None, None, "barrier broken", ""))
            return
        try:
            result = run(name, project_dir=root, **kwargs)
            out.put((rnd, index, result["status"], result.get("version"), result.get("run_id"), None, ""))
        except RatatouilleError as exc:
            out.put((rnd, index, "failed", None, None, type(exc).__name__, str(exc)))
        except BaseException as exc:  # noqa: BLE001 - an unexpected (raw) error fails the test
            out.put((rnd, index, "crashed", None, None, type(exc).__name__, str(exc)))


def run_together(root, jobs_by_process: list[list[tuple[str, dict[str, Any]]]],
                 commit_settings: dict[str, int] | None = None) -> list[list[tuple]]:
    """Start one process per job list; return the outcomes per round."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs_by_process))
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(i, str(root), jobs, barrier, out, commit_settings))
             for i, jobs in enumerate(jobs_by_process)]
    for p in procs:
        p.start()
    expected = sum(len(jobs) for jobs in jobs_by_process)
    got = []
    try:
        for _ in range(expected):
            got.append(out.get(timeout=300))
    except _queue.Empty:
        pass
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    assert len(got) == expected, f"only {len(got)} of {expected} runs reported: {got}"
    rounds = max(len(jobs) for jobs in jobs_by_process)
    by_round = [sorted(g for g in got if g[0] == r) for r in range(rounds)]
    for outcomes in by_round:
        for _, _, status, _, _, kind, message in outcomes:
            assert status in ("success", "unchanged", "skipped", "failed"), (kind, message)  # never a raw crash
            if status == "failed":  # a lost race says what happened and what to do
                assert kind in ("ConcurrentCommitError", "ConcurrentIngestError", "TableCreatedMeanwhile"), message
                assert "concurrent commit, run again" in message, message
    return by_round


def _source(project, name: str, df: pl.DataFrame) -> None:
    target = Project.load(project.root).target(name)
    materialization_for("table").write(target, df)


def _assert_versions_are_their_commits(project, name: str, outcomes: list[tuple]) -> None:
    """Each successful run's version is the commit carrying its own run id (10.3)."""
    table = project.table(name)
    by_version = {h["version"]: h for h in table.history()}
    versions = [o[3] for o in outcomes if o[2] == "success"]
    assert len(versions) == len(set(versions)), outcomes
    for _, _, status, version, run_id, _, _ in outcomes:
        if status == "success":
            assert by_version[version].get("ratatouille.run_id") == run_id, (version, run_id)


# -- ingest -------------------------------------------------------------------------------------------
INGEST_YAML = """
source: landing/sales/
format: csv
columns:
  - name: order_id
    type: int64
"""


def test_two_ingests_creating_a_bronze_table_ingest_each_file_once(lake_project):
    p = lake_project
    for r in range(ROUNDS):
        p.write(f"bronze/sales{r}.yaml", INGEST_YAML)
    for f in range(3):
        p.landing(f"sales/f{f}.csv", "order_id\n" + "\n".join(str(f * 10 + i) for i in range(f + 1)) + "\n")
    rounds = run_together(p.root, [[(f"bronze.sales{r}", {}) for r in range(ROUNDS)] for _ in range(2)])
    for r, outcomes in enumerate(rounds):
        df = p.read(f"bronze.sales{r}")
        counts = dict(df.group_by("_source_file").len().iter_rows())
        assert counts == {"landing/sales/f0.csv": 1, "landing/sales/f1.csv": 2, "landing/sales/f2.csv": 3}
        assert df["order_id"].n_unique() == df.height == 6
        assert any(o[2] == "success" for o in outcomes)
        _assert_versions_are_their_commits(p, f"bronze.sales{r}", outcomes)


# -- replace_partitions, one partition per process (what a Dagster backfill does) --------------------
def test_four_processes_each_run_one_partition_of_a_new_table(lake_project):
    p = lake_project
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    _source(p, "bronze.src", pl.DataFrame({"day": [d for d in days for _ in range(3)], "id": list(range(12))}))
    for r in range(ROUNDS):
        p.write(f"silver/daily{r}.sql", f"""
            -- @materialized: incremental
            -- @strategy: replace_partitions
            -- @partition_by: day
            SELECT day, id, {r} AS rnd FROM bronze.src
        """)
    rounds = run_together(p.root, [[(f"silver.daily{r}", {"partition": day}) for r in range(ROUNDS)]
                                   for day in days])
    for r, outcomes in enumerate(rounds):
        assert all(o[2] == "success" for o in outcomes), outcomes  # disjoint partitions all land
        df = p.read(f"silver.daily{r}")
        assert sorted(df["id"].to_list()) == list(range(12))  # every partition exactly once
        assert dict(df.group_by("day").len().iter_rows()) == {d: 3 for d in days}
        _assert_versions_are_their_commits(p, f"silver.daily{r}", outcomes)


# -- first build of an append and of a merge ---------------------------------------------------------
@pytest.mark.parametrize("strategy", ["append", "merge"])
def test_four_first_builds_keep_every_successful_runs_rows(lake_project, strategy):
    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"id": [1, 2, 3]}))
    for r in range(ROUNDS):
        p.write(f"silver/out{r}.sql", f"""
            -- @materialized: incremental
            -- @strategy: {strategy}
            {"-- @unique_key: key" if strategy == "merge" else ""}
            SELECT '{{{{ var("who") }}}}-' || CAST(id AS VARCHAR) AS key, '{{{{ var("who") }}}}' AS who, id
            FROM bronze.src
        """)
    writers = 4
    rounds = run_together(p.root, [[(f"silver.out{r}", {"vars": {"who": f"w{w}"}}) for r in range(ROUNDS)]
                                   for w in range(writers)])
    for r, outcomes in enumerate(rounds):
        ok = {f"w{o[1]}" for o in outcomes if o[2] == "success"}
        assert ok, outcomes  # at least the creator succeeds
        if strategy == "append":
            assert len(ok) == writers, outcomes  # the others append on the table the creator made
        df = p.read(f"silver.out{r}")
        for who in ok:  # every row of every successful run, exactly once
            assert sorted(df.filter(pl.col("who") == who)["id"].to_list()) == [1, 2, 3], (who, df)
        assert df["key"].n_unique() == df.height
        assert set(df["who"].to_list()) <= {f"w{w}" for w in range(writers)}
        _assert_versions_are_their_commits(p, f"silver.out{r}", outcomes)


def test_a_lost_overlapping_commit_is_a_clear_concurrent_commit_error(rat_project):
    """Two overwrites of the same partition from one stale snapshot: delta-rs' conflict check
    refuses the second commit, which becomes ConcurrentCommitError (never a raw CommitFailedError)."""
    from ratatouille.write import OverwritePartition

    p = rat_project
    target = Project.load(p.root).target("silver.part")
    OverwritePartition("d", "a", partition_by=("d",)).write(target, pl.DataFrame({"d": ["a"], "x": [0]}))
    stale = target.open()
    OverwritePartition("d", "a", partition_by=("d",)).write(target, pl.DataFrame({"d": ["a"], "x": [1]}))
    merge = materialization_for("merge", unique_key=("d",))
    with pytest.raises(ConcurrentCommitError, match="concurrent commit, run again"):
        merge.write(target, pl.DataFrame({"d": ["a"], "x": [2]}), table=stale)
    assert p.read("silver.part")["x"].to_list() == [1]


def test_concurrent_merges_of_the_same_keys_never_duplicate_a_key(lake_project):
    """Four first builds of a merge whose keys overlap: one creates, the others merge on top or
    fail clearly (delta-rs' conflict check); each key is there exactly once."""
    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"id": [1, 2, 3]}))
    p.write("silver/out.sql", """
        -- @materialized: incremental
        -- @strategy: merge
        -- @unique_key: key
        SELECT CAST(id AS VARCHAR) AS key, '{{ var("who") }}' AS who, id FROM bronze.src
    """)
    (outcomes,) = run_together(p.root, [[("silver.out", {"vars": {"who": f"w{w}"}})] for w in range(4)])
    assert any(o[2] == "success" for o in outcomes), outcomes
    df = p.read("silver.out")
    assert sorted(df["key"].to_list()) == ["1", "2", "3"]
    last = max((o for o in outcomes if o[2] == "success"), key=lambda o: o[3])
    assert set(df["who"].to_list()) == {f"w{last[1]}"}  # the last successful merge's rows
    _assert_versions_are_their_commits(p, "silver.out", outcomes)


def test_overlapping_partition_writes_never_mix_or_lose_rows(lake_project):
    """Four processes rebuild the same partition at once: delta-rs' conflict check lets them land
    one after another or refuses the loser clearly; the partition holds exactly one run's rows."""
    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"day": ["2024-01-01"] * 3 + ["2024-01-02"] * 3, "id": list(range(6))}))
    p.write("silver/daily.sql", """
        -- @materialized: incremental
        -- @strategy: replace_partitions
        -- @partition_by: day
        SELECT day, id, '{{ var("who") }}' AS who FROM bronze.src
    """)
    p.run("silver.daily", vars={"who": "first"})
    (outcomes,) = run_together(p.root, [[("silver.daily", {"partition": "2024-01-01", "vars": {"who": f"w{w}"}})]
                                        for w in range(4)])
    assert any(o[2] == "success" for o in outcomes), outcomes
    df = p.read("silver.daily")
    part = df.filter(pl.col("day") == "2024-01-01")
    assert sorted(part["id"].to_list()) == [0, 1, 2] and part["who"].n_unique() == 1
    last = max((o for o in outcomes if o[2] == "success"), key=lambda o: o[3])
    assert part["who"][0] == f"w{last[1]}"  # the last successful commit's rows
    assert df.filter(pl.col("day") == "2024-01-02")["who"].to_list() == ["first"] * 3
    _assert_versions_are_their_commits(p, "silver.daily", outcomes)


def test_partition_writes_that_only_lose_races_to_other_partitions_are_retried_with_backoff(lake_project):
    """With delta-rs allowed no retry of its own (max_commit_retries=0), every partition run that
    loses the race for a version fails inside delta-rs; as no commit touched its partition, the
    write is tried again after a backoff (write/_commit.py retry_disjoint) and all of them land."""
    p = lake_project
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    _source(p, "bronze.src", pl.DataFrame({"day": [d for d in days for _ in range(2)], "id": list(range(8))}))
    p.write("silver/daily.sql", """
        -- @materialized: incremental
        -- @strategy: replace_partitions
        -- @partition_by: day
        SELECT day, id FROM bronze.src
    """)
    p.run("silver.daily", partition="2024-01-01")  # the table exists: only the commit race is left
    (outcomes,) = run_together(p.root, [[("silver.daily", {"partition": day})] for day in days],
                               commit_settings={"MAX_COMMIT_RETRIES": 0, "DISJOINT_ROUNDS": 12})
    assert all(o[2] == "success" for o in outcomes), outcomes
    df = p.read("silver.daily")
    assert sorted(df["id"].to_list()) == list(range(8))
    _assert_versions_are_their_commits(p, "silver.daily", outcomes)


def test_two_ingests_of_new_files_into_an_existing_table_take_each_file_once(lake_project):
    """Both runs see the same new files on the same snapshot: one commits them, the other is refused
    by the Delta app transaction (ConcurrentIngestError, nothing written) or finds nothing new."""
    p = lake_project
    p.write("bronze/sales.yaml", INGEST_YAML)
    p.landing("sales/f0.csv", "order_id\n0\n")
    p.run("bronze.sales")
    for f in range(1, 4):
        p.landing(f"sales/f{f}.csv", f"order_id\n{f}\n")
    (outcomes,) = run_together(p.root, [[("bronze.sales", {})] for _ in range(2)])
    assert any(o[2] == "success" for o in outcomes), outcomes
    assert all(o[5] in (None, "ConcurrentIngestError") for o in outcomes), outcomes
    df = p.read("bronze.sales")
    assert sorted(df["order_id"].to_list()) == [0, 1, 2, 3]
    _assert_versions_are_their_commits(p, "bronze.sales", outcomes)
