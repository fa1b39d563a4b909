"""Maintenance that respects readers: what ``vacuum`` must keep, and reading old versions safely.

* :func:`pinned_versions`: the versions of a default table that workspaces pin
  (``pin: true`` + ``pins.yaml``), with the workspaces pinning each;
* :func:`vacuum` keeps the data files of those versions (delta-rs'
  ``keep_versions``) and says so in its :class:`VacuumResult`;
* :func:`check_readable`: before an old version is read (``read(version=)``, a
  pinned workspace's reads), the files it needs that the latest version no
  longer holds are looked up (one batched lookup through delta-rs' own object
  store, nothing when the version's files are all current); if some are gone
  the read fails with a :class:`~ratatouille.errors.StorageError` naming the
  table and the version, not a raw ``FileNotFoundError`` at collect time.

Example
-------
>>> r = VacuumResult(["part-1.parquet"], kept={0: ["alice"]}, table="bronze.sales")
>>> list(r), r.message
(['part-1.parquet'], 'kept the files of bronze.sales v0 (pinned by workspace alice)')
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import StorageError

if TYPE_CHECKING:  # annotations only: these modules import this one
    from deltalake import DeltaTable

    from ._settings import Settings
    from .discover import Project

log = logging.getLogger("ratatouille")


class VacuumResult(list):
    """The files a vacuum removed (or would remove, ``dry_run``): a list of paths, plus
    ``kept`` (``{version: [workspaces pinning it]}``: versions whose files were kept) and
    ``message`` (a sentence saying so, empty when nothing was kept)."""

    def __init__(self, files: Iterable[str] = (), *, kept: Mapping[int, list[str]] | None = None, table: str = "") -> None:
        super().__init__(files)
        self.kept = dict(kept or {})
        self.table = table

    @property
    def message(self) -> str:
        if not self.kept:
            return ""
        parts = [f"v{v} (pinned by workspace{'s' if len(ws) > 1 else ''} {', '.join(ws)})"
                 for v, ws in sorted(self.kept.items())]
        return f"kept the files of {self.table} " + "; ".join(parts)


def pinned_versions(settings: Settings, name: str) -> dict[int, list[str]]:
    """``{version: [workspaces]}``: the versions of default's table ``name`` that pinned workspaces read."""
    from ._workspace import load_pins
    from .discover import list_workspaces

    out: dict[int, list[str]] = {}
    for ws in list_workspaces(settings):
        if ws == "default":
            continue
        version = load_pins(settings, ws).get(name)
        if version is not None:
            out.setdefault(version, []).append(ws)
    return out


def vacuum(project: Project, name: str, table: DeltaTable, *, retention_hours: int, dry_run: bool) -> VacuumResult:
    """Vacuum ``table`` (``name`` in ``project``'s workspace), keeping the files of every version a
    workspace pin still reads (only default's tables are pinned)."""
    kept: dict[int, list[str]] = {}
    if project.target(name).uri == project.lake.table_uri(name, "default"):
        latest = table.version()
        kept = {v: ws for v, ws in pinned_versions(project.settings, name).items() if v <= latest}
    kwargs: dict[str, Any] = {"keep_versions": sorted(kept)} if kept else {}
    removed = table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False,
                           **kwargs)
    result = VacuumResult(removed, kept=kept, table=name)
    if kept:
        log.warning("vacuum %s: %s", name, result.message)
    return result


def _relative(table: DeltaTable, uri: str) -> str:
    root = str(table.table_uri).rstrip("/")
    for prefix in (root, root.removeprefix("file://")):
        if uri.startswith(prefix + "/"):
            return uri[len(prefix) + 1:]
    return uri


def check_readable(uri: str, storage_options: Mapping[str, str] | None, name: str, version: int, *,
                   pinned_by: str | None = None) -> None:
    """Raise StorageError (naming ``name`` and ``version``) if data files of that version are gone."""
    from deltalake import DeltaTable

    opts = dict(storage_options) if storage_options else None
    try:
        latest = DeltaTable(uri, storage_options=opts)
        if latest.version() == version:
            return
        old = DeltaTable(uri, storage_options=opts, version=version)
    except Exception:  # noqa: BLE001 - a missing table or version is reported by the read itself
        return
    needed = set(old.file_uris()) - set(latest.file_uris())
    if not needed:
        return
    from deltalake.fs import DeltaStorageHandler
    from pyarrow.fs import FileType

    rel = sorted(_relative(old, u) for u in needed)
    try:
        infos = DeltaStorageHandler(str(old.table_uri), options=opts).get_file_info(rel)
    except Exception:  # noqa: BLE001 - cannot tell: let the read speak
        return
    gone = [i.path for i in infos if i.type == FileType.NotFound]
    if not gone:
        return
    who = f" (workspace {pinned_by} pins it: `rat workspace pin {pinned_by}` re-pins to the current version)" \
        if pinned_by else ""
    raise StorageError(f"table {name} version {version} can no longer be read: {len(gone)} of its data files "
                       f"were removed (by a vacuum), e.g. {gone[0]}{who}")
