"""The catalog helpers of a :class:`ratatouille.Project` session (``tools.*`` on the loaded project)."""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from . import tools
from .check._stored import test_stored as _test_stored
from .discover import Project as _Loaded


class CatalogViews:
    """``test``, ``tables``, ``lineage``, ``history``, ``ls`` of a session: :mod:`ratatouille.tools` on its project."""

    _loaded: _Loaded

    def test(self, selection: str | Sequence[str] | None = None) -> dict[str, Any]:
        """Run every check on the STORED tables (``rat test``; see :func:`ratatouille.tools.test`).

        Parameters
        ----------
        selection
            A name, a selector, a list of them, or None for every table.

        Returns
        -------
        dict
            The report (``status``: ``passed``, ``warned`` or ``failed``; one entry per table).

        Raises
        ------
        TableNotFoundError
            A selected name is no transform.

        Examples
        --------
        >>> from ratatouille import Project
        >>> Project().test("silver.sales")["status"]
        'passed'
        """
        return _test_stored(list(selection) if selection is not None and not isinstance(selection, str)
                           else selection, project=self._loaded)

    # -- workspaces -------------------------------------------------------------------------
    def tables(self) -> pl.DataFrame:
        """Every table of the workspace and where it resolves (see :func:`ratatouille.tools.tables`).

        Returns
        -------
        pl.DataFrame
            ``table``, ``kind``, ``mode``, ``resolves_to``, ``version``, ``pinned``.

        Examples
        --------
        >>> import ratatouille
        >>> ratatouille.project(workspace="alice").tables().filter(table="silver.sales")["resolves_to"][0]
        'own'
        """
        return tools.tables_of(self._loaded)

    def lineage(self, name: str | None = None) -> dict[str, Any]:
        """Upstream and downstream of ``name``, or every edge (see :func:`ratatouille.tools.lineage`).

        Parameters
        ----------
        name
            ``layer.name`` of a transform (None: the whole project).

        Returns
        -------
        dict
            ``table``, ``inputs``, ``upstream``, ``downstream`` (or ``tables`` and ``edges``).

        Raises
        ------
        TableNotFoundError
            ``name`` is no transform.

        Examples
        --------
        >>> from ratatouille import Project
        >>> Project().lineage("gold.sales_summary")["upstream"]
        ['bronze.sales', 'silver.sales']
        """
        return tools.lineage_of(self._loaded, name)

    def history(self, name: str, *, limit: int | None = None) -> pl.DataFrame:
        """The Delta history of a table, newest first (see :func:`ratatouille.tools.history`).

        Parameters
        ----------
        name
            ``layer.name`` of a table.
        limit
            At most this many versions.

        Returns
        -------
        pl.DataFrame
            ``version``, ``timestamp``, ``operation``, ``transform``, ``run_id``...

        Raises
        ------
        TableNotFoundError
            No such table, a view, or not built yet.

        Examples
        --------
        >>> from ratatouille import Project
        >>> Project().history("silver.sales")["version"].to_list()
        [0]
        """
        return tools.history_of(self._loaded, name, limit=limit)

    def ls(self, path: str = "") -> list[str]:
        """Files under a lake path (see :func:`ratatouille.tools.ls`).

        Parameters
        ----------
        path
            A folder or file relative to the lake root (``""``: the whole lake).

        Returns
        -------
        list of str
            Sorted full paths.

        Raises
        ------
        ConfigError
            ``path`` leads outside the lake.

        Examples
        --------
        >>> from ratatouille import Project
        >>> [p.rsplit("/", 1)[-1] for p in Project().ls("landing/sales/")][:1]
        ['2024-01-01.csv']
        """
        return tools.ls_of(self._loaded, path)
