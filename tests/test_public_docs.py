"""Issue 14, item 7: the public API is documented in numpydoc sections, with examples that run.

Every function of ``ratatouille.__all__``, ``ratatouille.tools``, ``ratatouille.testing`` and
``ratatouille.dagster.build_definitions`` has Parameters / Returns / Examples sections (Raises
where it raises on purpose); the examples run as doctests against the sample project (conftest.py
at the repository root), so none of them is skipped unless it cannot run (and says why).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import ratatouille
from ratatouille import testing, tools

ROOT = Path(ratatouille.__file__).parent


def _public_functions() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in ratatouille.__all__:
        obj = getattr(ratatouille, name)
        if inspect.isfunction(obj):
            found.append((f"ratatouille.{name}", obj))
    for module in (tools, testing):
        for name in getattr(module, "__all__", None) or dir(module):
            obj = getattr(module, name)
            if name.endswith("_of"):  # ls_of(project, ...): a public function's twin on a loaded project
                continue
            if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__.startswith("ratatouille."):
                found.append((f"{module.__name__}.{name}", obj))
    from ratatouille.dagster import build_definitions

    found.append(("ratatouille.dagster.build_definitions", build_definitions))
    return found


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^\s*(Parameters|Returns|Raises|Examples?)\n\s*-{3,}\s*$", doc, re.MULTILINE))


@pytest.mark.parametrize("name, fn", _public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_functions_have_numpydoc_sections(name, fn):
    sections = _sections(inspect.getdoc(fn) or "")
    assert {"Parameters", "Returns"} <= sections, f"{name}: {sorted(sections)}"
    assert sections & {"Examples", "Example"}, f"{name} has no Examples section"


def test_no_example_is_skipped_without_a_reason():
    for path in ROOT.rglob("*.py"):
        if "_scaffold/project" in path.as_posix():
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "doctest: +SKIP" in line:
                before = "\n".join(lines[max(0, i - 8):i])
                assert "Not run as a doctest" in before, f"{path}:{i + 1} skips an example without saying why"
