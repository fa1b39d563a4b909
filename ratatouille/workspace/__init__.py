"""Workspaces: isolated, zero-copy development environments over the same lake.

A workspace ``alice`` writes its tables under ``<lake>/workspaces/alice/``
and reads every table it has not built from ``default`` (production), so a
change can be run and queried without touching or copying production data.
Where a table resolves (own, inherited, pinned) is the catalog's job
(``ratatouille/_catalog.py``); this package holds what works *across*
workspaces, one module per job:

* ``_manage``: :func:`list_workspaces`, :func:`create_workspace`,
  :func:`reset_workspace`, :func:`pin_workspace` (``rat workspace ...``);
* ``_diff``: :func:`diff`, what a workspace's table changes compared with
  default's (schema, row counts, rows added / removed / changed by key);
* ``_promote``: :func:`plan_promotion` / :func:`promote`, copy a workspace's
  transform files into ``default`` once its checks pass;
* ``_journal``: the crash-safe two-phase apply of a promotion.

The names are imported on first use, so that discovery, which finishes an
interrupted promotion (``_journal.recover``), can import the journal without
importing the rest (which depends on discovery).

Example
-------
>>> from ratatouille import workspace
>>> _ = workspace.create_workspace("bob", pin=True)
>>> sorted(w["workspace"] for w in workspace.list_workspaces())
['alice', 'bob', 'default']
>>> workspace.diff("silver.sales", workspace="alice").removed
2
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._catalog import PinnedTarget, load_pins, workspace_config, workspace_dir
    from ._diff import TableDiff, diff, diff_project
    from ._manage import create_workspace, list_workspaces, pin_workspace, reset_workspace
    from ._promote import FileChange, Promotion, check_promotion, plan_project_promotion, plan_promotion, promote

_LAZY = {
    "create_workspace": "._manage", "list_workspaces": "._manage", "pin_workspace": "._manage",
    "reset_workspace": "._manage",
    "TableDiff": "._diff", "diff": "._diff", "diff_project": "._diff",
    "FileChange": "._promote", "Promotion": "._promote", "check_promotion": "._promote",
    "plan_project_promotion": "._promote", "plan_promotion": "._promote", "promote": "._promote",
    "PinnedTarget": ".._catalog", "load_pins": ".._catalog", "workspace_config": ".._catalog",
    "workspace_dir": ".._catalog",
}

__all__ = [
    "FileChange", "PinnedTarget", "Promotion", "TableDiff", "check_promotion", "create_workspace", "diff",
    "diff_project", "list_workspaces", "load_pins", "pin_workspace", "plan_project_promotion", "plan_promotion",
    "promote", "reset_workspace", "workspace_config", "workspace_dir",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ratatouille.workspace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
