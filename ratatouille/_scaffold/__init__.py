"""``rat init DIR``: scaffold a new Ratatouille project from the templates in ``project/``.

Files ending in ``.tmpl`` are rendered with :class:`string.Template`
(``${project_name}``, ``${module_name}``) and lose the suffix; ``gitignore``
becomes ``.gitignore``; everything else (SQL with Jinja included) is copied
as is.

>>> from ratatouille._scaffold import init_project
>>> sorted(str(path) for path in init_project("my_lakehouse"))[:2]
['my_lakehouse/.gitignore', 'my_lakehouse/README.md']
"""

from __future__ import annotations

import os
import time
import re
import string
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError

_RENAMES = {"gitignore": ".gitignore"}


def _templates() -> Traversable:
    return resources.files(__name__).joinpath("project")


def _walk(node: Traversable, rel: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name in ("__pycache__",) or child.name.endswith((".pyc", ".pyo")):
            continue
        if child.is_dir():
            yield from _walk(child, (*rel, child.name))
        else:
            yield (*rel, child.name), child


def _inside(root: Path, path: Path) -> None:
    """Refuse to write ``path`` when it, or a folder on its way, is a symbolic link leading out of ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if path.is_symlink() or not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ConfigError(f"{path} leads outside {root} through a symbolic link: nothing written there")


def project_names(directory: Path, name: str | None = None) -> dict[str, str]:
    """``project_name`` (a distribution name) and ``module_name`` (an identifier) for a folder."""
    raw = name or directory.resolve().name or "lakehouse"
    project = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-._").lower() or "lakehouse"
    module = re.sub(r"[^a-z0-9_]+", "_", project.lower()).strip("_") or "lakehouse"
    if module[0].isdigit():
        module = "p_" + module
    return {"project_name": project, "module_name": module}


def init_project(directory: str | Path, *, name: str | None = None, force: bool = False) -> list[Path]:
    """Create a new project in ``directory`` (created if missing); returns the files written.

    Parameters
    ----------
    directory: the new project's folder: missing, or an empty folder (any folder with ``force=True``).
    name: the project name (default: the folder's name).
    force: write into a non-empty folder, overwriting the template's files there.

    Raises
    ------
    ConfigError: ``directory`` is a symbolic link (dangling or not: nothing is ever written
    through one, ``force`` or not), is not a folder, or is a non-empty folder without ``force``;
    or a file to write would land outside ``directory`` through a symbolic link inside it.

    >>> sorted(p.name for p in init_project("my_lakehouse") if p.suffix == ".sql")
    ['orders.sql']
    """
    root = Path(directory)
    if root.is_symlink():
        raise ConfigError(f"{root} is a symbolic link (to {root.readlink()}): rat init writes only into a "
                          "real folder; name the folder itself")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a directory")
    values = project_names(root, name)
    plan: list[tuple[Path, bytes]] = []
    for rel, node in _walk(_templates()):
        *folders, filename = rel
        filename = _RENAMES.get(filename, filename)
        data = node.read_bytes()
        if filename.endswith(".tmpl"):
            filename = filename[: -len(".tmpl")]
            data = string.Template(data.decode()).substitute(values).encode()
        plan.append((root.joinpath(*folders, filename), data))
    existing = [p for p, _ in plan if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p.relative_to(root)) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise ConfigError(f"{root} already has {shown}: choose an empty folder (or --force to overwrite)")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ConfigError(f"{root} is not empty: choose an empty folder (or --force to write into it)")
    for path, data in plan:
        _inside(root, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _inside(root, path)  # checked again once its folders exist: a linked folder is refused
        path.write_bytes(data)
        if "landing" in path.relative_to(root).parts:  # sample data is complete: no settle time to wait
            os.utime(path, (time.time() - 3600, time.time() - 3600))
    return [p for p, _ in plan]
