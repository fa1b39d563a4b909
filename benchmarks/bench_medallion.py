"""Medallion benchmark: a users'-shaped pipeline, landing file to gold, full build then an increment.

The pipeline (the same logic in every engine):

* **landing**: ``landing/trips/trips-0000.parquet``, N trips
  (``trip_id, zone, day, distance_km, fare``), generated here with a fixed seed;
* **bronze.trips**: ingest of the landing parquet files, each file once, rows
  tagged with ``_source_file`` and ``_ingested_at``;
* **silver.trips**: ``incremental`` + ``merge`` on ``trip_id`` of
  ``SELECT *, fare / distance_km AS fare_per_km FROM bronze.trips WHERE distance_km > 1``
  (new bronze rows found through the ``_ingested_at`` watermark);
* **gold.trips_by_zone**: a ``table`` of trips and revenue by zone and day.

Then a batch of 1.5% lands (``trips-0001.parquet``: 1% existing ids with a
changed fare, spread over the whole id range, and 0.5% new ids) and the
pipeline runs again (the *incremental* phase).

Engines, each phase of each trial in a **fresh process**, engines alternating
(the order rotates every trial) so a noisy machine hurts them alike:

* ``ratatouille``: ``run("*")`` in a Python process (a project made here);
* ``rat-cli``: ``rat run --all`` (the same project; adds the CLI's start-up);
* ``polars``: the same logic hand-written with Polars + deltalake
  (``write_delta``, ``scan_delta``, delta-rs' ``MERGE``);
* ``duckdb``: DuckDB SQL on a DuckDB database file (``CREATE TABLE AS``,
  ``INSERT``, ``MERGE INTO``; the ``bench`` extra).

For each engine and phase it prints the median wall time of the whole process
(interpreter, imports and work: what a scheduled job costs), the median time of
the work (measured inside the process: the engine's imports and the pipeline,
not the interpreter's start and exit), peak memory (the child's maximum
resident set size from ``wait4``) and the ratios ratatouille / duckdb and
ratatouille / polars. Every engine's gold table and silver totals must agree
(``agree: yes``), else the script exits 1; they are read by another process
after the timed one, so the check costs no engine time or memory.

The engines load Ratatouille from bytecode compiled once before the trials
(``--bytecode compiled``, the default), as an installed package does; an
editable install under ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every
module in every process (``--bytecode as-is`` measures that).

``--cap-mb M`` adds a memory-capped run of every engine (full build, then
incremental): each process is put in a cgroup (v1 ``memory.limit_in_bytes`` or
v2 ``memory.max``) limited to M MiB and the script prints whether it completed.
Where no cgroup can be made (not root, read-only ``/sys/fs/cgroup``), the
documented fallback is to report, from the uncapped peak resident set size,
whether the engine *would* fit under the cap (``fits`` instead of ``completed``).

Run it with the benchmark extra installed::

    pip install -e '.[bench]'
    python benchmarks/bench_medallion.py --rows 2000000 --trials 3
    python benchmarks/bench_medallion.py --rows 10000000 --trials 3 --cap-mb 740

Not part of the test suite's timing: ``tests/test_benchmarks.py`` runs it at a
tiny size for correctness only (every engine agrees), never asserting a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bytecode import cached_env  # benchmarks/_bytecode.py (run as a script: its folder is on sys.path)

ENGINES = ("ratatouille", "rat-cli", "polars", "duckdb")
CHILD_ENV: dict[str, str] | None = None  # the environment of the engines' processes (set by main)
PHASES = ("full", "incremental")

BRONZE_YAML = """\
description: Raw trips from the landing zone.
source: landing/trips/
format: parquet
"""

SILVER_SQL = """\
-- @materialized: incremental
-- @strategy: merge
-- @unique_key: trip_id
SELECT *, fare / distance_km AS fare_per_km
FROM bronze.trips
WHERE distance_km > 1
{% if is_incremental() %}  AND _ingested_at > {{ watermark('_ingested_at') }}{% endif %}
"""

GOLD_SQL = """\
-- @materialized: table
SELECT zone, day, COUNT(*) AS trips, SUM(fare) AS revenue
FROM silver.trips
GROUP BY zone, day
"""


# -- data ------------------------------------------------------------------------------------------
def make_data(root: Path, rows: int, seed: int = 42) -> tuple[Path, Path]:
    """Write the base landing file and the 1.5% batch (kept aside until the incremental phase).

    Pseudo-random values come from Polars' seeded hash of the row index, so the
    data is the same on every run and no extra package is needed."""
    import polars as pl

    def uniform(salt: int) -> pl.Expr:  # in [0, 1), deterministic per (seed, salt, trip_id)
        return (pl.col("trip_id").hash(seed * 1000 + salt) % 1_000_003) / 1_000_003

    def trips(first_id: int, n: int) -> pl.LazyFrame:
        return (
            pl.LazyFrame({"trip_id": pl.int_range(first_id, first_id + n, dtype=pl.Int64, eager=True)})
            .with_columns(
                zone=pl.format("zone-{}", (uniform(1) * 60).cast(pl.Int64).cast(pl.String).str.zfill(2)),
                day=pl.date(2024, 1, 1) + pl.duration(days=(uniform(2) * 365).cast(pl.Int64)),
                distance_km=(0.2 + uniform(3) * 29.8).round(3),
            )
            .with_columns(fare=(2.5 + pl.col("distance_km") * 1.8 + uniform(4) * 5).round(2))
        )

    base = trips(0, rows).collect()
    step = 100  # 1% of the ids, spread over the whole range, get a changed fare
    updated = base.filter(pl.col("trip_id").hash(seed) % step == 0).with_columns((pl.col("fare") * 1.1).round(2))
    batch = pl.concat([updated, trips(rows, max(1, rows // 200)).collect()])

    first = root / "trips-0000.parquet"
    second = root / "trips-0001.parquet"
    base.write_parquet(first)
    batch.write_parquet(second)
    return first, second


def make_project(root: Path) -> None:
    """A Ratatouille project for the pipeline (shared by ``ratatouille`` and ``rat-cli``)."""
    (root / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
    pipelines = root / "workspaces" / "default" / "pipelines"
    for layer, name, text in (("bronze", "trips.yaml", BRONZE_YAML), ("silver", "trips.sql", SILVER_SQL),
                              ("gold", "trips_by_zone.sql", GOLD_SQL)):
        (pipelines / layer).mkdir(parents=True, exist_ok=True)
        (pipelines / layer / name).write_text(text)


# -- engines (run in the worker process) -----------------------------------------------------------
def work_ratatouille(home: Path) -> None:
    from ratatouille import run

    run("*", project_dir=str(home))


def work_polars(home: Path) -> None:
    import polars as pl

    landing, lake = home / "lake" / "landing" / "trips", home / "lake"
    bronze, silver, gold = (str(lake / p) for p in ("bronze/trips", "silver/trips", "gold/trips_by_zone"))
    files = sorted(str(p) for p in landing.glob("*.parquet"))
    done: set[str] = set()
    if (lake / "bronze" / "trips").exists():
        done = set(pl.scan_delta(bronze).select("_source_file").unique().collect()["_source_file"])
    now = dt.datetime.now(dt.timezone.utc)
    for path in (f for f in files if f not in done):
        frame = pl.read_parquet(path).with_columns(
            _source_file=pl.lit(path), _ingested_at=pl.lit(now).dt.cast_time_unit("us"))
        frame.write_delta(bronze, mode="append")

    fresh = pl.scan_delta(bronze).filter(pl.col("distance_km") > 1)
    if (lake / "silver" / "trips").exists():
        mark = pl.scan_delta(silver).select(pl.col("_ingested_at").max()).collect().item()
        source = fresh.filter(pl.col("_ingested_at") > mark).with_columns(
            fare_per_km=pl.col("fare") / pl.col("distance_km")).collect()
        (source.write_delta(silver, mode="merge", delta_merge_options={
            "predicate": "s.trip_id = t.trip_id", "source_alias": "s", "target_alias": "t"})
         .when_matched_update_all().when_not_matched_insert_all().execute())
    else:
        fresh.with_columns(fare_per_km=pl.col("fare") / pl.col("distance_km")).collect().write_delta(silver)

    (pl.scan_delta(silver).group_by("zone", "day")
     .agg(pl.len().alias("trips"), pl.col("fare").sum().alias("revenue"))
     .collect().write_delta(gold, mode="overwrite"))


def work_duckdb(home: Path) -> None:
    import duckdb

    landing = home / "lake" / "landing" / "trips"
    con = duckdb.connect(str(home / "duck.duckdb"))
    files = sorted(str(p) for p in landing.glob("*.parquet"))
    def table_exists(name: str) -> bool:
        return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                [name]).fetchone()[0])

    exists = table_exists("bronze")
    done = {r[0] for r in con.execute("SELECT DISTINCT _source_file FROM bronze").fetchall()} if exists else set()
    for path in (f for f in files if f not in done):
        select = f"SELECT *, '{path}' AS _source_file, now()::TIMESTAMP AS _ingested_at FROM read_parquet('{path}')"
        con.execute(f"INSERT INTO bronze {select}" if exists else f"CREATE TABLE bronze AS {select}")
        exists = True
    if table_exists("silver"):
        con.execute("""
            MERGE INTO silver USING (
                SELECT *, fare / distance_km AS fare_per_km FROM bronze
                WHERE distance_km > 1 AND _ingested_at > (SELECT max(_ingested_at) FROM silver)
            ) AS s ON silver.trip_id = s.trip_id
            WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")
    else:
        con.execute("CREATE TABLE silver AS SELECT *, fare / distance_km AS fare_per_km FROM bronze "
                    "WHERE distance_km > 1")
    con.execute("CREATE OR REPLACE TABLE gold AS SELECT zone, day, count(*) AS trips, sum(fare) AS revenue "
                "FROM silver GROUP BY zone, day")
    con.close()


# -- merge alone: proportional to the change? ---------------------------------------------------------
MERGE_ENGINES = ("ratatouille", "rewrite", "duckdb", "ratatouille-local")


def prepare_merge(root: Path, first: Path, second: Path) -> Path:
    """A silver-like table (Ratatouille's merge layout), its DuckDB twin and two batches: the
    benchmark's batch (1% updates spread over the whole id range, 0.5% new) and a local one (the same
    number of rows, updates to the newest ids and new ids: a change confined to a key range)."""
    import duckdb
    import polars as pl

    from ratatouille.write import Target, materialization_for

    home = root / "merge-base"
    home.mkdir()
    trips = pl.scan_parquet(first).with_columns(fare_per_km=pl.col("fare") / pl.col("distance_km"))
    materialization_for("merge", unique_key=("trip_id",)).write(Target(str(home / "silver")), trips)
    batch = pl.read_parquet(second).with_columns(fare_per_km=pl.col("fare") / pl.col("distance_km"))
    batch.write_parquet(home / "batch.parquet")
    n = pl.scan_parquet(first).select(pl.len()).collect().item()
    updates = pl.scan_parquet(first).slice(n - len(batch) * 2 // 3).with_columns(pl.col("fare") * 1.1)
    local = pl.concat([updates.collect(), batch.lazy().filter(pl.col("trip_id") >= n).drop("fare_per_km").collect()])
    local.with_columns(fare_per_km=pl.col("fare") / pl.col("distance_km")).write_parquet(home / "local.parquet")
    con = duckdb.connect(str(home / "duck.duckdb"))
    con.execute(f"CREATE TABLE silver AS SELECT *, fare / distance_km AS fare_per_km FROM read_parquet('{first}')")  # noqa: S608
    con.close()
    return home


def work_merge(engine: str, home: Path) -> dict:
    """One merge of the batch into the prepared table; what it rewrote."""
    import polars as pl

    silver = str(home / "silver")
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(str(home / "duck.duckdb"))
        con.execute(f"MERGE INTO silver USING read_parquet('{home / 'batch.parquet'}') AS s "
                    "ON silver.trip_id = s.trip_id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
        con.close()
        return {}
    from deltalake import DeltaTable

    from ratatouille.write import Target, materialization_for

    files = len(DeltaTable(silver).file_uris())
    if engine == "rewrite":  # the whole table rewritten with the batch applied (Polars, staged writer)
        batch = pl.scan_parquet(home / "batch.parquet")
        merged = pl.concat([pl.scan_delta(silver).join(batch.select("trip_id"), on="trip_id", how="anti"), batch])
        materialization_for("table").write(Target(silver), merged)
        return {"files_rewritten": files, "files": files}
    batch = pl.scan_parquet(home / ("local.parquet" if engine == "ratatouille-local" else "batch.parquet"))
    out = materialization_for("merge", unique_key=("trip_id",)).write(Target(silver), batch)
    return {"files_rewritten": int(out.metrics.get("num_target_files_removed", 0)), "files": files}


def dump_result(engine: str, home: Path, out: Path) -> None:
    """Gold, and silver's row count and fare total, as one parquet file (for the agreement check)."""
    import polars as pl

    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(str(home / "duck.duckdb"), read_only=True)
        gold = con.sql("SELECT * FROM gold").pl()
        silver = con.sql("SELECT count(*) AS n, sum(fare) AS fare, count(DISTINCT trip_id) AS ids FROM silver").pl()
        con.close()
    else:
        lake = home / "lake"
        gold = pl.read_delta(str(lake / "gold" / "trips_by_zone"))
        silver = pl.scan_delta(str(lake / "silver" / "trips")).select(
            pl.len().alias("n"), pl.col("fare").sum(), pl.col("trip_id").n_unique().alias("ids")).collect()
    gold = gold.select(pl.col("zone"), pl.col("day").cast(pl.Date), pl.col("trips").cast(pl.Int64),
                       pl.col("revenue").cast(pl.Float64)).sort("zone", "day")
    silver = silver.select(pl.all().cast(pl.Float64))
    gold.write_parquet(out.with_suffix(".gold.parquet"))
    silver.write_parquet(out.with_suffix(".silver.parquet"))


def worker(engine: str, home: Path) -> None:
    started = time.perf_counter()
    if engine.startswith("merge:"):
        extra = work_merge(engine.split(":", 1)[1], home)
        print(json.dumps({"work_s": time.perf_counter() - started, **extra}))
        return
    {"ratatouille": work_ratatouille, "polars": work_polars, "duckdb": work_duckdb}[engine](home)
    print(json.dumps({"work_s": time.perf_counter() - started}))


# -- the parent: fresh processes, peak memory, optional cgroup cap ---------------------------------
class Cgroup:
    """A memory cgroup (v1 or v2) of ``limit_mb`` MiB that child processes join, or None if none can be made."""

    def __init__(self, path: Path, limit_file: str) -> None:
        self.path, self.limit_file = path, limit_file

    @classmethod
    def make(cls, limit_mb: int) -> "Cgroup | None":
        name = f"ratbench-{os.getpid()}"
        for base, limit_file in ((Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"),
                                 (Path("/sys/fs/cgroup"), "memory.max")):
            if not (base / limit_file).exists() and not (base / "cgroup.controllers").exists():
                continue
            try:
                path = base / name
                path.mkdir(exist_ok=True)
                (path / limit_file).write_text(str(limit_mb * 1024 * 1024))
                swap = path / ("memory.memsw.limit_in_bytes" if limit_file.endswith("bytes") else "memory.swap.max")
                if swap.exists():
                    try:
                        swap.write_text(str(limit_mb * 1024 * 1024) if limit_file.endswith("bytes") else "0")
                    except OSError:
                        pass
                return cls(path, limit_file)
            except OSError:
                continue
        return None

    def join(self) -> None:  # runs in the child, before exec
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


def spawn(engine: str, home: Path, *, dump: Path | None = None, cgroup: Cgroup | None = None) -> dict:
    """One phase of one engine in a fresh process: wall time, work time, peak RSS (MiB), completed."""
    # the landing files are complete when copied: no settle time to wait (the other engines wait for none)
    env = dict(CHILD_ENV or os.environ, POLARS_VERBOSE="0", RAT_SETTLE_SECONDS="0")
    if engine == "rat-cli":
        argv = [str(Path(sys.executable).with_name("rat")), "run", "--all"]
        env["RAT_PROJECT_DIR"] = str(home)
    else:
        argv = [sys.executable, __file__, "--worker", engine, "--home", str(home)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=cgroup.join if cgroup else None)  # noqa: PLW1509
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    ok = proc.returncode == 0
    work, extra = wall, {}
    if ok and engine != "rat-cli":
        extra = json.loads(out.decode().strip().splitlines()[-1])
        work = extra.pop("work_s")
    if not ok and cgroup is None:
        raise SystemExit(f"{engine} failed (exit {proc.returncode}):\n{err.decode()[-3000:]}")
    if ok and dump is not None:  # the result is read in another process: neither timed nor in the peak memory
        subprocess.run([sys.executable, __file__, "--dump-only",
                        "ratatouille" if engine == "rat-cli" else engine, "--home", str(home), "--dump", str(dump)],
                       cwd=home, env=env, check=True, capture_output=True)
    return {"wall_s": wall, "work_s": work, "peak_mb": usage.ru_maxrss / 1024, "completed": ok, **extra}


def fresh_home(tmp: Path, engine: str, first: Path) -> Path:
    home = tmp / f"{engine}-{time.monotonic_ns()}"
    landing = home / "lake" / "landing" / "trips"
    landing.mkdir(parents=True)
    shutil.copy(first, landing / first.name)
    if engine in ("ratatouille", "rat-cli"):
        make_project(home)
    return home


def trial(engine: str, tmp: Path, first: Path, second: Path, *, dump: Path | None = None,
          cgroup: Cgroup | None = None) -> dict[str, dict]:
    home = fresh_home(tmp, engine, first)
    try:
        full = spawn(engine, home, cgroup=cgroup)
        shutil.copy(second, home / "lake" / "landing" / "trips" / second.name)
        incremental = spawn(engine, home, dump=dump, cgroup=cgroup) if full["completed"] else None
        return {"full": full, "incremental": incremental}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def agree(tmp: Path) -> bool:
    import polars as pl
    from polars.testing import assert_frame_equal

    reference = None
    for engine in ENGINES:
        base = tmp / f"result-{engine}"
        got = (pl.read_parquet(base.with_suffix(".gold.parquet")), pl.read_parquet(base.with_suffix(".silver.parquet")))
        if reference is None:
            reference = got
            continue
        try:
            for a, b in zip(reference, got):
                assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
        except AssertionError as exc:
            print(f"engines disagree: {ENGINES[0]} vs {engine}: {exc}")
            return False
    return True


def compile_bytecode(cache: Path) -> None:
    """Let the engines' processes load Ratatouille from bytecode compiled once into ``cache``
    (``PYTHONPYCACHEPREFIX``), as ``pip install`` compiles an installed package; the packages of
    site-packages have their ``__pycache__`` already. Without it, an editable install under
    ``PYTHONDONTWRITEBYTECODE`` compiles every module in every process."""
    global CHILD_ENV
    import ratatouille

    CHILD_ENV = cached_env(os.environ, str(cache))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(ratatouille.__file__).parent)],  # noqa: S603
                   env=CHILD_ENV, check=True, capture_output=True)


def in_child(step: str, *args: object) -> object:
    """Run a preparation step (``make_data``, ``prepare_merge``) in a child process and return its
    result: the parent stays small, since a child's peak RSS (``wait4``) counts the memory of the
    parent it was forked from."""
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_medallion as b; "
            "from pathlib import Path; "
            f"out = b.{step}(*[Path(a) if isinstance(a, str) else a for a in json.loads(sys.argv[1])]); "
            "print(json.dumps([str(p) for p in out] if isinstance(out, tuple) else str(out)))")
    text = json.dumps([str(a) if isinstance(a, Path) else a for a in args])
    done = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, check=True)  # noqa: S603
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return tuple(Path(p) for p in result) if isinstance(result, list) else Path(result)


def merge_alone(tmp: Path, first: Path, second: Path, trials: int) -> None:
    """The incremental merge alone, each engine in fresh processes on a copy of the same table:
    Ratatouille's merge, a full rewrite (the whole table rewritten with the batch applied), DuckDB's
    MERGE INTO, and Ratatouille's merge of a batch confined to a key range."""
    base = in_child("prepare_merge", tmp, first, second)
    samples: dict[str, list[dict]] = {e: [] for e in MERGE_ENGINES}
    for t in range(trials):
        for engine in MERGE_ENGINES[t % len(MERGE_ENGINES):] + MERGE_ENGINES[:t % len(MERGE_ENGINES)]:
            home = tmp / f"merge-{engine}-{time.monotonic_ns()}"
            shutil.copytree(base, home)
            try:
                samples[engine].append(spawn(f"merge:{engine}", home))
            finally:
                shutil.rmtree(home, ignore_errors=True)

    def med(engine: str) -> float:
        return statistics.median(s["work_s"] for s in samples[engine])

    print("\nmerge alone (the incremental batch into silver; work time, median)")
    print(f"{'engine':<18} {'work s':>8} {'peak MiB':>9} {'files rewritten':>16}")
    for engine in MERGE_ENGINES:
        last = samples[engine][-1]
        files = f"{last['files_rewritten']} of {last['files']}" if "files" in last else "-"
        print(f"{engine:<18} {med(engine):>8.2f} {max(s['peak_mb'] for s in samples[engine]):>9.0f} {files:>16}")
    print(f"  ratatouille merge / full rewrite        time {med('ratatouille') / med('rewrite'):5.2f}x")
    print(f"  ratatouille merge / duckdb MERGE        time {med('ratatouille') / med('duckdb'):5.2f}x")
    print(f"  local batch / spread batch (ratatouille) time {med('ratatouille-local') / med('ratatouille'):5.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--cap-mb", type=int, default=None, help="also run every engine under this memory cap")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--worker", choices=["ratatouille", "polars", "duckdb", *(f"merge:{e}" for e in MERGE_ENGINES)],
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-merge", action="store_true", help="skip the merge-alone comparison")
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dump-only", choices=["ratatouille", "polars", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--bytecode", choices=("compiled", "as-is"), default="compiled",
                        help="compiled (default): the engines load Ratatouille from compiled bytecode, as an installed "
                             "package does; as-is: the environment unchanged (PYTHONDONTWRITEBYTECODE and no "
                             "__pycache__: every process compiles Ratatouille's modules from source)")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.home)
        return 0
    if args.dump_only:
        dump_result(args.dump_only, args.home, args.dump)
        return 0

    engines = [e for e in args.engines.split(",") if e]
    tmp = Path(tempfile.mkdtemp(prefix="ratbench-"))
    try:
        if args.bytecode == "compiled":
            compile_bytecode(tmp / "pycache")
        first, second = in_child("make_data", tmp, args.rows)
        print(f"medallion benchmark: {args.rows:,} trips, batch of {args.rows // 100 + args.rows // 200:,} "
              f"(1% updates, 0.5% new), {args.trials} trial(s), engines alternating in fresh processes", flush=True)
        samples: dict[str, dict[str, list[dict]]] = {e: {p: [] for p in PHASES} for e in engines}
        for t in range(args.trials):
            order = engines[t % len(engines):] + engines[:t % len(engines)]
            for engine in order:
                dump = tmp / f"result-{engine}" if t == 0 else None
                for phase, sample in trial(engine, tmp, first, second, dump=dump).items():
                    samples[engine][phase].append(sample)

        def med(engine: str, phase: str, key: str) -> float:
            return statistics.median(s[key] for s in samples[engine][phase])

        print(f"\n{'engine':<12} {'phase':<12} {'wall s':>8} {'work s':>8} {'peak MiB':>9}")
        for engine in engines:
            for phase in PHASES:
                print(f"{engine:<12} {phase:<12} {med(engine, phase, 'wall_s'):>8.2f} "
                      f"{med(engine, phase, 'work_s'):>8.2f} {max(s['peak_mb'] for s in samples[engine][phase]):>9.0f}")
        if "ratatouille" in engines:
            print("\nratios (median wall time of the whole process; work time in brackets; peak memory)")
            for base in ("duckdb", "polars"):
                if base not in engines:
                    continue
                for phase in PHASES:
                    for ours in ("ratatouille", "rat-cli"):
                        if ours not in engines:
                            continue
                        wall = med(ours, phase, "wall_s") / med(base, phase, "wall_s")
                        work = med(ours, phase, "work_s") / med(base, phase, "work_s")
                        peak = (max(s["peak_mb"] for s in samples[ours][phase])
                                / max(s["peak_mb"] for s in samples[base][phase]))
                        print(f"  {ours:<11} / {base:<7} {phase:<12} time {wall:5.2f}x ({work:5.2f}x)  memory {peak:5.2f}x")
                end_to_end = sum(med("ratatouille", p, "wall_s") for p in PHASES) / sum(
                    med(base, p, "wall_s") for p in PHASES)
                print(f"  {'ratatouille':<11} / {base:<7} {'end to end':<12} time {end_to_end:5.2f}x")

        ok = agree(tmp) if set(ENGINES) <= set(engines) else True
        print(f"\nagree: {'yes' if ok else 'NO'}")

        if not args.no_merge and "ratatouille" in engines:
            merge_alone(tmp, first, second, args.trials)

        if args.cap_mb:
            cgroup = Cgroup.make(args.cap_mb)
            how = f"cgroup {cgroup.path}" if cgroup else "no cgroup could be made: judged from the uncapped peak RSS"
            print(f"\nmemory cap {args.cap_mb} MiB ({how})")
            for engine in engines:
                if cgroup:
                    result = trial(engine, tmp, first, second, cgroup=cgroup)
                    done = result["full"]["completed"] and bool(result["incremental"] and
                                                                 result["incremental"]["completed"])
                    print(f"  {engine:<12} {'completed' if done else 'KILLED (out of memory)'}")
                else:
                    peak = max(s["peak_mb"] for p in PHASES for s in samples[engine][p])
                    print(f"  {engine:<12} {'fits' if peak <= args.cap_mb else 'does not fit'} (peak {peak:.0f} MiB)")
            if cgroup:
                cgroup.remove()
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
