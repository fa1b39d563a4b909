"""Issue 14, item 7, after the catalog merge: the rest of the public surface is documented too.

``tests/test_public_docs.py`` covers ``ratatouille.__all__``'s functions, ``tools``, ``testing``'s
functions and ``build_definitions``. This file covers what the brief also names: the methods of
the ``ratatouille.Project`` session, the functions of the ``ratatouille.workspace`` package and
the methods of ``testing.RatProject``; each has Parameters (when it takes any) / Returns /
Examples sections, and its examples run as doctests (none is ``+SKIP``).
"""

from __future__ import annotations

import inspect
import re

import pytest

import ratatouille
from ratatouille import testing, workspace

_SECTION = re.compile(r"^\s*(Parameters|Returns|Raises|Examples?)\n\s*-{3,}\s*$", re.MULTILINE)


def _sections(doc: str) -> set[str]:
    return set(_SECTION.findall(doc))


def _methods(cls: type) -> list[tuple[str, object]]:
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):  # with the methods of Ratatouille's own base classes (mixins)
        if klass.__module__.startswith("ratatouille"):
            members.update(vars(klass))
    return [(f"{cls.__module__}.{cls.__name__}.{name}", fn) for name, fn in members.items()
            if not name.startswith("_") and inspect.isfunction(getattr(cls, name, None))
            or (not name.startswith("_") and isinstance(fn, classmethod))]


def _surface() -> list[tuple[str, object]]:
    found = _methods(ratatouille.Project) + _methods(testing.RatProject)
    found.append(("ratatouille.project", ratatouille.project))
    for name in workspace.__all__:
        obj = getattr(workspace, name)
        if inspect.isfunction(obj):
            found.append((f"ratatouille.workspace.{name}", obj))
    return found


def _takes_parameters(fn: object) -> bool:
    target = fn.__func__ if isinstance(fn, classmethod) else fn
    params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
    return bool(params)


@pytest.mark.parametrize("name, fn", _surface(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_surface_has_numpydoc_sections(name: str, fn: object) -> None:
    target = fn.__func__ if isinstance(fn, classmethod) else fn
    doc = inspect.getdoc(target) or ""
    sections = _sections(doc)
    assert "Returns" in sections, f"{name}: {sorted(sections)}"
    if _takes_parameters(fn):
        assert "Parameters" in sections, f"{name}: {sorted(sections)}"
    assert sections & {"Examples", "Example"}, f"{name} has no Examples section"
    assert ">>> " in doc, f"{name} has no runnable example"
    assert "doctest: +SKIP" not in doc, f"{name} skips its example"


def test_surface_is_not_empty() -> None:
    names = {name for name, _ in _surface()}
    assert {"ratatouille._session.Project.run", "ratatouille._session.Project.diff",
            "ratatouille.workspace.create_workspace", "ratatouille._testing_project.RatProject.landing"} <= names
