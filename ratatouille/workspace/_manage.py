"""Managing workspaces: list, create, reset, pin (``rat workspace ...``).

A workspace ``alice`` writes its tables under ``<lake>/workspaces/alice/``
and reads every table it has not built from ``default`` (production). Pinning:
with ``pin: true`` in ``workspaces/<ws>/workspace.yaml``, reads of default's
tables go to the versions recorded in ``workspaces/<ws>/pins.yaml`` (written
by :func:`pin_workspace`); where a table resolves is the catalog's job
(``ratatouille/_catalog.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import yaml

from .._catalog import DEFAULT, PINS_FILE, WORKSPACE_FILE, Catalog, workspace_config, workspace_dir
from .._catalog import list_workspaces as _workspace_names
from .._names import check_workspace, parse_table_name
from .._settings import Settings, load_settings, read_yaml_mapping
from ..discover import discover_workspace
from ..errors import TableNotFoundError, WorkspaceError
from ._journal import recover

__all__ = ["create_workspace", "list_workspaces", "pin_workspace", "reset_workspace"]


def pin_workspace(workspace: str, *, project_dir: str | Path | None = None) -> dict[str, int]:
    """Record the current version of every default table in ``workspaces/<ws>/pins.yaml``
    and set ``pin: true`` in its ``workspace.yaml`` (``rat workspace pin``).

    Parameters
    ----------
    workspace : str
        A development workspace.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    dict of str to int
        The pins: default's table name to the version the workspace now reads.

    Raises
    ------
    WorkspaceError
        ``workspace`` is ``default`` or does not exist.

    Examples
    --------
    >>> from ratatouille.workspace import pin_workspace
    >>> pin_workspace("alice")["silver.sales"]
    0
    """
    settings = _default_settings(project_dir)
    ws = _existing(settings, workspace)
    if ws == DEFAULT:
        raise WorkspaceError("the default workspace is production: it cannot be pinned")
    base = Catalog(settings, DEFAULT)
    pins: dict[str, int] = {}
    for name in sorted(base.lake_tables(DEFAULT)):
        table = base.target(name).open()
        if table is not None:
            pins[name] = table.version()
    folder = workspace_dir(settings, ws)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    body = yaml.safe_dump({"pinned_at": stamp, "tables": pins}, sort_keys=False)
    _atomic_write(folder / PINS_FILE,
                  f"# Versions of default's tables that workspace {ws} reads (refresh: rat workspace pin {ws})\n"
                  + body)
    cfg_path = folder / WORKSPACE_FILE
    cfg = read_yaml_mapping(cfg_path)
    if cfg.get("pin") is not True:
        text = cfg_path.read_text() if cfg_path.is_file() else f"name: {ws}\n"
        lines = [ln for ln in text.splitlines() if not ln.startswith("pin:")]
        lines.append("pin: true            # read default's tables at the versions in pins.yaml")
        _atomic_write(cfg_path, "\n".join(lines) + "\n")
    return pins


def _existing(settings: Settings, workspace: str | None) -> str:
    ws = check_workspace(workspace or settings.workspace)
    known = _workspace_names(settings)
    if ws != DEFAULT and ws not in known:
        raise WorkspaceError(f"unknown workspace {ws!r}; workspaces: {', '.join(known) or 'none'}")
    return ws


def list_workspaces(*, project_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every workspace: name, description, pinned or not, its own transforms (overrides of default
    marked) and the tables it has built (``rat workspace list``).

    Parameters
    ----------
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    list of dict
        One per workspace, by name: ``workspace``, ``description``, ``pinned``,
        ``transforms``, ``overrides``, ``tables``.

    Examples
    --------
    >>> from ratatouille.workspace import list_workspaces
    >>> [(w["workspace"], w["pinned"], w["overrides"]) for w in list_workspaces()]
    [('alice', True, ['silver.sales']), ('default', False, [])]
    """
    settings = _default_settings(project_dir)
    names = _workspace_names(settings)
    if DEFAULT not in names:
        names = [DEFAULT, *names]
    base = Catalog(settings, DEFAULT)
    default_names = set(discover_workspace(settings.workspaces_dir / DEFAULT, workspace=DEFAULT))
    rows = []
    for ws in names:
        cfg = workspace_config(settings, ws)
        own = sorted(discover_workspace(settings.workspaces_dir / ws, workspace=ws)) if ws != DEFAULT else sorted(default_names)
        rows.append({
            "workspace": ws,
            "description": cfg.get("description"),
            "pinned": bool(cfg.get("pin")) and ws != DEFAULT,
            "transforms": own,
            "overrides": [n for n in own if n in default_names] if ws != DEFAULT else [],
            "tables": sorted(base.lake_tables(ws)),
        })
    return rows


def create_workspace(workspace: str, *, pin: bool = False, description: str | None = None,
                     project_dir: str | Path | None = None) -> Path:
    """Create ``workspaces/<ws>/`` (``workspace.yaml`` + an empty ``pipelines/``); with ``pin=True``
    record default's current table versions (``rat workspace create``).

    Parameters
    ----------
    workspace : str
        The new workspace's name.
    pin : bool
        Read default's tables at their current versions (:func:`pin_workspace`).
    description : str, optional
        Written into its ``workspace.yaml``.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    pathlib.Path
        The workspace's folder.

    Raises
    ------
    WorkspaceError
        ``workspace`` is ``default`` or exists already.

    Examples
    --------
    >>> from ratatouille.workspace import create_workspace
    >>> create_workspace("bob", description="try a new metric").relative_to(Path.cwd()).as_posix()
    'workspaces/bob'
    """
    settings = _default_settings(project_dir)
    ws = check_workspace(workspace)
    if ws == DEFAULT:
        raise WorkspaceError("'default' is the production workspace: create a development workspace "
                             "with another name")
    folder = workspace_dir(settings, ws)
    if folder.exists():
        raise WorkspaceError(f"workspace {ws!r} already exists ({folder})")
    (folder / "pipelines").mkdir(parents=True)
    (folder / "pipelines" / ".gitkeep").write_text("")
    lines = [f"name: {ws}"]
    if description:
        lines.append("description: " + yaml.safe_dump(description, default_flow_style=True).strip()
                     .removesuffix("...").strip())
    lines.append(f"pin: {'true' if pin else 'false'}" + ("           # read default's tables at the versions in pins.yaml"
                                                         if pin else "          # true: read default's tables at fixed versions"))
    (folder / WORKSPACE_FILE).write_text("\n".join(lines) + "\n")
    if pin:
        pin_workspace(ws, project_dir=settings.project_dir)
    return folder


def reset_workspace(workspace: str, *, tables: Sequence[str] | None = None, repin: bool = False,
                    project_dir: str | Path | None = None) -> list[str]:
    """Drop the workspace's own tables (all of them, or ``tables``), so it reads default's again
    (``rat workspace reset``). Its transform files stay.

    Parameters
    ----------
    workspace : str
        A development workspace.
    tables : sequence of str, optional
        Only these tables (default: every table it built).
    repin : bool
        Record the pins again (:func:`pin_workspace`).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    list of str
        The tables dropped.

    Raises
    ------
    WorkspaceError
        ``workspace`` is ``default`` or does not exist.
    TableNotFoundError
        A name of ``tables`` is no table the workspace built.

    Examples
    --------
    >>> from ratatouille.workspace import reset_workspace
    >>> reset_workspace("alice")
    ['silver.sales']
    """
    settings = _default_settings(project_dir)
    ws = check_workspace(workspace)
    if ws == DEFAULT:
        raise WorkspaceError("refusing to reset 'default': it is production (drop tables there by hand)")
    catalog = Catalog(settings, ws)
    lake = catalog.lake
    built = sorted(catalog.lake_tables(ws))
    if ws not in _workspace_names(settings) and not built:
        known = _workspace_names(settings)
        raise WorkspaceError(f"unknown workspace {ws!r}; workspaces: {', '.join(known) or 'none'}")
    if tables:
        for name in tables:
            parse_table_name(name)
        unknown = [n for n in tables if n not in built]
        if unknown:
            raise TableNotFoundError(f"workspace {ws} has not built {', '.join(unknown)}; "
                                     f"its tables: {', '.join(built) or 'none'}")
        dropped = list(tables)
        for name in dropped:
            lake.fs.rm(lake.key(lake.table_uri(name, ws)), recursive=True)
    else:
        dropped = built
        root = lake.key(lake.path("workspaces", ws))
        if lake.fs.exists(root):
            lake.fs.rm(root, recursive=True)
    if repin:
        pin_workspace(ws, project_dir=settings.project_dir)
    return dropped


def _default_settings(project_dir: str | Path | None) -> Settings:
    """The project's settings for a workspace command, after finishing a promotion a crash
    interrupted (``workspace/_journal.recover``)."""
    settings = load_settings(project_dir, workspace=DEFAULT)
    recover(settings.workspaces_dir / DEFAULT)
    return settings


def _atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
