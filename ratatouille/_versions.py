"""Maintenance that respects readers: what ``vacuum`` must keep, and reading old versions safely.

* :func:`vacuum` keeps the data files of the versions of a default table that
  workspaces pin (``pin: true`` + ``pins.yaml``; ``_catalog.pinned_versions``) (delta-rs'
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
from typing import Any, Iterable, Mapping

from deltalake import DeltaTable

from .errors import StorageError

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


#: files that no Delta version references are vacuumed once this old (a staged write in flight is younger)
UNREFERENCED_GRACE_HOURS = 24


def vacuum(name: str, table: Any, *, pinned: Mapping[int, list[str]], retention_hours: int,
           dry_run: bool) -> VacuumResult:
    """Vacuum ``table`` (``name``), keeping the files of every version in ``pinned``
    (``{version: [workspaces]}``, from ``_catalog.pinned_versions``: only default's tables are pinned)."""
    latest = table.version()
    kept = {v: list(ws) for v, ws in pinned.items() if v <= latest}
    kwargs: dict[str, Any] = {"keep_versions": sorted(kept)} if kept else {}
    removed = table.vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False,
                           **kwargs)
    # files no commit references (staged by a run killed before its commit) are removed by a full
    # vacuum, once older than a day: a running write's staged files are younger and stay
    orphans = table.vacuum(retention_hours=max(retention_hours, UNREFERENCED_GRACE_HOURS), dry_run=dry_run,
                           enforce_retention_duration=False, full=True, **kwargs)
    removed = [*removed, *(p for p in orphans if p not in set(removed))]
    result = VacuumResult(removed, kept=kept, table=name)
    if kept:
        log.warning("vacuum %s: %s", name, result.message)
    return result


def _relative(table: Any, uri: str) -> str:
    root = str(table.table_uri).rstrip("/")
    for prefix in (root, root.removeprefix("file://")):
        if uri.startswith(prefix + "/"):
            return uri[len(prefix) + 1:]
    return uri


def check_readable(uri: str, storage_options: Mapping[str, str] | None, name: str, version: int, *,
                   pinned_by: str | None = None) -> None:
    """Raise StorageError (naming ``name`` and ``version``) if data files of that version are gone."""
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
    rel = sorted(_relative(old, u) for u in needed)
    # lazy: deltalake.fs loads pyarrow.fs (~25 ms), needed only when an older version's files are checked
    from deltalake.fs import DeltaStorageHandler
    from pyarrow.fs import FileType

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
