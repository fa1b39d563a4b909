"""A run imports only what it needs (issue 13.7: a scheduled run is a fresh process, so
import time is part of every run's cost).

Each test runs a fresh Python process: ``from ratatouille import run``, a run of a small
project, then a look at ``sys.modules``. Optional heavy dependencies load on first use:

* Pandera (and pydantic) only when a schema is compiled or validated (``columns:`` in a YAML,
  ``schema=`` on a Python transform);
* fsspec (and asyncio) only when the lake lists or moves files (ingest, object storage);
* jinja2 only for SQL that uses Jinja (SQL without ``{`` renders as written);
* pyarrow's compute and dataset modules only for the ingest ledger's fallback scan, and a run
  with nothing to do (every table ``unchanged``) imports no pyarrow at all;
* sqlglot's optimizer only for a query with narrow integers or dates to type;
* the ingest stage (``ratatouille.ingest``, its writer) only for a project with an ingest transform.

No timing here (benchmarks/bench_fixed_costs.py measures it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DEFERRED = ("pandera", "pydantic", "fsspec", "jinja2", "pyarrow.compute", "pyarrow.dataset", "dagster",
            "ratatouille.ingest", "ratatouille.write._ingest")


def _run_in_fresh_process(project: Path, code: str) -> dict:
    """Run ``code`` in a fresh interpreter (``project`` is its working folder); it leaves its findings
    in the dict ``out``, printed back as JSON along with the modules loaded."""
    script = (
        "import json, sys\n"
        "out = {}\n"
        f"{code}\n"
        "out['modules'] = sorted(sys.modules)\n"
        "print('\\n' + json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for var in ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS"):
        env.pop(var, None)
    env["RAT_PROJECT_DIR"] = str(project)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=project,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def _sql_project(rat_project) -> Path:
    """SQL and YAML transforms, a table and an incremental merge, no schema, no Jinja."""
    rat_project.write("silver/trips.sql", """
        -- @materialized: incremental
        -- @strategy: merge
        -- @unique_key: trip_id
        SELECT 1 AS trip_id, 'north' AS zone, 12.5 AS fare
        UNION ALL SELECT 2, 'south', 7.0
    """)
    rat_project.write("silver/trips.yaml", "description: Trips, upserted on trip_id.\n")
    rat_project.write("gold/zones.sql", "SELECT zone, COUNT(*) AS trips, SUM(fare) AS revenue FROM silver.trips "
                                        "GROUP BY zone")
    return rat_project.root


def test_a_sql_run_imports_no_pandera_fsspec_nor_jinja(rat_project):
    root = _sql_project(rat_project)
    out = _run_in_fresh_process(root, (
        "from ratatouille import run\n"
        "out['after_import'] = sorted(sys.modules)\n"
        "result = run('*')\n"
        "out['statuses'] = [r['status'] for r in result['results']]\n"
    ))
    assert out["statuses"] == ["success", "success"]
    for name in DEFERRED:
        assert not _loaded(out["after_import"], name), f"'from ratatouille import run' imported {name}"
        assert not _loaded(out["modules"], name), f"a run of SQL transforms without a schema imported {name}"
    assert not _loaded(out["after_import"], "pyarrow"), "'from ratatouille import run' imported pyarrow"
    assert _loaded(out["modules"], "sqlglot") and _loaded(out["modules"], "deltalake")


def test_a_run_with_nothing_to_do_imports_no_pyarrow(rat_project):
    root = _sql_project(rat_project)
    rat_project.run("*")
    out = _run_in_fresh_process(root, (
        "from ratatouille import run\n"
        "out['statuses'] = [r['status'] for r in run('*')['results']]\n"
    ))
    assert out["statuses"] == ["unchanged", "unchanged"]
    for name in (*DEFERRED, "pyarrow", "sqlglot.optimizer.qualify"):
        assert not _loaded(out["modules"], name), f"a run with nothing to do imported {name}"


def test_jinja_is_imported_when_the_sql_uses_it(rat_project):
    rat_project.write("silver/one.sql", "SELECT {{ 40 + 2 }} AS x")
    rat_project.write("gold/two.sql", "SELECT x FROM {{ ref('silver.one') }}")
    out = _run_in_fresh_process(rat_project.root, (
        "from ratatouille import run, query\n"
        "run('*')\n"
        "out['x'] = query('SELECT x FROM gold.two')['x'].to_list()\n"
    ))
    assert out["x"] == [42]
    assert _loaded(out["modules"], "jinja2")


def test_a_declared_schema_still_validates(rat_project):
    """``columns:`` compile into a Pandera schema: Pandera is imported then, and a failing
    check still blocks the write."""
    rat_project.write("silver/fares.sql", "SELECT 1 AS trip_id, -3.0 AS fare UNION ALL SELECT 2, 5.0")
    rat_project.write("silver/fares.yaml", """
        columns:
          - name: fare
            tests: [positive]
          - name: trip_id
            tests: [not_null, unique]
    """)
    rat_project.write("silver/good.sql", "SELECT 1 AS trip_id, 3.0 AS fare")
    rat_project.write("silver/good.yaml", """
        columns:
          - name: fare
            tests: [positive]
    """)
    out = _run_in_fresh_process(rat_project.root, (
        "from ratatouille import run, CheckError\n"
        "out['good'] = run('silver.good')['checks']\n"
        "try:\n"
        "    run('silver.fares')\n"
        "except CheckError as exc:\n"
        "    out['error'] = str(exc)\n"
    ))
    assert [c["passed"] for c in out["good"]] == [True]
    assert "fare" in out["error"] and "greater_than(0)" in out["error"]
    assert _loaded(out["modules"], "pandera")
    assert rat_project.version("silver.fares") is None and rat_project.version("silver.good") == 0


def test_ingest_on_a_local_lake_still_lists_its_files(rat_project):
    """fsspec is imported when the lake's files are listed: an ingest still finds its landing files."""
    rat_project.landing("trips/a.csv", "trip_id,fare\n1,2.5\n2,4.0\n")
    rat_project.write("bronze/trips.yaml", "source: landing/trips/\nformat: csv\n")
    out = _run_in_fresh_process(rat_project.root, (
        "from ratatouille import run\n"
        "result = run('bronze.trips')\n"
        "out['rows'] = result['rows_written']\n"
    ))
    assert out["rows"] == 2
    assert _loaded(out["modules"], "fsspec") and _loaded(out["modules"], "ratatouille.ingest")
    assert not _loaded(out["modules"], "pandera")


def test_rat_run_all_imports_no_pandera_fsspec_nor_dagster(rat_project):
    root = _sql_project(rat_project)
    out = _run_in_fresh_process(root, (
        "import contextlib, io\n"
        "from ratatouille.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    out['exit'] = main(['run', '--all'])\n"
        "out['printed'] = buf.getvalue()\n"
    ))
    assert out["exit"] == 0, out
    assert "gold.zones" in out["printed"]
    for name in DEFERRED:
        if name != "pydantic":  # typer (>= 0.29) imports pydantic itself to coerce a command's arguments
            assert not _loaded(out["modules"], name), f"rat run --all imported {name}"
