"""``rat init DIR``: the scaffold is a working project whose own tests pass right away."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ratatouille import ConfigError
from ratatouille._scaffold import init_project, project_names


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "PYTEST_"))}
    env["COLUMNS"] = "200"
    return env


def rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(), timeout=120)


def test_rat_init_scaffolds_a_project_whose_tests_pass(tmp_path):
    out = rat("init", "shop", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "shop"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "README.md", "lake/landing/orders/2024-01-01.csv", "pipelines/__init__.py", "pyproject.toml",
        "tests/test_pipeline.py", "workspaces/default/pipelines/bronze/orders.yaml",
        "workspaces/default/pipelines/gold/revenue_by_day.py", "workspaces/default/pipelines/silver/orders.sql",
        "workspaces/default/pipelines/silver/orders.yaml", "workspaces/default/workspace.yaml",
    ]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop"
    assert pyproject["tool"]["ratatouille"] == {"lake": "lake", "workspace": "default"}
    assert pyproject["tool"]["dagster"]["module_name"] == "ratatouille.definitions"
    exported: dict = {}
    exec((root / "pipelines/__init__.py").read_text(), exported)
    for name in ("all_assets", "all_asset_checks", "all_jobs", "all_sensors", "all_schedules"):
        assert exported[name] == []
    assert "{{ watermark('_ingested_at') }}" in (root / "workspaces/default/pipelines/silver/orders.sql").read_text()

    # the scaffold's own tests pass, in a fresh interpreter, right after `rat init`
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                           capture_output=True, text=True, env=_env(), timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    assert not (root / "lake" / "bronze").exists()          # the tests used a temporary lake

    # and the example pipeline runs in the new project
    out = rat("run", "--all", cwd=root)
    assert out.returncode == 0, out.stderr
    out = rat("query", "SELECT COUNT(*) AS n FROM silver.orders", cwd=root)
    assert out.returncode == 0 and "4" in out.stdout


def test_init_refuses_to_overwrite_and_names_the_project(tmp_path):
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    with pytest.raises(ConfigError, match="already has pyproject.toml"):
        init_project(tmp_path / "existing")
    assert (tmp_path / "existing" / "pyproject.toml").read_text() == "[project]\nname = 'mine'\n"
    init_project(tmp_path / "existing", force=True)
    assert "[tool.ratatouille]" in (tmp_path / "existing" / "pyproject.toml").read_text()

    init_project(tmp_path / "other", name="My Shop 2")
    pyproject = tomllib.loads((tmp_path / "other" / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "my-shop-2"
    assert pyproject["tool"]["dagster"]["code_location_name"] == "my_shop_2"
    assert project_names(Path("2024 lake")) == {"project_name": "2024-lake", "module_name": "p_2024_lake"}

    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        init_project(tmp_path / "a_file")
