"""Catalog and maintenance helpers: ``from ratatouille import tools``.

Each helper loads the project once (``workspace=``, ``project_dir=``) and
calls its ``*_of(project, ...)`` twin, which a :class:`ratatouille.Project`
session calls on the project it already holds.

>>> from ratatouille import tools
>>> [path.rsplit("/", 1)[-1] for path in tools.ls("landing/sales/")]
['2024-01-01.csv', '2024-01-02.csv', '2024-01-03.csv']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from ._boundary import RefusedLink
from ._catalog import pinned_versions
from ._names import not_found, table_name
from ._query import read_project
from ._versions import VacuumResult
from ._versions import vacuum as _vacuum
from .check._stored import test_stored as _test_stored
from .discover import Project
from .errors import TableNotFoundError
from .plan import DAG
from .workspace import TableDiff, diff_project
from .write import Target
from .write._commit import OPERATION  # a merge committed as files (copy-on-write) is still a MERGE

PathLike = str | Path


def _project(workspace: str | None, project_dir: PathLike | None = None) -> Project:
    return Project.load(project_dir, workspace=workspace)


def _built_target(project: Project, name: str) -> Target:
    """Where ``name``'s Delta table is read from (clear errors for a view, an unbuilt or unknown table)."""
    table_name(name)
    target = project.read_target(name)
    if target is None:
        t = project.transforms.get(name)
        if t is not None and t.mode == "view":
            raise TableNotFoundError(f"{name} is a view: it is never written, so it has no Delta table "
                                     "(read it with query() or read())")
        if t is not None:
            raise TableNotFoundError(f"table {name} has not been built yet: run `rat run {name}`")
        raise not_found(name, project.transforms)
    return target


def ls(path: str = "", *, workspace: str | None = None, project_dir: PathLike | None = None) -> list[str]:
    """Sorted full paths of the files under a lake path (local or S3).

    A symbolic link inside ``path`` whose target is outside the lake is not listed (a warning
    names it).

    Parameters
    ----------
    path : str
        A folder or file relative to the lake root (``""``: the whole lake).
    workspace : str, optional
        The workspace whose lake settings apply (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    return ls_of(_project(workspace, project_dir), path)


def ls_of(project: Project, path: str = "", refused: list[RefusedLink] | None = None) -> list[str]:
    """:func:`ls` on a loaded project, collecting the symbolic links it did not follow into
    ``refused`` (``rat ls`` prints them).

    Parameters
    ----------
    project : Project
        A loaded project (``Project.load()``).
    path : str
        A folder or file relative to the lake root (``""``: the whole lake).
    refused : list of RefusedLink, optional
        Receives the symbolic links that lead outside the lake and were not listed.

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        ``path`` leads outside the lake.

    Examples
    --------
    >>> from ratatouille import tools
    >>> from ratatouille.discover import Project
    >>> refused = []
    >>> len(tools.ls_of(Project.load(), "landing/sales/", refused)), refused
    (3, [])
    """
    return [f.path for f in project.lake.files(path, refused=refused if refused is not None else [])]


def _ls(path: str, workspace: str | None, refused: list[RefusedLink]) -> list[str]:
    return ls_of(_project(workspace), path, refused)


def tables(*, workspace: str | None = None, project_dir: PathLike | None = None) -> pl.DataFrame:
    """Every table of the workspace, and where each resolves.

    Parameters
    ----------
    workspace : str, optional
        The workspace (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    return tables_of(_project(workspace, project_dir))


def tables_of(project: Project) -> pl.DataFrame:
    """:func:`tables` on a loaded project.

    Parameters
    ----------
    project : Project
        A loaded project (its workspace is the one listed).

    Returns
    -------
    polars.DataFrame
        As :func:`tables`.

    Examples
    --------
    >>> from ratatouille import tools
    >>> from ratatouille.discover import Project
    >>> tools.tables_of(Project.load(workspace="alice")).filter(table="silver.sales")["resolves_to"].to_list()
    ['own']
    """
    rows = []
    for name in sorted(project.known_tables()):
        t = project.transforms.get(name)
        r = project.resolve(name)
        rows.append({"table": name, "kind": t.kind if t else "external", "mode": t.mode if t else None,
                     "resolves_to": r["resolves_to"], "version": r["version"], "pinned": r["pinned"]})
    return pl.DataFrame(rows, schema={"table": pl.String, "kind": pl.String, "mode": pl.String,
                                      "resolves_to": pl.String, "version": pl.Int64, "pinned": pl.Boolean})


def schema(name: str, *, workspace: str | None = None, project_dir: PathLike | None = None) -> pl.Schema:
    """The Polars schema of a table (or of the plan of a view).

    Parameters
    ----------
    name : str
        ``layer.name``.
    workspace : str, optional
        The workspace (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    return read_project(_project(workspace, project_dir), name).collect_schema()


def history(name: str, *, workspace: str | None = None, limit: int | None = None,
            project_dir: PathLike | None = None) -> pl.DataFrame:
    """The Delta history of a table, newest first, with Ratatouille's commit metadata.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table (a view has no history).
    workspace : str, optional
        The workspace (default: the settings' one).
    limit : int, optional
        At most this many versions.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    polars.DataFrame
        ``version``, ``timestamp``, ``operation``, ``transform``, ``run_id``, ``mode``,
        ``rows_added`` and the operation's ``parameters`` (JSON).

    Raises
    ------
    TableNotFoundError
        No such table, a view, or not built yet.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.history("silver.sales").select("version", "transform", "rows_added").rows()
    [(0, 'silver.sales', 9)]
    """
    table_name(name)
    return history_of(_project(workspace, project_dir), name, limit=limit)


def history_of(project: Project, name: str, *, limit: int | None = None) -> pl.DataFrame:
    """:func:`history` on a loaded project.

    Parameters
    ----------
    project : Project
        A loaded project.
    name : str
        ``layer.name`` of a table.
    limit : int, optional
        At most this many versions.

    Returns
    -------
    polars.DataFrame
        As :func:`history`.

    Raises
    ------
    TableNotFoundError
        No such table, a view, or not built yet.

    Examples
    --------
    >>> from ratatouille import tools
    >>> from ratatouille.discover import Project
    >>> tools.history_of(Project.load(), "gold.sales_summary", limit=1)["operation"].to_list()
    ['CREATE TABLE']
    """
    rows = []
    table = _built_target(project, name).open()
    if table is None:  # removed since it was found
        raise TableNotFoundError(f"table {name} has not been built yet: run `rat run {name}`")
    for h in table.history(limit):
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


def preview(name: str, n: int = 10, *, workspace: str | None = None,
            project_dir: PathLike | None = None) -> pl.DataFrame:
    """The first ``n`` rows of a table (or view).

    Parameters
    ----------
    name : str
        ``layer.name``.
    n : int
        How many rows.
    workspace : str, optional
        The workspace (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    return read_project(_project(workspace, project_dir), name).head(n).collect()


def lineage(name: str | None = None, *, workspace: str | None = None,
            project_dir: PathLike | None = None) -> dict[str, Any]:
    """Upstream and downstream of ``name``, or every edge of the project when ``name`` is None.

    Parameters
    ----------
    name : str, optional
        ``layer.name`` of a transform.
    workspace : str, optional
        The workspace (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    return lineage_of(_project(workspace, project_dir), name)


def lineage_of(project: Project, name: str | None = None) -> dict[str, Any]:
    """:func:`lineage` on a loaded project.

    Parameters
    ----------
    project : Project
        A loaded project.
    name : str, optional
        ``layer.name`` of a transform (None: every edge of the project).

    Returns
    -------
    dict
        As :func:`lineage`.

    Raises
    ------
    TableNotFoundError
        ``name`` is no transform.

    Examples
    --------
    >>> from ratatouille import tools
    >>> from ratatouille.discover import Project
    >>> sorted(tools.lineage_of(Project.load())["edges"])[:1]
    [['bronze.sales', 'silver.sales']]
    """
    dag = DAG(project.transforms)
    if name is None:
        return {"tables": sorted(project.transforms), "edges": [list(e) for e in dag.edges()]}
    t = project.get(name)
    return {"table": name, "inputs": list(t.inputs), "upstream": sorted(dag.ancestors(name)),
            "downstream": sorted(dag.descendants(name))}


def _own_table(project: Project, name: str) -> Any:
    table_name(name)
    table = project.target(name).open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    return table


def optimize(name: str, *, workspace: str | None = None, z_order: list[str] | None = None,
             project_dir: PathLike | None = None) -> dict[str, Any]:
    """Compact a table's small files (or Z-order by columns); one new Delta version.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace (default: the settings' one).
    z_order : list of str, optional
        Columns to Z-order the files by (default: compaction only).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    table = _own_table(_project(workspace, project_dir), name)
    metrics = table.optimize.z_order(z_order) if z_order else table.optimize.compact()
    return dict(metrics)


def vacuum(name: str, *, workspace: str | None = None, retention_hours: int = 168,
           dry_run: bool = False, project_dir: PathLike | None = None) -> VacuumResult:
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
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    table_name(name)
    project = _project(workspace, project_dir)
    table = _own_table(project, name)
    # only default's tables are pinned
    is_default = project.target(name).uri == project.catalog.table_uri(name, "default")
    pinned = pinned_versions(project.settings, name) if is_default else {}
    return _vacuum(name, table, pinned=pinned, retention_hours=retention_hours, dry_run=dry_run)


def diff(name: str, *, workspace: str | None = None, key: list[str] | None = None, sample: int = 5,
         project_dir: PathLike | None = None) -> TableDiff:
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
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

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
    table_name(name)
    return diff_project(_project(workspace, project_dir), name, key=key, sample=sample)


def test(selection: str | list[str] | None = None, *, workspace: str | None = None,
         project_dir: PathLike | None = None, store_failures: bool | None = None) -> dict[str, Any]:
    """Run every check of the selected tables on the STORED tables, like ``dbt test`` (``rat test``).

    Nothing is built or written. A failed check does not raise: read ``report["status"]``
    (``"passed"``, ``"warned"`` or ``"failed"``) and each table's checks, with failing-row samples.

    Parameters
    ----------
    selection : str, list of str, or None
        A table name, a selector (``+gold.x``, ``silver.y+``), a list of them, or None for all.
    workspace : str, optional
        The workspace (default: settings / ``RAT_WORKSPACE``).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).
    store_failures : bool, optional
        Keep every test's failing rows in ``audit.<layer>_<name>__<test>`` (None: the
        project's ``store_failures`` setting; a test's own ``store_failures`` wins).

    Returns
    -------
    dict
        The report: ``status``, counts (``passed``/``warned``/``failed``/``errors``) and
        ``tables``, one entry per table.

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
    return _test_stored(selection, project=_project(workspace, project_dir), store_failures=store_failures)
