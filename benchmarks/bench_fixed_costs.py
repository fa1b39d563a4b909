"""Fixed costs (issue 13.7): what Ratatouille adds before any data is touched.

Measured, medians of ``--repeat`` runs, engines alternating:

* **rat --help** in a fresh process against ``python -c "import polars"`` (the
  floor of any Polars tool): the CLI imports typer and rich only, each command
  importing the project's modules when it runs;
* **import ratatouille** in a fresh process against the same floor;
* **rat run of a no-op project** (one ``SELECT 1`` transform) in a fresh process;
* **from ratatouille import run** (the module graph a run imports) against ``python -c "import polars,
  deltalake"`` (what any run pays anyway), in fresh processes (whole process: start, import, exit) and
  timed inside the process (the import alone), and ``run()`` of the no-op project in a fresh process;
* **query()** in a generated project of ``--transforms`` SQL transforms (default
  1,000), warm process, against the bare Polars query over the same Delta
  table (``pl.scan_delta`` + ``pl.SQLContext``): discovery is cached by file
  modification times, so a second ``query()`` reads no transform file. The
  target: at most 50 ms over the bare query.

Bytecode: by default the processes load modules from a bytecode cache (a temporary
``PYTHONPYCACHEPREFIX``, warmed first), as an installed package does. ``--bytecode as-is``
keeps the environment as it is: with ``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``
(an editable install that never wrote one), every process compiles Ratatouille's modules
from source (about 80 ms more). The import of ``run`` compiled from source is printed in
both modes.

It prints times, differences and ratios. Nothing is asserted: compare ratios on a
noisy machine::

    python benchmarks/bench_fixed_costs.py --transforms 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bytecode import cached_env  # benchmarks/_bytecode.py (run as a script: its folder is on sys.path)

QUERY = "SELECT COUNT(*) AS n, SUM(x) AS s FROM silver.t0000"
TARGET_MS = 50.0
IMPORT_TARGET_MS = 150.0  # `from ratatouille import run` on top of `import polars, deltalake`
BASE = "import polars, deltalake"
RUN_IMPORT = BASE + "; from ratatouille import run"
# the import alone, timed inside the process (no interpreter start nor exit)
TIMED_IMPORT = ("import time; import polars, deltalake; t = time.perf_counter(); from ratatouille import run; "
                "print((time.perf_counter() - t) * 1000)")


def generate(root: Path, n: int) -> None:
    """A project of ``n`` SQL transforms: silver.t0000 is a table, the others are views reading it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
    silver = root / "workspaces" / "default" / "pipelines" / "silver"
    gold = root / "workspaces" / "default" / "pipelines" / "gold"
    silver.mkdir(parents=True)
    gold.mkdir(parents=True)
    (silver / "t0000.sql").write_text("SELECT 1 AS x UNION ALL SELECT 2 AS x")
    for i in range(1, n):
        if i % 3 == 0:  # a third in gold, reading silver.t0000
            (gold / f"g{i:04d}.sql").write_text(f"-- @materialized: view\nSELECT x * {i} AS y FROM silver.t0000")
        else:
            (silver / f"t{i:04d}.sql").write_text(f"-- @materialized: view\nSELECT x + {i} AS x FROM silver.t0000 "
                                                  f"WHERE x > {i % 7}")
    old = time.time() - 60  # files saved a minute ago (a file saved this very second is never cached)
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old))


def _time_process(args: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _timed_import(env: dict[str, str]) -> float:
    """Milliseconds of ``from ratatouille import run`` after ``import polars, deltalake``, inside one process."""
    out = subprocess.run([sys.executable, "-c", TIMED_IMPORT], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transforms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bytecode", choices=("cached", "as-is"), default="cached",
                        help="cached: load modules from a (temporary) bytecode cache, as an installed package does; "
                             "as-is: the environment unchanged (PYTHONDONTWRITEBYTECODE: compile from source)")
    args = parser.parse_args()

    env = {**os.environ}
    env.pop("RAT_WORKSPACE", None)
    env.pop("RAT_LAKE", None)
    py = sys.executable
    rat = [py, "-m", "ratatouille"]
    as_is = dict(env)
    with tempfile.TemporaryDirectory() as tmp:
        if args.bytecode == "cached":
            env = cached_env(env, str(Path(tmp) / "pycache"))
        noop = Path(tmp) / "noop"
        (noop / "workspaces/default/pipelines/silver").mkdir(parents=True)
        (noop / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
        (noop / "workspaces/default/pipelines/silver/one.sql").write_text("-- @materialized: view\nSELECT 1 AS x")
        noop_env = {**env, "RAT_PROJECT_DIR": str(noop)}
        run_call = RUN_IMPORT + "; run('silver.one')"
        commands = {
            "polars": [py, "-c", "import polars"],
            "import": [py, "-c", "import ratatouille"],
            "help": [*rat, "--help"],
            "run": [*rat, "run", "silver.one"],
            "base": [py, "-c", BASE],
            "run_import": [py, "-c", RUN_IMPORT],
            "run_call": [py, "-c", run_call],
        }
        for key in ("polars", "base", "run_import", "run", "run_call"):  # warm-up: the bytecode cache is written
            _time_process(commands[key], noop_env)
        times: dict[str, list[float]] = {k: [] for k in (*commands, "timed", "timed_source")}
        for _ in range(args.repeat):  # alternating, fresh processes
            for key, command in commands.items():
                times[key].append(_time_process(command, noop_env if key.startswith("run") else env))
            times["timed"].append(_timed_import(env) / 1000)
            times["timed_source"].append(_timed_import(as_is) / 1000)
        print(f"fresh process, median of {args.repeat} (bytecode: {args.bytecode}):")
        base = _median(times["polars"])
        print(f"  python -c 'import polars'     {base * 1000:8.1f} ms")
        for key, label in (("import", "python -c 'import ratatouille'"), ("help", "rat --help"),
                           ("run", "rat run (no-op project)")):
            m = _median(times[key])
            print(f"  {label:<30}{m * 1000:8.1f} ms   ratio to import polars: {m / base:5.2f}")
        base2 = _median(times["base"])
        print(f"  python -c '{BASE}'   {base2 * 1000:8.1f} ms")
        for key, label in (("run_import", "+ from ratatouille import run"), ("run_call", "+ run() of the no-op project")):
            m = _median(times[key])
            print(f"  {label:<30}{m * 1000:8.1f} ms   ratio to import polars, deltalake: {m / base2:5.2f}   "
                  f"added: {(m - base2) * 1000:6.1f} ms")
        timed, source = _median(times["timed"]) * 1000, _median(times["timed_source"]) * 1000
        print(f"from ratatouille import run, timed inside the process after import polars, deltalake: {timed:6.1f} ms "
              f"(target <= {IMPORT_TARGET_MS:.0f} ms: {'met' if timed <= IMPORT_TARGET_MS else 'NOT met'}); "
              f"compiled from source (environment as is): {source:6.1f} ms")

        big = Path(tmp) / "big"
        generate(big, args.transforms)
        os.environ["RAT_PROJECT_DIR"] = str(big)
        import polars as pl

        import ratatouille

        ratatouille.run("silver.t0000", project_dir=big)
        uri = str(big / "lake" / "silver" / "t0000")
        ratatouille.query(QUERY, project_dir=big)  # the first call discovers and caches

        def bare() -> pl.DataFrame:
            ctx = pl.SQLContext({"t": pl.scan_delta(uri)})
            return ctx.execute(QUERY.replace("silver.t0000", "t")).collect()

        ours, theirs = [], []
        for _ in range(max(args.repeat, 5)):
            started = time.perf_counter()
            a = ratatouille.query(QUERY, project_dir=big)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            b = bare()
            theirs.append(time.perf_counter() - started)
            assert a.rows() == b.rows(), (a, b)
        q, bq = _median(ours), _median(theirs)
        over = (q - bq) * 1000
        print(f"query() in a project of {args.transforms} transforms, warm, median of {len(ours)}:")
        print(f"  bare Polars (scan_delta + SQLContext) {bq * 1000:8.1f} ms")
        print(f"  ratatouille.query()                   {q * 1000:8.1f} ms   ratio: {q / bq:5.2f}   "
              f"added: {over:6.1f} ms (target <= {TARGET_MS:.0f} ms: {'met' if over <= TARGET_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
