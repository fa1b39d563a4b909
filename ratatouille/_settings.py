"""Project discovery and settings.

The project root is the nearest directory, walking up from the working
directory, whose ``pyproject.toml`` has a ``[tool.ratatouille]`` table; or
``RAT_PROJECT_DIR``. Settings come from that table, overridden by ``RAT_*``
environment variables: ``RAT_LAKE``, ``RAT_STORAGE_OPTIONS`` (JSON),
``RAT_WORKSPACE``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from ._names import check_workspace
from .errors import ConfigError

_KNOWN_KEYS = {"lake", "storage_options", "workspace", "vars", "threads", "store_failures"}


class Secrets(Mapping[str, str]):
    """A read-only mapping whose values never show in ``repr`` or ``str``."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = {str(k): str(v) for k, v in (values or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "Secrets({" + ", ".join(f"{k!r}: '***'" for k in self._values) + "})"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one project.

    >>> s = Settings(project_dir=Path("/p"), lake="/p/lake")
    >>> s.workspace
    'default'
    """

    project_dir: Path
    lake: str
    storage_options: Secrets = field(default_factory=Secrets)
    workspace: str = "default"
    vars: Mapping[str, Any] = field(default_factory=dict)
    threads: int | None = None  # transforms run at once (execute/_schedule.py; RAT_THREADS wins)
    store_failures: bool = False  # every test keeps its failing rows (check/_store_failures.py)

    @property
    def workspaces_dir(self) -> Path:
        return self.project_dir / "workspaces"


def find_project_dir(start: Path | None = None) -> Path:
    """Return the project root (see module docstring)."""
    env = os.environ.get("RAT_PROJECT_DIR")
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"RAT_PROJECT_DIR={env!r} is not a directory")
        return path
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "ratatouille" in _read_pyproject(pyproject).get("tool", {}):
            return candidate
    raise ConfigError(
        f"no Ratatouille project found from {here}: add [tool.ratatouille] to a pyproject.toml "
        "(or run `rat init DIR`), or set RAT_PROJECT_DIR"
    )


def _read_pyproject(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", file=str(path)) from exc


def load_settings(project_dir: str | Path | None = None, *, workspace: str | None = None) -> Settings:
    """Load settings for a project (found from the working directory by default)."""
    root = Path(project_dir).resolve() if project_dir else find_project_dir()
    pyproject = root / "pyproject.toml"
    table: dict[str, Any] = {}
    if pyproject.is_file():
        table = dict(_read_pyproject(pyproject).get("tool", {}).get("ratatouille", {}))
    unknown = set(table) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {sorted(unknown)} in [tool.ratatouille]; known: {sorted(_KNOWN_KEYS)}",
            file=str(pyproject),
        )
    lake = os.environ.get("RAT_LAKE") or table.get("lake") or "lake"
    raw_options = table.get("storage_options") or {}
    if not isinstance(raw_options, dict):
        raise ConfigError("[tool.ratatouille] storage_options must be a table of key = \"value\" pairs",
                          file=str(pyproject))
    options = dict(raw_options)
    if os.environ.get("RAT_STORAGE_OPTIONS"):
        try:
            env_options = json.loads(os.environ["RAT_STORAGE_OPTIONS"])
        except json.JSONDecodeError as exc:  # the message never quotes the value: it holds secrets
            raise ConfigError(f"RAT_STORAGE_OPTIONS is not valid JSON: {exc.msg}") from None
        if not isinstance(env_options, dict):
            raise ConfigError("RAT_STORAGE_OPTIONS must be a JSON object ({\"key\": \"value\", ...})")
        options.update(env_options)
    ws = check_workspace(workspace or os.environ.get("RAT_WORKSPACE") or table.get("workspace") or "default")
    ws_file = root / "workspaces" / ws / "workspace.yaml"
    ws_settings = read_yaml_mapping(ws_file)
    unknown = set(ws_settings) - WORKSPACE_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(WORKSPACE_KEYS)}", file=str(ws_file))
    ws_vars = ws_settings.get("vars") or {}
    if not isinstance(ws_vars, dict):
        raise ConfigError("vars: must map names to values", file=str(ws_file))
    return Settings(
        project_dir=root,
        lake=_resolve_lake(lake, root),
        storage_options=Secrets(options),
        workspace=ws,
        vars={**dict(table.get("vars") or {}), **ws_vars},  # the workspace's vars override the project's
        threads=table.get("threads"),
        store_failures=_flag(os.environ.get("RAT_STORE_FAILURES", table.get("store_failures", False)),
                             "store_failures", str(pyproject)),
    )


def _flag(value: Any, key: str, file: str) -> bool:
    """A boolean setting (``true``/``false``; from the environment also ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no", ""):
        return False
    raise ConfigError(f"{key} must be true or false, got {value!r}", file=file)


WORKSPACE_KEYS = {"name", "description", "pin", "vars"}


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (``{}`` when the file does not exist); errors name the file."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=line + 1 if line is not None else None) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings", file=str(path))
    return data


def _resolve_lake(lake: str, root: Path) -> str:
    if "://" in lake:
        if not lake.startswith("file://") and ("#" in lake or "?" in lake or re.search("%[0-9A-Fa-f]{2}", lake)):
            # delta-rs reads the lake as a URL: s3://bkt/x#y/silver/t wrote every table to s3://bkt/x/ (a
            # fragment) and s3://bkt/a%20b to "a b/", while the landing zone was listed at "a%20b/"
            raise ConfigError(f"lake {lake!r}: an object-store lake's location must not hold '#', '?' or a "
                              "%-escape (delta-rs reads it as a URL); name its folder without them")
        return lake.rstrip("/")
    path = Path(lake).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())
