"""Reading a Delta table: its rows as a LazyFrame (``pl.scan_delta``, also for a local table whose
path needs escaping), its history, and its log entries read one by one.

delta-rs (1.6) percent-encodes a local table's root in ``DeltaTable.file_uris()``
(``/home/me/My%20Projects/lake/...``), and Polars' ``scan_delta`` reads those
strings as file paths, so a lake under a folder with a space in its name could
not be read at all ("No such file or directory ... My%20Projects"). For such a
table the scan goes through a :class:`deltalake.DeltaTable` whose file paths
start with the root as it is on disk; the rest of each path (partition folders,
which Delta escapes on disk too) is kept as delta-rs gives it.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "my projects" / "t"
>>> pl.DataFrame({"a": [1, 2]}).write_delta(str(root))
>>> scan_delta(str(root)).collect()["a"].to_list()
[1, 2]
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable


class _OnDiskRoot(DeltaTable):
    """A table whose ``file_uris()`` name the files by their root as it is on disk (or in the object
    store), not percent-encoded."""

    def file_uris(self, partition_filters: Any = None, *, file_pruning_predicate: Any = None) -> list[str]:
        encoded = _root(self.table_uri)
        decoded = unquote(encoded)
        return [decoded + uri[len(encoded):] if uri.startswith(encoded) else uri
                for uri in super().file_uris(partition_filters, file_pruning_predicate=file_pruning_predicate)]


_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")  # characters no URI escapes: such a path is read as is


def _root(table_uri: str) -> str:
    root = table_uri.removeprefix("file://")
    return root if root.endswith("/") else root + "/"


def scan_delta(source: str | DeltaTable, *, version: int | None = None,
               storage_options: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """``pl.scan_delta(source, version=..., storage_options=...)``, readable also when the table's
    local path holds a character delta-rs escapes (a space, ``%``...).

    Parameters
    ----------
    source : str or DeltaTable
        The table's URI or path, or a loaded table (then read at its loaded version).
    version : int, optional
        The version to read (with a URI; ignored for a loaded table, as Polars ignores it).
    storage_options : mapping, optional
        Object-store options, passed to Polars.

    Returns
    -------
    LazyFrame
        The table's rows.
    """
    uri = source.table_uri if isinstance(source, DeltaTable) else str(source)
    opts = dict(storage_options) if storage_options else None
    if isinstance(source, DeltaTable):
        if unquote(uri) == uri:
            return pl.scan_delta(source, version=version, storage_options=opts)
        return pl.scan_delta(_OnDiskRoot(uri, version=source.version(), storage_options=source._storage_options))
    if _PLAIN.fullmatch(uri.split("://", 1)[-1]):
        return pl.scan_delta(source, version=version, storage_options=opts)
    # an object store too: delta-rs names ``s3://bkt/my lake/t`` ``s3://bkt/my%20lake/t/...``, and Polars
    # escapes that ``%`` once more (``my%2520lake``: not found)
    return pl.scan_delta(_OnDiskRoot(uri, version=version, storage_options=opts))


def history(table: DeltaTable, limit: int | None = None) -> list[dict[str, Any]]:
    """``table.history(limit)``: the commit infos, newest first, each with its ``version``.

    delta-rs (1.6) returns no history at all for a local table whose path holds ``#`` or ``?``
    (``~/issue #12/lake``), so no fingerprint was found (every run rebuilt every table) and
    ``rat history`` was empty. For such a table the commit infos are read from the log entries
    (:func:`log_entries`).
    """
    uri = table.table_uri
    root = unquote(_root(uri)) if uri.startswith("file://") or "://" not in uri else ""
    if "#" not in root and "?" not in root:
        return table.history(limit)
    out: list[dict[str, Any]] = []
    for version, actions in log_entries(uri, table._storage_options, table.version(), None):
        if limit is not None and len(out) >= limit:
            break
        info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        out.append({**info, "version": version})
    return out


def log_entries(table_uri: str, storage_options: Mapping[str, str] | None, newest: int,
                after: int | None) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """``(version, actions)`` of the log entries ``newest`` down to ``after + 1``, each read by its own
    file name through delta-rs' object store (the same storage options as its commits)."""
    from deltalake.fs import DeltaStorageHandler  # lazy: loads pyarrow.fs (~25 ms), only to read back log entries

    store = DeltaStorageHandler(table_uri, options=dict(storage_options) if storage_options else None)
    for version in range(newest, -1 if after is None else after, -1):
        try:
            raw = store.open_input_file(f"_delta_log/{version:020d}.json").read()
        except FileNotFoundError:  # cleaned up after a checkpoint: older than any write in flight
            return
        yield version, [json.loads(line) for line in raw.splitlines() if line.strip()]
