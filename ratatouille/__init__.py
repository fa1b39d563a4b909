"""Ratatouille: a Polars-native pipeline SDK for the Delta Lake lakehouse.

>>> from ratatouille import run, query, read, transform
>>> run("gold.sales_summary")["status"]
'success'
>>> run("gold.sales_summary")["status"]   # nothing changed since: not built again
'unchanged'
>>> query("SELECT COUNT(*) AS n FROM silver.sales")["n"][0]
9
>>> import ratatouille
>>> rat = ratatouille.project(workspace="alice")   # a session: the project is loaded once
>>> rat.query("SELECT COUNT(*) AS n FROM silver.sales")["n"][0]
7

``import ratatouille`` never imports Dagster; ``ratatouille.dagster`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CheckError,
    ConcurrentCommitError,
    ConfigError,
    CycleError,
    IngestError,
    RatatouilleError,
    RunError,
    SchemaError,
    SQLError,
    StorageError,
    TableNotFoundError,
    TransformError,
    WorkspaceError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckError", "ConcurrentCommitError", "ConfigError", "CycleError", "IngestError", "RatatouilleError", "RunError",
    "Project", "RunResult",
    "SQLError", "SchemaError", "StorageError", "TableNotFoundError", "TransformError", "WorkspaceError",
    "project", "query", "read", "run", "tools", "transform", "workspace",
]

if TYPE_CHECKING:
    from . import tools, workspace
    from ._query import query, read
    from ._session import Project, project
    from .execute import run
    from .execute._result import RunResult
    from .transforms.python import transform

_LAZY = {
    "run": ("ratatouille.execute", "run"),
    "RunResult": ("ratatouille.execute._result", "RunResult"),
    "query": ("ratatouille._query", "query"),
    "read": ("ratatouille._query", "read"),
    "transform": ("ratatouille.transforms.python", "transform"),
    "tools": ("ratatouille.tools", None),
    "workspace": ("ratatouille.workspace", None),
    "Project": ("ratatouille._session", "Project"),
    "project": ("ratatouille._session", "project"),
    "testing": ("ratatouille.testing", None),
}


def __getattr__(name: str) -> Any:
    # Heavy imports (polars, deltalake, sqlglot) happen on first use, keeping `import ratatouille` fast.
    if name in _LAZY:

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ratatouille' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
