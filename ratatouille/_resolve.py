"""The resolver: one way to build a table's frame for ``query``, ``read`` and ``diff``.

A name resolves, in order, to a view's lazy plan (built from its inputs, never
written), else the Delta table the catalog says the workspace reads (its own,
else default's, pinned or not), at its latest version or at ``version``.
Views and the not-found errors come from the runner's own
:meth:`~ratatouille.execute.Runner.frame`, which ``run`` uses for its inputs,
so all four read a table the same way; the runner (and its lineage graph) is
only built when a view or an error needs it, which keeps ``query()`` cheap in
a project of many transforms.

Example
-------
>>> from ratatouille.discover import Project
>>> resolver = Resolver(Project.load())
>>> resolver.frame("silver.sales").collect().height
9
"""

from __future__ import annotations

import functools

import polars as pl

from ._catalog import PinnedTarget
from ._versions import check_readable
from .discover import Project
from .errors import TableNotFoundError
from .execute import Runner
from .write import Target

__all__ = ["Resolver"]


class Resolver:
    """Builds the frames of one project's tables (see the module docstring).

    Parameters
    ----------
    project
        The loaded project (settings, transforms, catalog) whose tables are read.

    Examples
    --------
    >>> frames = Resolver(Project.load(workspace="alice")).frames(["silver.sales"])
    >>> list(frames), frames["silver.sales"].collect().height
    (['silver.sales'], 7)
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self._targets: dict[str, Target | None] = {}

    @functools.cached_property
    def runner(self) -> Runner:
        """The runner that builds views and words the not-found errors (built on first need)."""
        return Runner(self.project)

    def target(self, name: str) -> Target | None:
        """Where ``name`` is read from (the catalog's answer, remembered), None when unbuilt."""
        if name not in self._targets:
            self._targets[name] = self.project.read_target(name)
        return self._targets[name]

    def frame(self, name: str, *, version: int | None = None) -> pl.LazyFrame:
        """``name`` as a LazyFrame: a view's plan, else its table (at ``version`` when given).

        Raises
        ------
        TableNotFoundError
            No transform builds ``name`` and no table has it, it is not built yet, or it has
            no such ``version``.
        StorageError
            The version's data files were removed by a vacuum.
        """
        if self.project.is_view(name) or self.target(name) is None:
            return self.runner.frame(name)  # a view's plan, or the clear not-found error
        target = self.target(name)
        assert target is not None
        if version is None:
            return target.scan()
        # the table's latest version (a pinned workspace's target opens at its pin)
        table = Target(target.uri, target.storage_options, target.name).open()
        if table is None:
            return self.runner.frame(name)
        latest = table.version()
        if not 0 <= version <= latest:
            raise TableNotFoundError(f"{name} has no version {version} (versions 0 to {latest}; "
                                     f"rat history {name} lists them)")
        if not isinstance(target, PinnedTarget):  # (a pinned target checks its own reads)
            check_readable(target.uri, target.storage_options, name, version)  # a vacuum may have removed files
        return target.scan(version=version)

    def frames(self, names: list[str]) -> dict[str, pl.LazyFrame]:
        """``{name: frame}`` for each of ``names`` (latest versions)."""
        return {name: self.frame(name) for name in names}

    def current(self, name: str, *, own_only: bool = False) -> tuple[pl.LazyFrame | None, int | None]:
        """``name``'s frame and the version read: a view's plan (version None), else the table at
        its current version (``own_only``: only the workspace's own table); ``(None, None)``
        when there is no table."""
        if self.project.is_view(name):
            return self.runner.frame(name), None
        target = self.project.target(name) if own_only else self.target(name)
        table = target.open() if target is not None else None
        if target is None or table is None:
            return None, None
        version = table.version()
        return target.scan(version=version), version
