"""Doctests run for real, against the sample project.

pytest collects the examples of ``ratatouille/`` (``--doctest-modules``, pyproject.toml). Each
example runs in its own copy of this repository's sample sales project (``workspaces/``,
``pipelines/``, ``lake/landing/``, ``pyproject.toml``) whose pipeline has been run once: the
working directory and ``RAT_PROJECT_DIR`` point at the copy, so ``run("silver.sales")``,
``query(...)``, ``tools.diff(..., workspace="alice")`` and the other examples show what they
really print. The copy also holds a workspace ``alice`` (pinned to default's versions) with its
own ``silver.sales`` (``quantity > 1``), built once. The sample is built once per session; each
example gets a fresh copy, so one that writes (a run, a vacuum) changes nothing for the next.

A table's fingerprint (``execute/_fingerprint.py``) holds where its inputs live, and a copy moves
them: the first ``run()`` of a table in an example rebuilds it (``"success"``), a second one with
nothing changed is ``"unchanged"``, as it is for a user who runs twice.

The fixtures here touch doctests only; ``tests/conftest.py`` holds the test suite's own.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest
from _pytest.doctest import DoctestItem

REPO = Path(__file__).resolve().parent
_ENV = {"RAT_SETTLE_SECONDS": "0"}  # the sample's landing files were just copied: ingest them at once
_UNSET = ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS")


def _copy_sample(root: Path) -> None:
    """This repository's sample project (its code and landing files; no lake tables) into ``root``."""
    shutil.copytree(REPO / "workspaces", root / "workspaces", ignore=shutil.ignore_patterns(".promote"))
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "lake" / "landing", root / "lake" / "landing", ignore=shutil.ignore_patterns("_rejected"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")


@pytest.fixture(scope="session")
def _doctest_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample project with its pipeline run once, and workspace ``alice`` built."""
    from ratatouille import run
    from ratatouille.workspace import create_workspace

    root = tmp_path_factory.mktemp("doctest") / "sample"
    _copy_sample(root)
    with pytest.MonkeyPatch.context() as mp:
        for var in _UNSET:
            mp.delenv(var, raising=False)
        for var, value in _ENV.items():
            mp.setenv(var, value)
        run("*", project_dir=str(root))
        create_workspace("alice", pin=True, project_dir=str(root))
        alice = root / "workspaces" / "alice" / "pipelines" / "silver"
        alice.mkdir(parents=True, exist_ok=True)
        for src in (root / "workspaces" / "default" / "pipelines" / "silver").glob("sales.*"):
            text = src.read_text()
            (alice / src.name).write_text(text.replace("WHERE quantity > 0", "WHERE quantity > 1"))
        run("silver.sales", workspace="alice", project_dir=str(root))
    return root


@pytest.fixture(autouse=True)
def _in_sample_project(request: pytest.FixtureRequest, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A doctest runs in a fresh copy of the built sample project (other tests are left alone)."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    root = tmp_path / "sample"
    shutil.copytree(request.getfixturevalue("_doctest_sample"), root, symlinks=True)
    for var in _UNSET:
        monkeypatch.delenv(var, raising=False)
    for var, value in _ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("RAT_PROJECT_DIR", str(root))
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))  # its pipelines/ package
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # the next example's pipelines/ is another copy
        if name == "pipelines" or name.startswith(("pipelines.", "ratatouille_ws.")):
            sys.modules.pop(name, None)
