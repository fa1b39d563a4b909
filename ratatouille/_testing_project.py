"""The temporary project of the ``rat_project`` fixture (:class:`ratatouille.testing.RatProject`)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import polars as pl

from ._lake import Lake
from ._query import query, read
from .discover import Project
from .execute import RunResult, run

if TYPE_CHECKING:  # annotations only
    from deltalake import DeltaTable


def _storage_options() -> dict[str, str]:
    return json.loads(os.environ.get("RAT_STORAGE_OPTIONS") or "{}")


class RatProject:
    """A temporary Ratatouille project (see the ``rat_project`` fixture).

    ``lake`` is a local folder (default ``<root>/lake``) or ``s3://bucket/prefix``;
    ``storage_options`` (else ``RAT_STORAGE_OPTIONS``) reach the lake for :meth:`landing`,
    :meth:`files`, :meth:`read_text` and :meth:`table`.

    Parameters
    ----------
    root : Path
        The project folder (created with ``pyproject.toml`` and ``workspaces/default/pipelines``).
    lake : str, optional
        The lake: a local folder or ``s3://bucket/prefix`` (default ``<root>/lake``).
    storage_options : mapping, optional
        How to reach an object-storage lake.

    Examples
    --------
    >>> import tempfile
    >>> project = RatProject(Path(tempfile.mkdtemp()) / "project")
    >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
    >>> project.run("silver.x")["status"], project.read("silver.x")["a"].to_list()
    ('success', [1])
    """

    def __init__(self, root: Path, lake: str | None = None, storage_options: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.lake = lake or str(root / "lake")
        self._storage_options = dict(storage_options) if storage_options is not None else None
        (root / "workspaces" / "default" / "pipelines").mkdir(parents=True, exist_ok=True)
        # a TOML string (JSON's escapes are TOML's): a folder named 'a "b" \\ c' is a path like any other
        (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = {json.dumps(self.lake, ensure_ascii=False)}\n')

    def __repr__(self) -> str:
        return f"RatProject({self.root})"

    def write(self, relpath: str, text: str, *, workspace: str = "default") -> Path:
        """Write a pipeline file: ``write("silver/x.sql", "SELECT ...")``.

        Parameters
        ----------
        relpath : str
            The file's path under the workspace's ``pipelines/`` (``layer/name.sql``).
        text : str
            Its content (dedented).
        workspace : str
            The workspace whose ``pipelines/`` receives it.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> project.write("silver/x.sql", "SELECT 1 AS a").relative_to(project.root).as_posix()
        'workspaces/default/pipelines/silver/x.sql'
        """
        path = self.root / "workspaces" / workspace / "pipelines" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    @property
    def lake_handle(self) -> Lake:
        """The project's :class:`~ratatouille._lake.Lake` (local or S3)."""
        opts = self._storage_options if self._storage_options is not None else _storage_options()
        return Lake(self.lake, opts)

    def files(self, path: str = "landing/") -> list[str]:
        """Files under a lake path, relative to the lake root, sorted (``_rejected`` included).

        Parameters
        ----------
        path : str
            A folder of the lake.

        Returns
        -------
        list of str
            Empty when the folder does not exist.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.files()
        ['landing/sales/a.csv']
        """
        lake = self.lake_handle
        root = lake._strip(lake.path(path))
        if not lake.fs.exists(root):
            return []
        found = lake.fs.find(root)
        return sorted(lake.relative(lake.full(p)) for p in found)

    def read_text(self, relpath: str) -> str:
        """A file of the lake (``"landing/_rejected/sales/x.csv.reason.txt"``) as text.

        Parameters
        ----------
        relpath : str
            The file's path relative to the lake root.

        Returns
        -------
        str

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.read_text("landing/sales/a.csv")
        'id\\n1\\n'
        """
        lake = self.lake_handle
        return lake.read_bytes(lake.path(relpath)).decode()

    def remove(self, relpath: str) -> None:
        """Delete a file of the lake.

        Parameters
        ----------
        relpath : str
            The file's path relative to the lake root.

        Returns
        -------
        None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.remove("landing/sales/a.csv")
        >>> project.files()
        []
        """
        lake = self.lake_handle
        lake.fs.rm(lake._strip(lake.path(relpath)))

    def table(self, name: str, workspace: str = "default") -> DeltaTable | None:
        """The ``deltalake.DeltaTable`` of ``name`` (None if not built).

        Parameters
        ----------
        name : str
            ``layer.name``.
        workspace : str
            The workspace whose table is opened.

        Returns
        -------
        deltalake.DeltaTable or None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.table("silver.x") is None
        True
        >>> _ = project.run("silver.x")
        >>> project.table("silver.x").version()
        0
        """
        return Project.load(self.root, workspace=workspace).target(name).open()

    def landing(self, relpath: str, content: str | bytes) -> str:
        """Put a file in the lake's landing zone (local or object storage).

        Parameters
        ----------
        relpath : str
            The file's path under ``landing/``.
        content : str or bytes
            Text is dedented; bytes are written as they are.

        Returns
        -------
        str
            The file's full path in the lake.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> project.landing("sales/a.csv", "id\\n1\\n").endswith("lake/landing/sales/a.csv")
        True
        """
        lake = self.lake_handle
        path = lake.path("landing", relpath)
        data = content.encode() if isinstance(content, str) else content
        lake.fs.makedirs(lake._strip(path).rsplit("/", 1)[0], exist_ok=True)
        with lake.fs.open(lake._strip(path), "wb") as fh:
            fh.write(textwrap.dedent(data.decode()).lstrip().encode() if isinstance(content, str) else data)
        return path

    def run(self, name: Any, **kwargs: Any) -> RunResult:
        """:func:`ratatouille.run` in this project.

        Parameters
        ----------
        name : str, sequence of str, or callable
            What to run, as for :func:`ratatouille.run`.
        **kwargs
            The other arguments of :func:`ratatouille.run` (``full_refresh=``, ``workspace=``...).

        Returns
        -------
        RunResult

        Raises
        ------
        RatatouilleError
            A transform failed.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.run("silver.x")["status"], project.run("silver.x")["status"]
        ('success', 'unchanged')
        """
        return run(name, project_dir=str(self.root), **kwargs)

    def query(self, sql: str, **kwargs: Any) -> pl.DataFrame:
        """:func:`ratatouille.query` in this project.

        Parameters
        ----------
        sql : str
            The query.
        **kwargs
            The other arguments of :func:`ratatouille.query` (``workspace=``...).

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        SQLError, TableNotFoundError
            Invalid SQL; an unknown or unbuilt table.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> _ = project.run("silver.x")
        >>> project.query("SELECT a + 1 AS b FROM silver.x")["b"].to_list()
        [2]
        """
        return query(sql, project_dir=str(self.root), **kwargs)

    def read(self, name: str, **kwargs: Any) -> pl.DataFrame:
        """:func:`ratatouille.read` in this project, collected.

        Parameters
        ----------
        name : str
            ``layer.name``.
        **kwargs
            The other arguments of :func:`ratatouille.read` (``version=``, ``workspace=``).

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        TableNotFoundError
            No such table, not built yet, or no such version.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> _ = project.run("silver.x")
        >>> project.read("silver.x", version=0).height
        1
        """
        return read(name, project_dir=str(self.root), **kwargs).collect()

    def version(self, name: str, workspace: str = "default") -> int | None:
        """The current Delta version of a table (None if not built).

        Parameters
        ----------
        name : str
            ``layer.name``.
        workspace : str
            The workspace whose table is read.

        Returns
        -------
        int or None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.version("silver.x"), project.run("silver.x")["version"], project.version("silver.x")
        (None, 0, 0)
        """
        t = Project.load(self.root, workspace=workspace).target(name).open()
        return t.version() if t is not None else None
