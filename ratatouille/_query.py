"""``query()`` and ``read()``: SQL and lazy reads over the tables of a workspace.

Both load the project (discovery is cached by file modification times, see
``discover/_cache.py``) and read through the one resolver (``_resolve.py``);
``query_project`` / ``read_project`` do the same on a project already loaded
(a :class:`ratatouille.Project` session).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

import polars as pl

from ._names import table_name
from ._resolve import Resolver
from ._sql import execute_sql, referenced_tables
from .discover import Project
from .errors import ConfigError, SQLError

__all__ = ["query", "query_project", "read", "read_project"]


@overload
def query(sql: str, *, workspace: str | None = ..., lazy: Literal[False] = ...,
          project_dir: str | Path | None = ...) -> pl.DataFrame: ...
@overload
def query(sql: str, *, workspace: str | None = ..., lazy: Literal[True],
          project_dir: str | Path | None = ...) -> pl.LazyFrame: ...


def query(sql: str, *, workspace: str | None = None, lazy: bool = False,
          project_dir: str | Path | None = None) -> pl.DataFrame | pl.LazyFrame:
    """Run SQL over the workspace's tables (``layer.name``) through Polars' SQLContext.

    Only the tables the SQL references are opened and scanned, with predicate
    and projection pushdown. Views are composed as lazy plans.

    Parameters
    ----------
    sql
        The query; tables are named ``layer.name``.
    workspace
        The workspace (default: settings / ``RAT_WORKSPACE``); it reads default's
        tables it has not built itself.
    lazy
        Return the ``pl.LazyFrame`` instead of collecting it.
    project_dir
        The project folder (default: found from the working directory).

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        The result (``lazy=True``: the plan).

    Raises
    ------
    SQLError
        The SQL is invalid or names something that is not a table name.
    TableNotFoundError
        A table the SQL reads is unknown or not built yet.

    Examples
    --------
    >>> from ratatouille import query
    >>> df = query("SELECT COUNT(*) AS cnt FROM silver.sales")
    >>> df["cnt"][0]
    9
    """
    return query_project(Project.load(project_dir, workspace=workspace), sql, lazy=lazy)


@overload
def query_project(project: Project, sql: str, *, lazy: Literal[False] = ...) -> pl.DataFrame: ...
@overload
def query_project(project: Project, sql: str, *, lazy: Literal[True]) -> pl.LazyFrame: ...
@overload
def query_project(project: Project, sql: str, *, lazy: bool = ...) -> pl.DataFrame | pl.LazyFrame: ...


def query_project(project: Project, sql: str, *, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """:func:`query` on a loaded ``project`` (same parameters, returns and errors)."""
    names = _valid_names(referenced_tables(sql))
    frames = Resolver(project).frames(names)
    project.catalog.log_resolution(frames, [n for n in frames if project.is_view(n)])  # own or default's (INFO)
    lf = execute_sql(sql, frames)
    return lf if lazy else lf.collect()


def _valid_names(names: list[str]) -> list[str]:
    """Every table a query names is a ``layer.name`` of identifiers (a quoted ``bronze."../x"`` is not)."""
    for name in names:
        try:
            table_name(name)
        except ConfigError as exc:
            raise SQLError(f"query reads {exc.message}") from None
    return names


def read(name: str, *, version: int | None = None, workspace: str | None = None,
         project_dir: str | Path | None = None) -> pl.LazyFrame:
    """A LazyFrame over table ``name`` (``version=`` reads an earlier Delta version).

    Parameters
    ----------
    name
        ``layer.name`` of a table or view.
    version
        A Delta version to read (time travel); default the latest (or the pinned one).
    workspace
        The workspace (default: settings / ``RAT_WORKSPACE``).
    project_dir
        The project folder (default: found from the working directory).

    Returns
    -------
    pl.LazyFrame
        The table's rows, lazily.

    Raises
    ------
    TableNotFoundError
        Unknown, unbuilt, or no such version.
    StorageError
        The version's data files were removed by a vacuum.

    Examples
    --------
    >>> from ratatouille import read
    >>> read("silver.sales").filter(pl.col("total") > 45).select("order_id").collect()["order_id"].to_list()
    [1005, 1006, 1008]
    """
    table_name(name)
    return read_project(Project.load(project_dir, workspace=workspace), name, version=version)


def read_project(project: Project, name: str, *, version: int | None = None) -> pl.LazyFrame:
    """:func:`read` on a loaded ``project`` (same parameters, returns and errors)."""
    table_name(name)
    project.catalog.log_resolution([name], [name] if project.is_view(name) else [])
    return Resolver(project).frame(name, version=version)
