"""Streamed landing files: a CSV, NDJSON or Parquet file is scanned, never read whole.

What the stage checks before the write comes from the scan's schema (its
columns and types) and one counting pass (a Parquet footer); the type policy's
strict casts (:func:`._cast.cast_expr`) are lazy expressions and the
bookkeeping columns are literals (no per-row copies): the write streams the
file into the table. The transform's checks run on the scan in a streaming
pass (``check``), never on the collected file. A file that turns out bad while
it streams (a parse error, a value that does not cast strictly, a failing
check) is read once more into memory by :mod:`._stage` to name its line; a
cast that needs the eager check (a float into an integer), ``decimal_comma``,
a compressed or non-UTF-8 CSV, an NDJSON file whose name holds a glob
character, JSON (an array) and Excel are read into memory (their readers have
no scan). On a local lake the file stays pinned (``Lake.pinned``) until the
write is done.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Callable, Mapping, Sequence

import polars as pl
from polars._typing import PolarsDataType

from . import _conform
from ._bad import BadFile
from ._cast import cast_expr
from ._landing import has_magic
from ._readers import read_csv
from ._spec import LOSSY, META_COLUMNS, UTF8, dtypes


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


STREAMED = ("parquet", "csv", "ndjson")


def streams(t: Any) -> bool:
    """Whether ingest transform ``t``'s files may be streamed: CSV, NDJSON or Parquet."""
    return t.config.format in STREAMED


def scan_file(t: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...]) -> pl.LazyFrame | None:
    """The scan of the landing file ``full`` (pinned at ``src``) of ingest transform ``t``, or ``None``
    when its reader has none (it is read into memory): ``IngestTransform.read_file(..., scan=stack)``.

    Parameters
    ----------
    t : IngestTransform
        The transform (its format and reader options).
    lake : Lake
        The lake (its storage options).
    full : str
        The file's full path (its name and suffixes).
    src : str
        The path the pinned file is read from.
    string_columns : tuple of str
        Columns read as text (CSV), cast strictly later.

    Returns
    -------
    pl.LazyFrame or None
    """
    opts = dict(t.config.options)
    fmt = t.config.format
    if fmt == "parquet":
        return pl.scan_parquet(src, storage_options=lake.delta_options(), glob=False)
    if fmt == "csv":
        if full.lower().endswith(".gz") or opts.get("encoding") not in UTF8 + LOSSY or opts.get("decimal_comma"):
            return None
        return read_csv(t.config, lake, full, src, string_columns)
    if has_magic(full):  # scan_ndjson would expand "[", "*" or "?" in the name as a glob
        return None
    overrides = dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
    kwargs: dict[str, Any] = {"schema_overrides": overrides} if overrides else {}
    kwargs.update(_conform.inference(opts))
    return pl.scan_ndjson(src, storage_options=lake.delta_options(), **kwargs)


def scan(t: Any, lake: Any, f: Any, targets: Mapping[str, PolarsDataType], table_names: dict[str, str],
         meta: list[pl.Expr], pins: Pins, check: Callable[[pl.LazyFrame], Sequence[Any]] | None = None
         ) -> tuple[pl.LazyFrame, int] | None:
    """Landing file ``f`` as a lazy scan (cast to the table's types, with the bookkeeping columns) and
    its row count, or ``None`` when it must be read into memory. Raises ``BadFile`` for an empty file,
    a reserved column or a missing declared column; a Polars error when the file cannot be parsed.

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
    check : callable, optional
        The transform's checks, run on the scan (:func:`passes`): a file failing one is read into
        memory (``None``), to name the line of its first failing row.

    Returns
    -------
    tuple of (pl.LazyFrame, int) or None
        The plan and the file's rows.

    Raises
    ------
    BadFile
        An empty file, a reserved or missing column, a type Delta Lake cannot store.

    Examples
    --------
    >>> from ratatouille.transforms._config import build_config
    >>> class T: config = build_config({"source": "landing/s/", "format": "excel"})
    >>> streams(T())
    False
    """
    if f.size == 0:
        raise BadFile("empty file")
    with contextlib.ExitStack() as stack:
        lf = t.read_file(f, lake, string_columns=tuple(targets), scan=stack)  # pinned in ``stack``
        if lf is None:
            return None
        schema = lf.collect_schema()
        rows = int(lf.select(pl.len()).collect().item())  # a Parquet footer; a counting pass else
        if rows == 0:  # or a count Polars' fast path got wrong (an unterminated quote): read into memory
            return None
        clash = [c for c in schema.names() if c in META_COLUMNS]
        if clash:
            raise BadFile(f"column(s) {clash} are reserved for ingestion metadata")
        head = _conform.match_names(pl.DataFrame(schema=schema), table_names)
        file_targets = _conform.file_targets(targets, head.schema)
        casts: list[pl.Expr] = []
        for col, dtype in file_targets.items():
            if col in head.columns and head.schema[col] != dtype:
                expr = cast_expr(col, head.schema[col], dtype)
                if expr is None:  # a float into an integer: checked value by value
                    return None
                casts.append(expr.alias(col))
        conformed = _conform.conform(t.config, head, file_targets)  # declared columns present (BadFile else)
        if _conform.needs_finish(conformed.schema, targets):
            return None
        _conform.storable_file(conformed)
        renamed = {old: new for old, new in zip(schema.names(), head.columns) if old != new}
        out = (lf.rename(renamed) if renamed else lf).with_columns(*casts, *meta)
        if not passes(check, out):  # streaming passes; a bad value met there raises (read into memory)
            return None
        pins.keep(stack.pop_all())
        return out, rows


def passes(check: Callable[[pl.LazyFrame], Sequence[Any]] | None, lf: pl.LazyFrame) -> bool:
    """Whether the rows of the scan ``lf`` pass the transform's ``error``-severity checks, computed in
    streaming passes (``check/``: a LazyFrame is never collected whole); a Polars error (a bad value
    met while streaming) propagates.

    Examples
    --------
    >>> passes(None, pl.LazyFrame({"a": [1]}))
    True
    """
    return check is None or not any(c.blocking for c in check(lf))


def streamed_values(lf: pl.LazyFrame) -> None:
    """Read every value of the plan ``lf`` in a streaming pass (casts and parsing included), so a file
    that fails while streaming raises here; nothing is kept.

    Examples
    --------
    >>> streamed_values(pl.LazyFrame({"a": ["1"]}).select(pl.col("a").cast(pl.Int64, strict=True)))
    """
    lf.select(pl.all().null_count()).collect(engine="streaming")
