"""Browse the lake and the catalog: ``ls``, ``tables``, ``schema``."""

from __future__ import annotations

import polars as pl

from .._boundary import RefusedLink
from .._names import table_name
from .._query import read_project
from ..discover import Project
from ._common import PathLike, _project


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
