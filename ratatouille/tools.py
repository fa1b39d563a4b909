"""Catalog and maintenance helpers: ``from ratatouille import tools``.

>>> from ratatouille import tools
>>> tools.ls("landing/sales/")        # doctest: +SKIP
['/project/lake/landing/sales/2024-01-01.csv', ...]
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ._names import table_name
from .discover import Project
from .errors import TableNotFoundError
from .plan import DAG
from .write._commit import OPERATION  # a merge committed as files (copy-on-write) is still a MERGE


def _project(workspace: str | None, project_dir: str | None = None) -> Project:
    return Project.load(project_dir, workspace=workspace)


def _table(name: str, workspace: str | None):
    table_name(name)
    project = _project(workspace)
    target = project.read_target(name)
    if target is None:
        from ._names import not_found

        t = project.transforms.get(name)
        if t is not None and t.mode == "view":
            raise TableNotFoundError(f"{name} is a view: it is never written, so it has no Delta table "
                                     "(read it with query() or read())")
        if t is not None:
            raise TableNotFoundError(f"table {name} has not been built yet: run `rat run {name}`")
        raise not_found(name, project.transforms)
    return project, target


def ls(path: str = "", *, workspace: str | None = None) -> list[str]:
    """Sorted full paths of the files under a lake path (local or S3).

    ``path`` is relative to the lake root; one that leads outside the lake (``"../.."``, an
    absolute path elsewhere, a symbolic link out of it) raises ConfigError. A symbolic link
    inside ``path`` whose target is outside the lake is not listed (a warning names it).

    >>> tools.ls("landing/sales/")        # doctest: +SKIP
    """
    return _ls(path, workspace, [])


def _ls(path: str, workspace: str | None, refused: list) -> list[str]:
    """``ls``, collecting the symbolic links it did not follow into ``refused`` (``rat ls`` prints them)."""
    return [f.path for f in _project(workspace).lake.files(path, refused=refused)]


def tables(*, workspace: str | None = None) -> pl.DataFrame:
    """Every table of the workspace: name, kind, mode, where it resolves (``own``, ``default`` when
    inherited from production, ``view``, ``not built``), the version read and whether it is pinned."""
    from ._workspace import resolve

    project = _project(workspace)
    rows = []
    for name in _all_tables(project):
        t = project.transforms.get(name)
        r = resolve(project, name)
        rows.append({"table": name, "kind": t.kind if t else "external", "mode": t.mode if t else None,
                     "resolves_to": r["resolves_to"], "version": r["version"], "pinned": r["pinned"]})
    return pl.DataFrame(rows, schema={"table": pl.String, "kind": pl.String, "mode": pl.String,
                                      "resolves_to": pl.String, "version": pl.Int64, "pinned": pl.Boolean})


def _all_tables(project: Project) -> list[str]:
    return sorted(project.known_tables())


def schema(name: str, *, workspace: str | None = None) -> pl.Schema:
    """The Polars schema of a table (or of the plan of a view)."""
    table_name(name)
    from ._query import read

    return read(name, workspace=workspace).collect_schema()


def history(name: str, *, workspace: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """The Delta history of a table, newest first, with Ratatouille's commit metadata."""
    _, target = _table(name, workspace)
    rows = []
    for h in target.open().history(limit):
        metrics = h.get("operationMetrics") or {}
        rows.append({"version": h.get("version"), "timestamp": h.get("timestamp"), "operation": h.get(OPERATION) or h.get("operation"),
                     "transform": h.get("ratatouille.transform"), "run_id": h.get("ratatouille.run_id"),
                     "mode": h.get("ratatouille.mode"),
                     "rows_added": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                     "parameters": json.dumps(h.get("operationParameters") or {})})
    df = pl.DataFrame(rows, infer_schema_length=None)
    if "timestamp" in df.columns:
        df = df.with_columns(pl.from_epoch("timestamp", time_unit="ms"))
    return df


def preview(name: str, n: int = 10, *, workspace: str | None = None) -> pl.DataFrame:
    """The first ``n`` rows of a table (or view)."""
    table_name(name)
    from ._query import read

    return read(name, workspace=workspace).head(n).collect()


def lineage(name: str | None = None, *, workspace: str | None = None) -> dict[str, Any]:
    """Upstream and downstream of ``name``, or every edge of the project when ``name`` is None."""
    if name is not None:
        table_name(name)
    project = _project(workspace)
    dag = DAG(project.transforms)
    if name is None:
        return {"tables": sorted(project.transforms), "edges": [list(e) for e in dag.edges()]}
    t = project.get(name)
    return {"table": name, "inputs": list(t.inputs), "upstream": sorted(dag.ancestors(name)),
            "downstream": sorted(dag.descendants(name))}


def optimize(name: str, *, workspace: str | None = None, z_order: list[str] | None = None) -> dict[str, Any]:
    """Compact a table's small files (or Z-order by columns); one new Delta version."""
    table_name(name)
    project = _project(workspace)
    target = project.target(name)
    table = target.open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    metrics = table.optimize.z_order(z_order) if z_order else table.optimize.compact()
    return dict(metrics)


def vacuum(name: str, *, workspace: str | None = None, retention_hours: int = 168,
           dry_run: bool = False) -> list[str]:
    """Delete files no longer referenced by versions newer than ``retention_hours``.

    The files of a version that a pinned workspace still reads (``pin: true``, ``pins.yaml``)
    are kept: the result (a list of the removed paths) says so in ``.kept``
    (``{version: [workspaces]}``) and ``.message``.

    Raises TableNotFoundError when the table has not been built.

    >>> tools.vacuum("bronze.sales", retention_hours=0).message      # doctest: +SKIP
    'kept the files of bronze.sales v0 (pinned by workspace alice)'
    """
    from ._versions import vacuum as _vacuum

    table_name(name)
    project = _project(workspace)
    table = project.target(name).open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    return _vacuum(project, name, table, retention_hours=retention_hours, dry_run=dry_run)


def diff(name: str, *, workspace: str | None = None, key: list[str] | None = None, sample: int = 5):
    """Compare a workspace's table with default's: schema, row counts, rows added/removed/changed
    by ``unique_key`` (else all columns) and sample rows. Returns a ``TableDiff``
    (``.summary()``, ``.to_dict()``, ``["added"]``...).

    >>> tools.diff("silver.sales", workspace="alice").summary()   # doctest: +SKIP
    """
    from ._workspace import diff as _diff

    table_name(name)
    return _diff(name, workspace=workspace, key=key, sample=sample)


def test(selection: str | list[str] | None = None, *, workspace: str | None = None,
         project_dir: str | None = None) -> dict[str, Any]:
    """Run every check of the selected tables on the STORED tables, like ``dbt test`` (``rat test``).

    Nothing is built or written. A failed check does not raise: read ``report["status"]``
    (``"passed"``, ``"warned"`` or ``"failed"``) and each table's checks, with failing-row samples.

    Parameters:
        selection: a table name, a selector (``+gold.x``, ``silver.y+``), a list of them, or None for all.
        workspace: the workspace (default: settings / ``RAT_WORKSPACE``).
        project_dir: the project folder (default: found from the current directory).

    Raises:
        TableNotFoundError: a selected name is no transform.

    >>> from ratatouille import tools
    >>> report = tools.test("silver.sales")      # doctest: +SKIP
    >>> report["status"]                         # doctest: +SKIP
    'passed'
    """
    from .check._stored import test_stored

    return test_stored(selection, workspace=workspace, project_dir=project_dir)
