"""``rat promote`` is crash-safe (issue 10.4): SIGKILL at any moment leaves ``default`` with all
of the old files or all of the new ones once the next command loads the project, never the new
``.sql`` beside the old ``.yaml``.

Real ``rat promote`` subprocesses are killed with SIGKILL; ``RAT_PROMOTE_STEP_DELAY`` (the
documented test hook of ``ratatouille/workspace/_journal.py``) pauses between the steps so the
kills land inside the staging and the renaming phases.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ratatouille.discover import Project

N = 6
DELAY = 0.04


def _make_project(root: Path) -> None:
    (root / "lake").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "{root / "lake"}"\n')
    d = root / "workspaces" / "default" / "pipelines" / "silver"
    a = root / "workspaces" / "alice" / "pipelines" / "silver"
    d.mkdir(parents=True)
    a.mkdir(parents=True)
    for i in range(N):
        (d / f"t{i}.sql").write_text(f"SELECT {i} AS a, 'old' AS v\n")
        (d / f"t{i}.yaml").write_text("description: old\n")
        (a / f"t{i}.sql").write_text(f"SELECT {i} AS a, 'new' AS v\n")
        (a / f"t{i}.yaml").write_text("description: new\n")
    # r: default's r.yaml goes away with the promotion (the new r.sql carries no YAML)
    (d / "r.sql").write_text("SELECT 1 AS a\n")
    (d / "r.yaml").write_text("description: old r\n")
    (a / "r.sql").write_text("-- @description: new r\nSELECT 2 AS a\n")


def _state(root: Path) -> dict[str, str]:
    base = root / "workspaces" / "default" / "pipelines"
    return {p.relative_to(base).as_posix(): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}


def _expected(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    old = _state(root)
    new = {k: v for k, v in old.items() if k != "silver/r.yaml"}
    src = root / "workspaces" / "alice" / "pipelines"
    for p in src.rglob("*"):
        if p.is_file():
            new[p.relative_to(src).as_posix()] = p.read_text()
    return old, new


NAMES = [f"silver.t{i}" for i in range(N)] + ["silver.r"]


def _start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "RAT_PROJECT_DIR": str(root), "RAT_PROMOTE_STEP_DELAY": str(DELAY)}
    env.pop("RAT_WORKSPACE", None)
    return subprocess.Popen([sys.executable, "-m", "ratatouille", "promote", "-w", "alice", "--yes", *NAMES],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"rat promote ended before {path.name} appeared: {proc.stdout.read().decode()}")
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.002)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.fixture
def template(tmp_path):
    root = tmp_path / "template"
    _make_project(root)
    return root


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def test_a_promotion_runs_to_the_end(template, tmp_path):
    root = _copy(template, tmp_path / "whole")
    old, new = _expected(root)
    proc = _start(root)
    out = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, out
    assert _state(root) == new and not (root / "workspaces/default/.promote/journal.json").exists()


@pytest.mark.slow
def test_killed_while_renaming_is_completed_by_the_next_load(template, tmp_path):
    root = _copy(template, tmp_path / "renaming")
    old, new = _expected(root)
    proc = _start(root)
    _wait_for(root / "workspaces/default/.promote/journal.json", proc)
    end = time.monotonic() + 60
    while _state(root) == old and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.002)  # until the first renames are done, most not
    _kill(proc)
    half = _state(root)
    assert half != old and half != new  # the window is real: default is half-promoted on disk...
    Project.load(root)  # ...until the next command loads the project
    assert _state(root) == new
    assert not (root / "workspaces/default/.promote/journal.json").exists()
    assert not (root / "workspaces/default/.promote/stage").exists()


@pytest.mark.slow
def test_killed_while_staging_is_rolled_back(template, tmp_path):
    root = _copy(template, tmp_path / "staging")
    old, new = _expected(root)
    proc = _start(root)
    _wait_for(root / "workspaces/default/.promote/stage/2.sql", proc)
    _kill(proc)
    assert _state(root) == old
    from ratatouille.workspace import list_workspaces

    list_workspaces(project_dir=root)  # a workspace command cleans up too
    assert _state(root) == old and not (root / "workspaces/default/.promote/stage").exists()
    # and the promotion can simply be run again
    proc = _start(root)
    assert proc.wait(timeout=300) == 0
    proc.stdout.close()
    assert _state(root) == new


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_mix(template, tmp_path):
    rng = random.Random(os.environ.get("RAT_TEST_SEED", "10.4"))
    old, new = _expected(template)
    window = DELAY * (2 * (2 * N + 2) + 3)  # staging + journal + renames
    rounds = 8
    outcomes = []
    for k in range(rounds):
        root = _copy(template, tmp_path / f"round{k}")
        proc = _start(root)
        _wait_for(root / "workspaces/default/.promote/stage", proc)
        time.sleep(window * (k + rng.random()) / rounds)  # spread over the whole window
        _kill(proc)
        # the next command: a subprocess that loads the project (rat ls loads it)
        env = {**os.environ, "RAT_PROJECT_DIR": str(root)}
        subprocess.run([sys.executable, "-m", "ratatouille", "tables"], cwd=root, env=env, check=True,
                       capture_output=True, timeout=300)
        state = _state(root)
        assert state in (old, new), f"round {k}: default holds a mix: {state}"
        outcomes.append("new" if state == new else "old")
    assert len(outcomes) == rounds
