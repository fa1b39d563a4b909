"""Definitions benchmark: how long Dagster takes to load a project of ``--transforms`` SQL transforms.

Dagster users report ~36 s to load 1,000 assets; Ratatouille aims below 5 s.
The script generates a temporary project of N SQL transforms (default 1,000:
10% bronze seeds, 60% silver reading a bronze table, 30% gold joining two
silver tables; one in five has a YAML with ``columns:`` checks and a SQL
test, one in twenty is daily-partitioned, one in fifty has a schedule), then
measures, best of ``--repeat``:

* **build**: ``build_definitions(project)`` and resolving its repository and
  asset graph (what a code server does when it loads the location), in a warm
  process (Dagster, Polars and sqlglot already imported), against the
  **baseline**: N plain hand-written ``@asset`` functions with the same
  dependencies, resolved the same way, in the same process;
* **cold load**: a fresh ``python -c`` that imports ``ratatouille.definitions``
  and resolves ``defs`` (what ``dagster dev`` or a run worker pays), against a
  fresh process building the baseline assets.

It prints times and ratios (ratatouille / baseline), and whether the cold load
stays under the 5 s target. Nothing is asserted: compare ratios, not absolute
times, on a noisy machine::

    python benchmarks/bench_definitions.py --transforms 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TARGET_S = 5.0


def generate(root: Path, n: int) -> dict[str, list[str]]:
    """Write N SQL transforms under ``root``; return each table's inputs (for the baseline)."""
    pipelines = root / "workspaces" / "default" / "pipelines"
    for layer in ("bronze", "silver", "gold"):
        (pipelines / layer).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
    n_bronze = max(1, n // 10)
    n_silver = max(1, n * 6 // 10)
    n_gold = n - n_bronze - n_silver
    graph: dict[str, list[str]] = {}
    for i in range(n_bronze):
        name = f"bronze.t{i}"
        (pipelines / "bronze" / f"t{i}.sql").write_text(
            f"-- seed {i}\nSELECT CAST(d AS DATE) AS day, id, v FROM (VALUES ('2024-01-01', {i}, 1.0)) AS s(d, id, v)\n")
        graph[name] = []
    for i in range(n_silver):
        src = f"bronze.t{i % n_bronze}"
        (pipelines / "silver" / f"t{i}.sql").write_text(
            f"SELECT day, id, v * {i + 1} AS v, upper(CAST(id AS VARCHAR)) AS code\nFROM {src}\nWHERE v > 0\n")
        graph[f"silver.t{i}"] = [src]
        yaml = []
        if i % 5 == 0:
            yaml.append(textwrap.dedent(f"""\
                description: Silver table {i}.
                columns:
                  - name: id
                    type: int64
                    tests: [not_null]
                  - name: v
                    tests: [{{min: 0}}]
                tests:
                  - name: no_negative
                    sql: SELECT * FROM {{{{ this }}}} WHERE v < 0
                """))
        if i % 20 == 0:
            yaml.append("partition_by: day\npartitions: {daily: 2024-01-01}\n")
        if i % 50 == 0:
            yaml.append('triggers:\n  - schedule: "0 6 * * *"\n')
        if yaml:
            (pipelines / "silver" / f"t{i}.yaml").write_text("".join(yaml))
    for i in range(n_gold):
        a, b = f"silver.t{i % n_silver}", f"silver.t{(i * 7 + 1) % n_silver}"
        (pipelines / "gold" / f"t{i}.sql").write_text(
            f"SELECT a.day, a.id, a.v + b.v AS v\nFROM {a} AS a JOIN {b} AS b ON a.id = b.id AND a.day = b.day\n")
        graph[f"gold.t{i}"] = [a] if a == b else [a, b]
    return graph


BASELINE = '''
import dagster as dg

def build_baseline(graph):
    assets = []
    for name, inputs in graph.items():
        layer, short = name.split(".")

        @dg.asset(key=[layer, short], deps=[dg.AssetKey(i.split(".")) for i in inputs], group_name=layer,
                  kinds={"polars", "delta"}, code_version="1", description=name)
        def _asset(context):
            return None

        assets.append(_asset)
    defs = dg.Definitions(assets=assets)
    defs.get_repository_def().asset_graph
    return defs
'''


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def cold(code: str, cwd: Path, env: dict[str, str], repeat: int) -> float:
    def once() -> None:
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)

    return best(once, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transforms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg  # noqa: F401 - warm imports for the in-process timings

    from ratatouille.dagster import build_definitions
    from ratatouille.discover import Project

    with tempfile.TemporaryDirectory(prefix="rat-bench-defs-") as tmp:
        root = Path(tmp)
        graph = generate(root, args.transforms)
        namespace: dict = {}
        exec(BASELINE, namespace)

        def ours() -> None:
            defs = build_definitions(root)
            defs.get_repository_def().asset_graph

        ours()  # warm sqlglot / jinja caches as a long-running code server would
        discover = best(lambda: Project.load(root), args.repeat)
        baseline = best(lambda: namespace["build_baseline"](graph), args.repeat)
        build = best(ours, args.repeat)

        env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
        env.update(RAT_PROJECT_DIR=str(root), DAGSTER_DISABLE_TELEMETRY="1", PYTHONWARNINGS="ignore")
        cold_ours = cold("from ratatouille.definitions import defs\ndefs.get_repository_def().asset_graph\n",
                         root, env, args.repeat)
        graph_file = root / "graph.py"
        graph_file.write_text(f"GRAPH = {graph!r}\n")
        cold_base = cold(f"import sys; sys.path.insert(0, {str(root)!r})\n{BASELINE}\n"
                         "from graph import GRAPH\nbuild_baseline(GRAPH)\n", root, env, args.repeat)
        defs = build_definitions(root)
        checks = len(defs.get_repository_def().asset_graph.asset_check_keys)

    n = args.transforms
    rows = [("discovery (Project.load)", f"{discover:.3f} s"),
            ("warm: build_definitions + asset graph", f"{build:.3f} s"),
            (f"warm: {n} plain @asset (baseline)", f"{baseline:.3f} s"),
            ("warm ratio ratatouille / baseline", f"{build / baseline:.2f}x"),
            ("cold: load ratatouille.definitions", f"{cold_ours:.3f} s"),
            ("cold: baseline in a fresh process", f"{cold_base:.3f} s"),
            ("cold ratio ratatouille / baseline", f"{cold_ours / cold_base:.2f}x"),
            (f"target: cold load < {TARGET_S:.0f} s", f"{'met' if cold_ours < TARGET_S else 'NOT met'} "
                                                      f"({cold_ours / TARGET_S:.2f} of the target)")]
    print(f"{n} SQL transforms ({checks} asset checks), best of {args.repeat}")
    for label, value in rows:
        print(f"  {label:<40} {value}")

if __name__ == "__main__":
    main()
