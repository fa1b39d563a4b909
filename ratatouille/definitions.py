"""What ``dagster dev`` (and ``rat dev``) loads: ``ratatouille.definitions:defs``.

``defs`` is :func:`ratatouille.dagster.build_definitions` for the current
project (``RAT_PROJECT_DIR`` or the working directory) and workspace
(``RAT_WORKSPACE``). It is built on first access, not on import, so importing
this module is instant and imports neither Dagster nor the project::

    [tool.dagster]
    module_name = "ratatouille.definitions"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster

    defs: dagster.Definitions

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from .dagster import build_definitions  # lazy: Dagster's definitions are built on first access (dagster is optional)

        value = build_definitions()
        globals()["defs"] = value  # built once per process
        return value
    raise AttributeError(f"module 'ratatouille.definitions' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"defs"})
