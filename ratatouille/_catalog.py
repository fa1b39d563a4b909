"""The catalog: where a table lives, for one workspace of a project.

It answers one question, "where is ``layer.name``?", for every reader and
writer (``run``, ``query``, ``read``, ``diff``, ``tools``, Dagster):

* a workspace **writes** its tables under ``<lake>/workspaces/<ws>/``
  (``default``, production, under ``<lake>/``): :meth:`Catalog.target`;
* it **reads** its own table when it has built one, else default's
  (the *overlay*): :meth:`Catalog.read_target`;
* with ``pin: true`` in ``workspaces/<ws>/workspace.yaml``, default's tables
  are read at the versions of ``pins.yaml`` (:func:`load_pins`,
  :class:`PinnedTarget`).

The catalog knows no transform: it sits below discovery and execution, so
both depend on it and it depends on neither.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from ratatouille._settings import Settings
>>> root = tempfile.mkdtemp()
>>> catalog = Catalog(Settings(project_dir=Path(root), lake=root + "/lake"), "alice")
>>> catalog.target("silver.sales").uri.endswith("lake/workspaces/alice/silver/sales")
True
>>> catalog.read_target("silver.sales") is None      # built nowhere yet
True
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from ._lake import Lake, glob_escape
from ._names import check_workspace, parse_table_name
from ._settings import Settings, read_yaml_mapping
from ._versions import check_readable
from .errors import ConfigError, WorkspaceError
from .write import Target

log = logging.getLogger("ratatouille")

DEFAULT = "default"
WORKSPACE_FILE = "workspace.yaml"
PINS_FILE = "pins.yaml"


# -- workspaces on disk -----------------------------------------------------------------------
def workspace_dir(settings: Settings, workspace: str) -> Path:
    """``<project>/workspaces/<workspace>`` (the name checked first).

    Parameters
    ----------
    settings : Settings
        The project's settings.
    workspace : str
        A workspace name.

    Returns
    -------
    pathlib.Path
        The folder (it may not exist).

    Raises
    ------
    WorkspaceError
        ``workspace`` is not a valid workspace name.

    Examples
    --------
    >>> from ratatouille._settings import load_settings
    >>> workspace_dir(load_settings(), "alice").relative_to(Path.cwd()).as_posix()
    'workspaces/alice'
    """
    return settings.workspaces_dir / check_workspace(workspace)


def workspace_config(settings: Settings, workspace: str) -> dict[str, Any]:
    """The parsed ``workspace.yaml`` of a workspace (``{}`` when there is none).

    Parameters
    ----------
    settings : Settings
        The project's settings.
    workspace : str
        A workspace name.

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        The file is not a YAML mapping.

    Examples
    --------
    >>> from ratatouille._settings import load_settings
    >>> workspace_config(load_settings(), "alice")["pin"]
    True
    """
    return read_yaml_mapping(workspace_dir(settings, workspace) / WORKSPACE_FILE)


def list_workspaces(settings: Settings) -> list[str]:
    """Names of the workspace folders under ``workspaces/`` (a folder with an invalid name is
    skipped with a warning, never hiding the others)."""
    root = settings.workspaces_dir
    if not root.is_dir():
        return []
    names = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith((".", "_")):
            continue
        try:
            names.append(check_workspace(p.name))
        except WorkspaceError as exc:
            log.warning("ignoring workspaces/%s: %s", p.name, exc.message)
    return names


def load_pins(settings: Settings, workspace: str) -> dict[str, int]:
    """Pinned versions of default's tables for ``workspace`` (empty unless ``pin: true``).

    Parameters
    ----------
    settings : Settings
        The project's settings.
    workspace : str
        A workspace name.

    Returns
    -------
    dict of str to int
        Table name to the Delta version the workspace reads.

    Raises
    ------
    ConfigError
        ``pins.yaml`` names something that is not a table, or a version that is not a
        non-negative integer.

    Examples
    --------
    >>> from ratatouille._settings import load_settings
    >>> load_pins(load_settings(), "alice")["bronze.sales"], load_pins(load_settings(), "default")
    (0, {})
    """
    if workspace == DEFAULT:
        return {}
    if not workspace_config(settings, workspace).get("pin"):
        return {}
    path = workspace_dir(settings, workspace) / PINS_FILE
    tables = read_yaml_mapping(path).get("tables") or {}
    if not isinstance(tables, dict):
        raise ConfigError("'tables' must map table names to Delta versions", file=str(path))
    pins: dict[str, int] = {}
    for name, version in tables.items():
        parse_table_name(str(name), file=str(path))
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ConfigError(f"pinned version of {name} must be a non-negative integer, got {version!r}",
                              file=str(path))
        pins[str(name)] = version
    if not pins and not path.is_file():
        log.warning("workspace %s has pin: true but no %s: run `rat workspace pin %s`", workspace, path, workspace)
    return pins


def pinned_versions(settings: Settings, name: str) -> dict[int, list[str]]:
    """``{version: [workspaces]}``: the versions of default's table ``name`` that pinned workspaces read."""
    out: dict[int, list[str]] = {}
    for ws in list_workspaces(settings):
        if ws == DEFAULT:
            continue
        version = load_pins(settings, ws).get(name)
        if version is not None:
            out.setdefault(version, []).append(ws)
    return out


# -- targets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PinnedTarget(Target):
    """A default table read at a fixed version (a workspace's pin)."""

    version: int | None = None
    pinned_by: str | None = None  # the workspace whose pin this is

    def open(self, version: int | None = None) -> Any:
        return super().open(self.version if version is None else version)

    def scan(self, version: int | None = None) -> pl.LazyFrame:
        """The pinned version (a clear StorageError if a vacuum removed its files)."""
        v = self.version if version is None else version
        if v is not None:
            check_readable(self.uri, self.storage_options, self.name, v, pinned_by=self.pinned_by)
        return super().scan(v)


class Catalog:
    """Where the tables of one workspace live: written, read (overlay over default), pinned.

    Parameters
    ----------
    settings
        The project's settings (lake URI, storage options, folders).
    workspace
        The workspace whose view of the lake this is.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from ratatouille._settings import Settings
    >>> root = tempfile.mkdtemp()
    >>> Catalog(Settings(project_dir=Path(root), lake=root + "/lake"), "default").lake_tables()
    set()
    """

    def __init__(self, settings: Settings, workspace: str) -> None:
        self.settings = settings
        self.workspace = workspace
        self.lake = Lake(settings.lake, settings.storage_options)

    def __repr__(self) -> str:
        return f"<Catalog {self.lake.path()} workspace={self.workspace}>"

    def table_uri(self, name: str, workspace: str | None = None) -> str:
        """Where ``workspace`` (default: this one) writes ``name``."""
        return self.lake.table_uri(name, workspace or self.workspace)

    def target(self, name: str) -> Target:
        """The :class:`~ratatouille.write.Target` this workspace writes for ``name``."""
        return Target(self.table_uri(name), self.lake.delta_options(), name)

    @functools.cached_property
    def pins(self) -> dict[str, int]:
        """Versions of default's tables this workspace reads (``pin: true`` + ``pins.yaml``), else empty."""
        return load_pins(self.settings, self.workspace)

    def inherited_target(self, name: str, base: str = DEFAULT) -> Target:
        """The ``base`` workspace's table ``name`` as seen from here (pinned if this workspace pins it)."""
        uri = self.lake.table_uri(name, base)
        pins = self.pins if base == DEFAULT else {}
        if name in pins:
            return PinnedTarget(uri, self.lake.delta_options(), name, version=pins[name], pinned_by=self.workspace)
        return Target(uri, self.lake.delta_options(), name)

    def read_target(self, name: str) -> Target | None:
        """Where ``name`` is read from: this workspace's table, else (overlay) default's; None if unbuilt."""
        own = self.target(name)
        if own.open() is not None:
            return own
        if self.workspace != DEFAULT:
            inherited = self.inherited_target(name)  # pinned to a version with workspace.yaml `pin: true`
            if inherited.open() is not None:
                return inherited
        return None

    def lake_tables(self, workspace: str | None = None) -> set[str]:
        """Names of the Delta tables present in the lake for a workspace (default: this one's and default's)."""
        spaces = {workspace} if workspace else {DEFAULT, self.workspace}
        found: set[str] = set()
        lake = self.lake
        for ws in spaces:
            root = lake.path() if ws == DEFAULT else lake.path("workspaces", ws)
            try:
                logs = lake.fs.glob(glob_escape(lake.key(root)) + "/*/*/_delta_log")
            except (FileNotFoundError, OSError):
                continue
            for found_log in logs:
                layer, name = found_log.rstrip("/").split("/")[-3:-1]
                if layer not in ("landing", "workspaces") and not layer.startswith(("_", ".")):
                    found.add(f"{layer}.{name}")
        return found

    def resolve(self, name: str, *, view: bool = False) -> dict[str, Any]:
        """Where ``name`` resolves: ``own``, ``default`` (inherited), ``view`` or ``not built``,
        with the URI, the version read and whether it is pinned (``view=True``: a view's name)."""
        if view:
            return {"table": name, "resolves_to": "view", "uri": None, "version": None, "pinned": False}
        target = self.read_target(name)
        if target is None:
            return {"table": name, "resolves_to": "not built", "uri": None, "version": None, "pinned": False}
        table = target.open()
        own = target.uri == self.table_uri(name)
        return {"table": name, "resolves_to": "own" if own else DEFAULT, "uri": target.uri,
                "version": table.version() if table is not None else None,
                "pinned": isinstance(target, PinnedTarget)}

    def log_resolution(self, names: Iterable[str], views: Iterable[str] = ()) -> None:
        """Log (INFO) where each table resolves, for reads in a non-default workspace."""
        if self.workspace == DEFAULT or not log.isEnabledFor(logging.INFO):
            return
        views = set(views)
        for name in names:
            r = self.resolve(name, view=name in views)
            where = r["resolves_to"] + (f" v{r['version']}" if r["version"] is not None else "")
            log.info("workspace %s: %s -> %s%s", self.workspace, name, where, " (pinned)" if r["pinned"] else "")
