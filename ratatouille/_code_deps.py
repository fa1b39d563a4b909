"""The project's own Python modules a Python transform's file imports, for its fingerprint.

A Python transform that calls a helper of another module (``from helpers import
fare_per_km``) computes with that helper's code: when the helper changes, the
transform must build again (``execute/_fingerprint.py``). This module finds,
without importing anything, the files of the modules the transform's file
imports (``import a.b``, ``from a import b``, relative imports), transitively,
keeping those of the project: files under the folder of the project's
``pyproject.toml``, outside any installed environment (``site-packages``, the
interpreter's prefix). Installed libraries (Polars, Ratatouille itself) are
versioned by their installation, not by this hash.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "pyproject.toml").write_text("")
>>> _ = (root / "helpers.py").write_text("X = 1")
>>> _ = (root / "t.py").write_text("import polars\\nfrom helpers import X")
>>> [p.name for p in project_imports(root / "t.py", search=[root])]
['helpers.py']
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["project_imports"]


def project_imports(path: Path, search: Sequence[Path] | None = None) -> list[Path]:
    """The project files ``path`` imports, directly or through other project files, sorted.

    Parameters
    ----------
    path : Path
        A Python transform's file.
    search : sequence of Path, optional
        Where absolute imports are looked up (default: ``sys.path``, then the project folder).

    Returns
    -------
    list of Path
        The imported files of the project (``path`` itself excluded), sorted.
    """
    root = _project_root(path)
    if root is None:
        return []
    bases = [Path(p or ".").resolve() for p in (search if search is not None else sys.path)] + [root]
    installed = _installed_prefixes()
    found: set[Path] = set()
    todo = [path.resolve()]
    while todo:
        current = todo.pop()
        for dep in _imported_files(current, bases):
            if dep in found or dep == path.resolve() or not dep.is_relative_to(root):
                continue
            if any(dep.is_relative_to(p) for p in installed) or "site-packages" in dep.parts:
                continue
            found.add(dep)
            todo.append(dep)
    return sorted(found)


def _project_root(path: Path) -> Path | None:
    for folder in path.resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def _installed_prefixes() -> list[Path]:
    return [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]


def _imported_files(path: Path, bases: list[Path]) -> Iterable[Path]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _module_files(alias.name.split("."), bases)
        elif isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            if node.level:  # relative: from the file's own package folder
                folder = path.parent
                for _ in range(node.level - 1):
                    folder = folder.parent
                where = [folder]
            else:
                where = bases
            yield from _module_files(parts, where)
            for alias in node.names:  # `from pkg import sub`: sub may be a module
                if alias.name != "*":
                    yield from _module_files([*parts, alias.name], where, only_last=True)


def _module_files(parts: list[str], bases: list[Path], only_last: bool = False) -> Iterable[Path]:
    """The files of module ``parts`` (and of its parent packages' ``__init__.py``) in the first base
    that has it; ``only_last``: the module's own file only."""
    if not parts:
        return
    for base in bases:
        folder = base.joinpath(*parts[:-1])
        for candidate in (folder / f"{parts[-1]}.py", folder / parts[-1] / "__init__.py"):
            if candidate.is_file():
                if not only_last:
                    for i in range(1, len(parts)):
                        init = base.joinpath(*parts[:i], "__init__.py")
                        if init.is_file():
                            yield init.resolve()
                yield candidate.resolve()
                return
