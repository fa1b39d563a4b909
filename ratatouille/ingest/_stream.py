"""Streamed landing files: a Parquet file that needs no per-value check is scanned, never read whole.

Its footer says everything the stage checks before the write (its columns and
types, its row count); when the file's types are the table's already (no cast,
so no value can fail one) and the transform has no checks to run on its rows,
the file joins the run as a lazy scan with the bookkeeping columns as literals
(no per-row copies): the write streams it from the file into the table. Any
other file is read into memory and conformed value by value (:mod:`._stage`).
On a local lake the file stays pinned (``Lake.pinned``) until the write is done.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from . import _conform
from ._bad import BadFile
from ._spec import META_COLUMNS


class Pins:
    """The landing files a run keeps open until its write is done (closed then, or when collected)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._stack.close)

    def keep(self, pinned: contextlib.ExitStack) -> None:
        """Keep ``pinned`` (an exit stack holding one pinned file) open until :meth:`close`."""
        with self._lock:
            self._stack.enter_context(pinned)

    def close(self) -> None:
        """Release every pinned file."""
        with self._lock:
            self._stack.close()


def streams(t: Any, check: Any) -> bool:
    """Whether ingest transform ``t``'s files may be streamed: Parquet, and no checks on their rows."""
    return t.config.format == "parquet" and check is None


def scan(t: Any, lake: Any, f: Any, targets: dict[str, PolarsDataType], table_names: dict[str, str],
         meta: list[pl.Expr], pins: Pins) -> tuple[pl.LazyFrame, int] | None:
    """Landing file ``f`` as a lazy scan and its row count, or ``None`` when it must be read into memory
    (a column to cast or to normalize). Raises ``BadFile`` for an empty file or a reserved column.

    Parameters
    ----------
    t : IngestTransform
        The transform (its ``columns:`` and options).
    lake : Lake
        The lake the file is pinned in.
    f : LandingFile
        The file.
    targets : dict
        The table's and declared column types.
    table_names : dict
        The table's column names by folded name (``_conform.canonical_names``).
    meta : list of pl.Expr
        The bookkeeping columns, as literals.
    pins : Pins
        Where the pinned file is kept open until the write is done.

    Returns
    -------
    tuple of (pl.LazyFrame, int) or None
    """
    if f.size == 0:
        raise BadFile("empty file")
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(lake.pinned(f.path))
        lf = pl.scan_parquet(src, storage_options=lake.delta_options(), glob=False)
        schema = lf.collect_schema()
        rows = int(lf.select(pl.len()).collect().item())  # from the footer
        if rows == 0:
            raise BadFile("empty file (no data rows)")
        clash = [c for c in schema.names() if c in META_COLUMNS]
        if clash:
            raise BadFile(f"column(s) {clash} are reserved for ingestion metadata")
        head = _conform.match_names(pl.DataFrame(schema=schema), table_names)
        file_targets = _conform.file_targets(targets, head.schema)
        if any(c in head.columns and head.schema[c] != dtype for c, dtype in file_targets.items()):
            return None  # a value may not fit: checked value by value
        if _conform.needs_finish(head.schema, targets):
            return None
        _conform.conform(t.config, head, file_targets)  # declared columns present (BadFile else)
        _conform.storable_file(head)
        renamed = {old: new for old, new in zip(schema.names(), head.columns) if old != new}
        out = (lf.rename(renamed) if renamed else lf).with_columns(meta)
        pins.keep(stack.pop_all())
        return out, rows
