"""``ratatouille.Project``: a project session, loaded once, for notebooks and scripts.

``run``, ``query``, ``read``, ``tools.*`` each find and load the project on
every call. A session loads it once (settings, every transform, the catalog)
and answers every call from that: a notebook that queries in a loop, a script
that runs, diffs and promotes, reads no transform file twice.

Files changed on disk after the session was opened are not seen until
:meth:`Project.refresh` (the module-level functions see them on their next
call).

Example
-------
>>> import ratatouille
>>> rat = ratatouille.project(workspace="alice")
>>> rat.query("SELECT COUNT(*) AS n FROM silver.sales")["n"][0]
7
>>> rat.run("gold.sales_summary")["status"]
'success'
>>> rat.run("gold.sales_summary")["status"]
'unchanged'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import polars as pl

from ._catalog import DEFAULT, Catalog
from ._query import query_project, read_project
from ._session_catalog import CatalogViews
from ._settings import Settings
from .discover import Project as _Loaded
from .execute import Event, run
from .execute._result import RunResult
from .transforms import Transform
from .workspace import (
    Promotion,
    TableDiff,
    check_promotion,
    diff_project,
    plan_project_promotion,
)

__all__ = ["Project", "project"]


class Project(CatalogViews):
    """A Ratatouille project opened once: settings + transforms + catalog of one workspace.

    Parameters
    ----------
    path
        The project folder, or any folder inside it (default: found from the working
        directory, or ``RAT_PROJECT_DIR``).
    workspace
        The workspace (default: settings / ``RAT_WORKSPACE``, else ``default``).

    Raises
    ------
    ConfigError
        No project is found, or its settings are invalid.
    WorkspaceError
        ``workspace`` does not exist.

    Examples
    --------
    A project with one SQL transform over an in-memory table:

    >>> import tempfile, pathlib, polars as pl
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "pyproject.toml").write_text('[tool.ratatouille]\\nlake = "lake"\\n')
    >>> (root / "workspaces/default/pipelines/silver").mkdir(parents=True)
    >>> _ = (root / "workspaces/default/pipelines/silver/one.sql").write_text("SELECT 1 AS x")
    >>> rat = Project(root)
    >>> sorted(rat.transforms)
    ['silver.one']
    >>> rat.run("silver.one")["status"]
    'success'
    >>> rat.query("SELECT SUM(x) AS s FROM silver.one")["s"][0]
    1
    >>> rat.read("silver.one").collect().height
    1
    """

    def __init__(self, path: str | Path | None = None, *, workspace: str | None = None) -> None:
        self._loaded = _Loaded.load(path, workspace=workspace)
        self._base: _Loaded | None = None

    @classmethod
    def of(cls, loaded: _Loaded) -> "Project":
        """A session over an already loaded project (``ratatouille.discover.Project``).

        Parameters
        ----------
        loaded
            What ``ratatouille.discover.Project.load()`` returned.

        Returns
        -------
        Project
            The session; it loads nothing again.

        Examples
        --------
        >>> from ratatouille import Project
        >>> from ratatouille.discover import Project as Loaded
        >>> Project.of(Loaded.load(workspace="alice")).workspace
        'alice'
        """
        session = cls.__new__(cls)
        session._loaded = loaded
        session._base = None
        return session

    def __repr__(self) -> str:
        return (f"<ratatouille.Project {self.path} workspace={self.workspace} "
                f"transforms={len(self.transforms)}>")

    # -- what was loaded --------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The project folder."""
        return self._loaded.settings.project_dir

    @property
    def workspace(self) -> str:
        """The workspace this session reads and writes."""
        return self._loaded.workspace

    @property
    def settings(self) -> Settings:
        """The resolved settings (``[tool.ratatouille]`` + ``RAT_*`` + ``workspace.yaml``)."""
        return self._loaded.settings

    @property
    def transforms(self) -> Mapping[str, Transform]:
        """Every transform of the workspace, by ``layer.name``."""
        return self._loaded.transforms

    @property
    def catalog(self) -> Catalog:
        """Where each table lives (own, inherited from default, pinned)."""
        return self._loaded.catalog

    @property
    def loaded(self) -> _Loaded:
        """The loaded project the session works on (``ratatouille.discover.Project``)."""
        return self._loaded

    def refresh(self) -> "Project":
        """Load the project again (to see files changed since the session opened).

        Returns
        -------
        Project
            ``self``.

        Raises
        ------
        ConfigError
            The settings have become invalid.

        Examples
        --------
        >>> from pathlib import Path
        >>> from ratatouille import Project
        >>> rat = Project()
        >>> _ = Path("workspaces/default/pipelines/silver/two.sql").write_text("SELECT 2 AS x")
        >>> "silver.two" in rat.transforms, "silver.two" in rat.refresh().transforms
        (False, True)
        """
        self._loaded = _Loaded.load(self.path, workspace=self.workspace)
        self._base = None
        return self

    def _default(self) -> _Loaded:
        if self._base is None:
            self._base = _Loaded.load(self.path, workspace=DEFAULT)
        return self._base

    # -- running and reading ----------------------------------------------------------------
    def run(self, name: str | Sequence[str] | Callable[..., Any], *, full_refresh: bool = False,
            upstream: bool = False, downstream: bool = False, vars: Mapping[str, Any] | None = None,
            on_event: Event | None = None, dry_run: bool = False, partition: str | None = None,
            threads: int | None = None) -> RunResult:
        """Run transforms, as :func:`ratatouille.run` does, on this session's project.

        Parameters
        ----------
        name
            A table name, a selector (``+gold.x``, ``silver.y+``), a list, ``"*"``, or an
            ``@transform`` function.
        full_refresh, upstream, downstream, vars, on_event, dry_run, partition, threads
            As for :func:`ratatouille.run`.

        Returns
        -------
        RunResult
            ``status``, ``table``, ``rows_written``, ``version``... (``.results``: one per table).

        Raises
        ------
        RatatouilleError
            A transform failed (its subclass says how); ``.results`` holds every result.

        Examples
        --------
        >>> from ratatouille import Project
        >>> rat = Project()
        >>> [r["table"] for r in rat.run("+gold.daily_revenue").results]
        ['bronze.sales', 'silver.sales', 'gold.daily_revenue']
        >>> rat.run("gold.daily_revenue")["status"]   # nothing changed since the run above
        'unchanged'
        """
        return run(name, full_refresh=full_refresh, upstream=upstream, downstream=downstream, vars=vars,
                   on_event=on_event, dry_run=dry_run, partition=partition, threads=threads,
                   project=self._loaded)

    def query(self, sql: str, *, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
        """Run SQL over the workspace's tables, as :func:`ratatouille.query` does.

        Parameters
        ----------
        sql
            The query (tables named ``layer.name``).
        lazy
            Return the ``pl.LazyFrame`` instead of collecting it.

        Returns
        -------
        pl.DataFrame or pl.LazyFrame
            The result.

        Raises
        ------
        SQLError, TableNotFoundError
            Invalid SQL; an unknown or unbuilt table.

        Examples
        --------
        >>> from ratatouille import Project
        >>> Project().query("SELECT COUNT(*) AS n FROM silver.sales")["n"][0]
        9
        """
        return query_project(self._loaded, sql, lazy=lazy)

    def read(self, name: str, *, version: int | None = None) -> pl.LazyFrame:
        """A LazyFrame over a table (``version=``: time travel), as :func:`ratatouille.read` does.

        Parameters
        ----------
        name
            ``layer.name``.
        version
            A Delta version (default: the latest, or the pinned one).

        Returns
        -------
        pl.LazyFrame
            The table's rows.

        Raises
        ------
        TableNotFoundError, StorageError
            Unknown, unbuilt or no such version; its files were vacuumed.

        Examples
        --------
        >>> from ratatouille import Project
        >>> Project().read("silver.sales", version=0).collect().height
        9
        """
        return read_project(self._loaded, name, version=version)

    def diff(self, name: str, *, key: Sequence[str] | None = None, sample: int = 5) -> TableDiff:
        """Compare this workspace's table ``name`` with default's (see :func:`ratatouille.tools.diff`).

        Parameters
        ----------
        name
            ``layer.name``.
        key
            Compare rows by these columns (default: the ``unique_key``, else every column).
        sample
            Rows of each kind of change kept as samples.

        Returns
        -------
        TableDiff
            Schema, row counts, rows added / removed / changed (``.summary()``).

        Raises
        ------
        WorkspaceError
            The session is on ``default``.
        TableNotFoundError
            The workspace has not built ``name``.

        Examples
        --------
        >>> import ratatouille
        >>> print(ratatouille.project(workspace="alice").diff("silver.sales").summary())
        silver.sales: workspace alice (v0) vs default (v0)
        schema: unchanged
        rows: default 9 -> alice 7 (-2)
        by order_id (unique_key): 0 added, 2 removed, 0 changed
        """
        return diff_project(self._loaded, name, key=key, sample=sample,
                            base_project=self._default() if self.workspace != DEFAULT else None)

    def promote(self, names: str | Sequence[str], *, check: bool = True) -> Promotion:
        """Copy transforms of this workspace into ``default`` after their checks pass here.

        Parameters
        ----------
        names
            The transforms to promote.
        check
            Build and check them in the workspace first (dry run); a failure promotes nothing.

        Returns
        -------
        Promotion
            The applied promotion (``.files``: what changed in ``default``).

        Raises
        ------
        WorkspaceError
            The session is on ``default``, or the transforms cannot be promoted as asked.
        CheckError
            A check failed or a transform does not build: nothing promoted.

        Examples
        --------
        >>> import ratatouille
        >>> promotion = ratatouille.project(workspace="alice").promote("silver.sales")
        >>> [(f.action, f.dest.name) for f in promotion.changes]
        [('update', 'sales.sql')]
        """
        plan = plan_project_promotion(self._loaded, [names] if isinstance(names, str) else list(names),
                                      base=self._default() if self.workspace != DEFAULT else None)
        if check:
            check_promotion(plan, project=self._loaded)
        plan.apply()
        self._base = None  # default's files changed
        return plan



def project(path: str | Path | None = None, *, workspace: str | None = None) -> Project:
    """Open a project session: ``ratatouille.project(path=None, workspace=None)``.

    Parameters
    ----------
    path
        The project folder (default: found from the working directory).
    workspace
        The workspace (default: settings / ``RAT_WORKSPACE``).

    Returns
    -------
    Project
        The session (see :class:`Project`).

    Raises
    ------
    ConfigError, WorkspaceError
        No project, invalid settings, or an unknown workspace.

    Examples
    --------
    >>> rat = project(workspace="alice")
    >>> rat.workspace, rat.diff("silver.sales").identical
    ('alice', False)
    """
    return Project(path, workspace=workspace)
