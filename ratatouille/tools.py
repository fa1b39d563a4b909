"""Catalog and maintenance helpers: ``from ratatouille import tools``.

Each helper loads the project once (``workspace=``, ``project_dir=``) and
calls its ``*_of(project, ...)`` twin, which a :class:`ratatouille.Project`
session calls on the project it already holds.

>>> from ratatouille import tools
>>> [path.rsplit("/", 1)[-1] for path in tools.ls("landing/sales/")]
['2024-01-01.csv', '2024-01-02.csv', '2024-01-03.csv']
"""

from __future__ import annotations

from ._tools._browse import _ls as _ls  # `rat ls` collects the refused links itself
from ._tools._browse import ls, ls_of, schema, tables, tables_of
from ._tools._history import history, history_of, lineage, lineage_of, preview
from ._tools._maintain import diff, optimize, test, vacuum

__all__ = ["diff", "history", "history_of", "lineage", "lineage_of", "ls", "ls_of", "optimize", "preview", "schema",
           "tables", "tables_of", "test", "vacuum"]
