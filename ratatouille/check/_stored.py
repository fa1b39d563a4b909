"""``rat test`` / ``tools.test``: every check of the selected tables on the STORED tables, like ``dbt test``.

Nothing is built or written: each table is read as stored (a view as its plan over stored
inputs); SQL tests run lazily over the Delta scan (streaming), the ``schema`` check reads only the
declared columns (all of them for a ``DataFrameModel``). A table that is not built, or a check
that cannot run, is an error of that table; the other tables are still tested.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Iterable

import polars as pl

from ..discover import Project
from ..errors import RatatouilleError
from ..execute import Runner
from . import CheckResult, jsonable, prepare_sql_test, run_sql_test, schema_checks
from ._store_failures import FailureStore
from ._store_plain import store_plain_failures


def test_stored(selection: str | Iterable[str] | None = None, *, workspace: str | None = None,
                project_dir: str | None = None, project: Any = None,
                store_failures: bool | None = None) -> dict[str, Any]:
    """Run every check of every selected table on what is stored, and report (never raise on a failed check).

    Parameters:
        selection: a table name, a selector (``+gold.x``, ``silver.y+``), a list of them, or None / ``"*"``
            for every transform.
        workspace: the workspace (default: settings / ``RAT_WORKSPACE``).
        project_dir: the project folder (default: found from the current directory).
        store_failures: keep every test's failing rows in ``audit.<layer>_<name>__<test>`` (None: the
            project's ``store_failures`` setting; a test's own ``store_failures`` wins).

    Returns a JSON-serializable mapping: ``status`` (``"passed"``, ``"warned"`` or ``"failed"``),
    counts ``passed``/``warned``/``failed``/``errors``, and ``tables``: one entry per table with its
    ``status``, ``rows``, ``checks`` (each with ``failing_rows`` and ``failures``, a sample of failing
    rows) and ``error`` (a table not built yet, a check that cannot run).

    Raises:
        TableNotFoundError: a selected name is no transform.
        ConfigError: the project cannot be loaded.

    >>> from ratatouille import tools
    >>> report = tools.test("silver.sales")
    >>> report["status"], report["tables"][0]["checks"][0]["failing_rows"]
    ('passed', 0)
    """

    # a session (ratatouille.Project) passes the project it loaded once
    project = project if project is not None else Project.load(project_dir, workspace=workspace)
    runner = Runner(project, dry_run=True)
    default = project.settings.store_failures if store_failures is None else store_failures
    store = FailureStore(project, bool(default), runner.run_id)
    if selection is None or selection == "*":
        selectors = None
    else:
        selectors = [selection] if isinstance(selection, str) else list(selection)
        if "*" in selectors:
            selectors = None
    started = time.perf_counter()
    tables = [_test_table(project.transforms[name], runner, store) for name in runner.dag.order(selectors)]
    counts = {"passed": 0, "warned": 0, "failed": 0,
              "errors": sum(1 for t in tables if t["error"] is not None)}
    for t in tables:
        for c in t["checks"]:
            counts["passed" if c["passed"] else "failed" if c["severity"] == "error" else "warned"] += 1
    status = "failed" if counts["failed"] or counts["errors"] else "warned" if counts["warned"] else "passed"
    return {"status": status, **counts, "duration_s": round(time.perf_counter() - started, 3), "tables": tables}


def _frame_for(runner: Any, reader: str, name: str) -> pl.LazyFrame:
    """The stored table ``name`` as ``reader`` (the tested table) reads it."""
    return runner.frame(name, reader=reader)


def _test_table(t: Any, runner: Any, store: FailureStore | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    entry: dict[str, Any] = {"table": t.name, "status": "passed", "rows": None, "checks": [], "error": None}
    results: list[CheckResult] = []
    try:
        lf = runner.frame(t.name)
        entry["rows"] = int(lf.select(pl.len()).collect(engine="streaming").item())
        if getattr(t, "schema", None) is not None or t.has_schema_checks:
            results.extend(schema_checks(t, lf))  # one streaming pass (check/_streaming.py)
            store_plain_failures(t, lambda spec: prepare_sql_test(spec, t, lf, functools.partial(
                _frame_for, runner, t.name)).failing, store)
        for test in t.config.tests:
            results.append(run_sql_test(test, t, lf, resolve=functools.partial(_frame_for, runner, t.name),
                                        store=store))
    except RatatouilleError as exc:
        entry["error"] = str(exc)
    except Exception as exc:  # a Polars/Pandera error of one table: reported, the others still run
        entry["error"] = f"{t.name}: {type(exc).__name__}: {exc}"
    entry["checks"] = list(jsonable(results))
    if entry["error"] is not None or any(r.blocking for r in results):
        entry["status"] = "failed"
    elif any(not r.passed for r in results):
        entry["status"] = "warned"
    entry["duration_s"] = round(time.perf_counter() - started, 3)
    return entry

