"""A table's past and place: ``history``, ``preview``, ``lineage``."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from .._delta_scan import history as delta_history
from .._names import table_name
from .._query import read_project
from ..discover import Project
from ..errors import TableNotFoundError
from ..plan import DAG
from ..write._commit import (
    OPERATION,  # a merge committed as files (copy-on-write) is still a MERGE
)
from ._common import PathLike, _built_target, _project


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
    for h in delta_history(table, limit):
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
