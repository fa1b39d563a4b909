"""Catalog and maintenance helpers: ``from ratatouille import tools``.

>>> from ratatouille import tools
>>> [path.rsplit("/", 1)[-1] for path in tools.ls("landing/sales/")]
['2024-01-01.csv', '2024-01-02.csv', '2024-01-03.csv']
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import polars as pl

from ._names import table_name
from .discover import Project
from .errors import TableNotFoundError
from .plan import DAG

if TYPE_CHECKING:  # annotations only: imported where used (workspace loads the write stack)
    from ._versions import VacuumResult
    from ._workspace import TableDiff
    from .write import Target


def _project(workspace: str | None, project_dir: str | None = None) -> Project:
    return Project.load(project_dir, workspace=workspace)


def _table(name: str, workspace: str | None) -> tuple[Project, Target]:
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

    A symbolic link inside ``path`` whose target is outside the lake is not listed (a warning
    names it).

    Parameters
    ----------
    path : str
        A folder or file relative to the lake root (``""``: the whole lake).
    workspace : str, optional
        The workspace whose lake settings apply (default: the settings' one).

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        ``path`` leads outside the lake (``"../.."``, an absolute path elsewhere, a symbolic
        link out of it).

    Examples
    --------
    >>> from ratatouille import tools
    >>> len(tools.ls("landing/sales/")), tools.ls("landing/sales/")[0].endswith("2024-01-01.csv")
    (3, True)
    """
    return _ls(path, workspace, [])


def _ls(path: str, workspace: str | None, refused: list) -> list[str]:
    """``ls``, collecting the symbolic links it did not follow into ``refused`` (``rat ls`` prints them)."""
    return [f.path for f in _project(workspace).lake.files(path, refused=refused)]


def tables(*, workspace: str | None = None) -> pl.DataFrame:
    """Every table of the workspace, and where each resolves.

    Parameters
    ----------
    workspace : str, optional
        The workspace (default: the settings' one).

    Returns
    -------
    polars.DataFrame
        ``table``, ``kind``, ``mode``, ``resolves_to`` (``own``, ``default`` when inherited
        from production, ``view``, ``not built``), ``version`` (the one read) and ``pinned``.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.tables().select("table", "resolves_to", "version").rows()[:2]
    [('bronze.sales', 'own', 0), ('gold.daily_revenue', 'own', 0)]
    """
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
    """The Polars schema of a table (or of the plan of a view).

    Parameters
    ----------
    name : str
        ``layer.name``.
    workspace : str, optional
        The workspace (default: the settings' one).

    Returns
    -------
    polars.Schema

    Raises
    ------
    TableNotFoundError
        No such table, or not built yet.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.schema("silver.sales")["total"]
    Float64
    """
    table_name(name)
    from ._query import read

    return read(name, workspace=workspace).collect_schema()


def history(name: str, *, workspace: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """The Delta history of a table, newest first, with Ratatouille's commit metadata.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table (a view has no history).
    workspace : str, optional
        The workspace (default: the settings' one).
    limit : int, optional
        At most this many versions.

    Returns
    -------
    polars.DataFrame
        ``version``, ``timestamp``, ``operation``, ``transform``, ``run_id``, ``mode``,
        ``rows_added`` and the operation's ``parameters`` (JSON).

    Raises
    ------
    TableNotFoundError
        No such table, or not built yet.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.history("silver.sales").select("version", "transform", "rows_added").rows()
    [(0, 'silver.sales', 9)]
    """
    _, target = _table(name, workspace)
    table = target.open()
    if table is None:  # removed since it was found
        raise TableNotFoundError(f"table {name} has not been built yet: run `rat run {name}`")
    rows = []
    for h in table.history(limit):
        metrics = h.get("operationMetrics") or {}
        rows.append({"version": h.get("version"), "timestamp": h.get("timestamp"), "operation": h.get("operation"),
                     "transform": h.get("ratatouille.transform"), "run_id": h.get("ratatouille.run_id"),
                     "mode": h.get("ratatouille.mode"),
                     "rows_added": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                     "parameters": json.dumps(h.get("operationParameters") or {})})
    df = pl.DataFrame(rows, infer_schema_length=None)
    if "timestamp" in df.columns:
        df = df.with_columns(pl.from_epoch("timestamp", time_unit="ms"))
    return df


def preview(name: str, n: int = 10, *, workspace: str | None = None) -> pl.DataFrame:
    """The first ``n`` rows of a table (or view).

    Parameters
    ----------
    name : str
        ``layer.name``.
    n : int
        How many rows.
    workspace : str, optional
        The workspace (default: the settings' one).

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    TableNotFoundError
        No such table, or not built yet.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.preview("silver.sales", 2)["order_id"].to_list()
    [1001, 1002]
    """
    table_name(name)
    from ._query import read

    return read(name, workspace=workspace).head(n).collect()


def lineage(name: str | None = None, *, workspace: str | None = None) -> dict[str, Any]:
    """Upstream and downstream of ``name``, or every edge of the project when ``name`` is None.

    Parameters
    ----------
    name : str, optional
        ``layer.name`` of a transform.
    workspace : str, optional
        The workspace (default: the settings' one).

    Returns
    -------
    dict
        For a table: ``table``, ``inputs``, ``upstream``, ``downstream``; for the project:
        ``tables`` and ``edges`` (``[from, to]`` pairs).

    Raises
    ------
    TableNotFoundError
        ``name`` is no transform.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.lineage("silver.sales")["downstream"]
    ['gold.daily_revenue', 'gold.sales_summary']
    """
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
    """Compact a table's small files (or Z-order by columns); one new Delta version.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace (default: the settings' one).
    z_order : list of str, optional
        Columns to Z-order the files by (default: compaction only).

    Returns
    -------
    dict
        delta-rs' metrics (``numFilesAdded``, ``numFilesRemoved``...).

    Raises
    ------
    TableNotFoundError
        The table has not been built in this workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.optimize("bronze.sales")["numFilesRemoved"]
    0
    """
    table_name(name)
    project = _project(workspace)
    target = project.target(name)
    table = target.open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    metrics = table.optimize.z_order(z_order) if z_order else table.optimize.compact()
    return dict(metrics)


def vacuum(name: str, *, workspace: str | None = None, retention_hours: int = 168,
           dry_run: bool = False) -> VacuumResult:
    """Delete files no longer referenced by versions newer than ``retention_hours``.

    The files of a version that a pinned workspace still reads (``pin: true``, ``pins.yaml``)
    are kept: the result says so in ``.kept`` (``{version: [workspaces]}``) and ``.message``.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace (default: the settings' one).
    retention_hours : int
        Keep the files of versions newer than this.
    dry_run : bool
        List what would be removed, remove nothing.

    Returns
    -------
    VacuumResult
        The removed (or removable) paths: a list, with ``.kept`` and ``.message``.

    Raises
    ------
    TableNotFoundError
        The table has not been built in this workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.vacuum("bronze.sales", retention_hours=0).message
    'kept the files of bronze.sales v0 (pinned by workspace alice)'
    """
    from ._versions import vacuum as _vacuum

    table_name(name)
    project = _project(workspace)
    table = project.target(name).open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    return _vacuum(project, name, table, retention_hours=retention_hours, dry_run=dry_run)


def diff(name: str, *, workspace: str | None = None, key: list[str] | None = None, sample: int = 5) -> TableDiff:
    """Compare a workspace's table with default's: schema, row counts, rows added/removed/changed
    by ``unique_key`` (else all columns) and sample rows.

    Parameters
    ----------
    name : str
        ``layer.name``.
    workspace : str, optional
        The workspace compared with default (default: the settings' one).
    key : list of str, optional
        Columns that identify a row (default: the transform's ``unique_key``, else all columns).
    sample : int
        How many sample rows of each kind.

    Returns
    -------
    TableDiff
        ``.summary()``, ``.to_dict()``, ``.added``/``.removed``/``.changed`` counts.

    Raises
    ------
    TableNotFoundError
        The table exists in neither workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> print(tools.diff("silver.sales", workspace="alice").summary())
    silver.sales: workspace alice (v0) vs default (v0)
    schema: unchanged
    rows: default 9 -> alice 7 (-2)
    by order_id (unique_key): 0 added, 2 removed, 0 changed
    """
    from ._workspace import diff as _diff

    table_name(name)
    return _diff(name, workspace=workspace, key=key, sample=sample)


def test(selection: str | list[str] | None = None, *, workspace: str | None = None,
         project_dir: str | None = None) -> dict[str, Any]:
    """Run every check of the selected tables on the STORED tables, like ``dbt test`` (``rat test``).

    Nothing is built or written. A failed check does not raise: read ``report["status"]``
    (``"passed"``, ``"warned"`` or ``"failed"``) and each table's checks, with failing-row samples.

    Parameters
    ----------
    selection : str, list of str, or None
        A table name, a selector (``+gold.x``, ``silver.y+``), a list of them, or None for all.
    workspace : str, optional
        The workspace (default: settings / ``RAT_WORKSPACE``).
    project_dir : str, optional
        The project folder (default: found from the current directory).

    Returns
    -------
    dict
        ``status``, counts (``passed``/``warned``/``failed``/``errors``) and ``tables``.

    Raises
    ------
    TableNotFoundError
        A selected name is no transform.

    Examples
    --------
    >>> from ratatouille import tools
    >>> report = tools.test("silver.sales")
    >>> report["status"], [c["name"] for c in report["tables"][0]["checks"]][:1]
    ('passed', ['schema'])
    """
    from .check._stored import test_stored

    return test_stored(selection, workspace=workspace, project_dir=project_dir)
