"""Fixed costs (issue 13.7): what Ratatouille adds before any data is touched.

Measured, medians of ``--repeat`` runs, engines alternating:

* **rat --help** in a fresh process against ``python -c "import polars"`` (the
  floor of any Polars tool): the CLI imports typer and rich only, each command
  importing the project's modules when it runs;
* **import ratatouille** in a fresh process against the same floor;
* **rat run of a no-op project** (one ``SELECT 1`` transform) in a fresh process;
* **query()** in a generated project of ``--transforms`` SQL transforms (default
  1,000), warm process, against the bare Polars query over the same Delta
  table (``pl.scan_delta`` + ``pl.SQLContext``): discovery is cached by file
  modification times, so a second ``query()`` reads no transform file. The
  target: at most 50 ms over the bare query.

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

QUERY = "SELECT COUNT(*) AS n, SUM(x) AS s FROM silver.t0000"
TARGET_MS = 50.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transforms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    env = {**os.environ}
    env.pop("RAT_WORKSPACE", None)
    env.pop("RAT_LAKE", None)
    py = sys.executable
    rat = [py, "-m", "ratatouille"]
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop"
        (noop / "workspaces/default/pipelines/silver").mkdir(parents=True)
        (noop / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
        (noop / "workspaces/default/pipelines/silver/one.sql").write_text("-- @materialized: view\nSELECT 1 AS x")
        times: dict[str, list[float]] = {k: [] for k in ("polars", "import", "help", "run")}
        for _ in range(args.repeat):  # alternating, fresh processes
            times["polars"].append(_time_process([py, "-c", "import polars"], env))
            times["import"].append(_time_process([py, "-c", "import ratatouille"], env))
            times["help"].append(_time_process([*rat, "--help"], env))
            times["run"].append(_time_process([*rat, "run", "silver.one"], {**env, "RAT_PROJECT_DIR": str(noop)}))
        base = _median(times["polars"])
        print(f"fresh process, median of {args.repeat}:")
        print(f"  python -c 'import polars'     {base * 1000:8.1f} ms")
        for key, label in (("import", "python -c 'import ratatouille'"), ("help", "rat --help"),
                           ("run", "rat run (no-op project)")):
            m = _median(times[key])
            print(f"  {label:<30}{m * 1000:8.1f} ms   ratio to import polars: {m / base:5.2f}")

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
