"""``query()`` and ``read()``: SQL and lazy reads over the tables of a workspace."""

from __future__ import annotations

from typing import Literal, overload

import polars as pl

from ._names import table_name
from ._sql import execute_sql, referenced_tables
from ._workspace import PinnedTarget, log_resolution
from .discover import Project
from .errors import ConfigError, SQLError, TableNotFoundError
from .write import Target


@overload
def query(sql: str, *, workspace: str | None = ..., lazy: Literal[False] = ..., project_dir: str | None = ...) -> pl.DataFrame: ...
@overload
def query(sql: str, *, workspace: str | None = ..., lazy: Literal[True], project_dir: str | None = ...) -> pl.LazyFrame: ...


def query(sql: str, *, workspace: str | None = None, lazy: bool = False,
          project_dir: str | None = None) -> pl.DataFrame | pl.LazyFrame:
    """Run SQL over the workspace's tables (``layer.name``) through Polars' SQLContext.

    Only the tables the SQL references are opened and scanned, with predicate
    and projection pushdown. Views are composed as lazy plans.

    Parameters
    ----------
    sql : str
        One query (``SELECT``/``WITH``...) over ``layer.name`` tables.
    workspace : str, optional
        The workspace (default: the settings' one); a table it has not built is read from default's.
    lazy : bool
        Return the LazyFrame instead of collecting it.
    project_dir : str, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    polars.DataFrame or polars.LazyFrame

    Raises
    ------
    SQLError
        The SQL does not parse, reads something else than the lake's tables, or fails in Polars
        (with the line of the error).
    TableNotFoundError
        A table it names does not exist.

    Examples
    --------
    >>> from ratatouille import query
    >>> df = query("SELECT COUNT(*) AS cnt FROM silver.sales")
    >>> df["cnt"][0]
    9
    """
    from .execute import Runner

    project = Project.load(project_dir, workspace=workspace)
    runner = Runner(project)
    frames = {name: runner.frame(name) for name in _valid_names(referenced_tables(sql))}
    log_resolution(project, frames)  # in a workspace: own or inherited from default (INFO)
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
         project_dir: str | None = None) -> pl.LazyFrame:
    """A LazyFrame over table ``name`` (``version=`` reads an earlier Delta version).

    Parameters
    ----------
    name : str
        ``layer.name`` of a table or view.
    version : int, optional
        A Delta version to read (time travel; ``rat history NAME`` lists them).
    workspace : str, optional
        The workspace (default: the settings' one); a table it has not built is read from default's.
    project_dir : str, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    polars.LazyFrame

    Raises
    ------
    TableNotFoundError
        No such table, not built yet, or no such version.

    Examples
    --------
    >>> import polars as pl
    >>> from ratatouille import read
    >>> read("silver.sales").filter(pl.col("total") > 45).select("order_id").collect()["order_id"].to_list()
    [1005, 1006, 1008]
    """
    from .execute import Runner

    table_name(name)
    project = Project.load(project_dir, workspace=workspace)
    log_resolution(project, [name])
    if version is None:
        return Runner(project).frame(name)
    target = project.read_target(name)
    # the table's latest version (a pinned workspace's target opens at its pin)
    table = Target(target.uri, target.storage_options, target.name).open() if target is not None else None
    if table is None or target is None:
        return Runner(project).frame(name)  # raises the not-found error
    latest = table.version()
    if not 0 <= version <= latest:
        raise TableNotFoundError(f"{name} has no version {version} (versions 0 to {latest}; "
                                 f"rat history {name} lists them)")
    if not isinstance(target, PinnedTarget):  # (a pinned target checks its own reads)
        from ._versions import check_readable

        check_readable(target.uri, target.storage_options, name, version)  # a vacuum may have removed its files
    return target.scan(version=version)
