"""Errors by type: delta-rs' and Polars' exceptions mapped to Ratatouille's, in one place.

delta-rs raises typed exceptions (``deltalake.exceptions``): a commit refused by
its conflict check is a ``CommitFailedError``, a missing table a
``TableNotFoundError``, a schema clash a ``SchemaMismatchError``. They, and
Polars' own exception classes, decide which :class:`~ratatouille.errors.RatatouilleError`
a failed write becomes. The one place text is read is a Polars error raised
while delta-rs consumes a Polars stream: it crosses the Arrow C stream
interface and arrives as a plain ``DeltaError`` whose text quotes Polars'
message (see :func:`is_data_error`).

>>> from deltalake.exceptions import CommitFailedError
>>> err = write_error(CommitFailedError("Commit failed: a concurrent transactions added new data."),
...                   action="writing s3://b/lake/silver/sales failed (merge)", transform="silver.sales")
>>> type(err).__name__, "concurrent commit, run again" in str(err)
('ConcurrentCommitError', True)
"""

from __future__ import annotations

import gzip
from typing import Callable, TypeVar

import polars as pl
from deltalake.exceptions import (
    CommitFailedError,
    DeltaProtocolError,
    SchemaMismatchError,
)
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound

from .errors import (
    ConcurrentCommitError,
    RatatouilleError,
    SchemaError,
    StorageError,
    TableNotFoundError,
    TransformError,
)

# Polars errors of computing the data (a cast, a missing column): the transform's fault, not the store's
DATA_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError, pl.exceptions.InvalidOperationError,
    pl.exceptions.ShapeError, pl.exceptions.DuplicateError)
# ... and how Polars words them once delta-rs has re-raised them from the Arrow C stream it consumed
_STREAMED_DATA_ERRORS = ("conversion from `", "unable to find column", "InvalidOperationError")

CONCURRENT_HINT = "concurrent commit, run again"

_T = TypeVar("_T")
# delta-rs (1.6) builds a URL whose host is made of a local table's path: these characters panic its writer
_UNWRITABLE = "[]^|"

# reading a landing file: what the object store's client says when it fails, for the errors Polars raises
# as a plain ComputeError (never what a parser says about a file's content)
_STORE_WORDS = ("object-store error", "object_store", "generic s3 error", "request timed out", "operation timed out",
                "connection refused", "connection reset", "dns error", "accessdenied", "slowdown",
                "service unavailable")
_PARSER_WORDS = ("could not parse", "found more fields", "invalid utf", "malformed", "expected")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_data_error(exc: BaseException) -> bool:
    """Whether a write failed computing the data (a cast, a missing column) rather than storing it.

    >>> is_data_error(pl.exceptions.InvalidOperationError("x")), is_data_error(OSError("disk full"))
    (True, False)
    """
    if isinstance(exc, DATA_ERRORS):
        return True
    if isinstance(exc, (CommitFailedError, DeltaTableNotFound, DeltaProtocolError, OSError)):
        return False
    return any(hint in str(exc) for hint in _STREAMED_DATA_ERRORS)


def is_storage_read_error(exc: BaseException, *, content_errors: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether reading a file failed because of the store (network, permissions), not the file.

    By type first: ``content_errors``, a corrupt gzip stream, a truncated file or bad text
    encoding are the file's fault; ``PermissionError``, ``ConnectionError`` and ``TimeoutError``
    (what Polars and fsspec raise when the store fails) are the store's. Polars reports some
    object-store failures as a plain ``ComputeError``: those are recognised by the object
    store client's own words, never by a parser's message quoting the file's content.

    >>> is_storage_read_error(ConnectionRefusedError("refused")), is_storage_read_error(EOFError())
    (True, False)
    >>> is_storage_read_error(pl.exceptions.ComputeError("object-store error: Generic S3 error: request timed out"))
    True
    >>> is_storage_read_error(pl.exceptions.ComputeError("could not parse `request timed out` as dtype i64"))
    False
    """
    if isinstance(exc, content_errors + (gzip.BadGzipFile, EOFError, UnicodeError)):
        return False
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError)):
        return True
    text = str(exc).lower()
    return any(word in text for word in _STORE_WORDS) and not any(word in text for word in _PARSER_WORDS)


def is_commit_conflict(exc: BaseException) -> bool:
    """Whether delta-rs refused a commit because of a concurrent one (its conflict check)."""
    return isinstance(exc, CommitFailedError)


def concurrent_message(uri: str, exc: BaseException | None = None) -> str:
    why = f" ({first_line(exc)})" if exc is not None else ""
    return (f"another run committed to {uri} while this one was writing and the two writes overlap{why}; "
            f"nothing was written by this run: {CONCURRENT_HINT}")


def write_error(exc: BaseException, *, action: str, transform: str | None = None, file: str | None = None,
                uri: str = "", concurrent: type[ConcurrentCommitError] = ConcurrentCommitError) -> RatatouilleError:
    """The Ratatouille error for a write that failed with ``exc`` (nothing was committed).

    ``action`` prefixes the message (``"writing <uri> failed (merge)"``);
    ``concurrent`` is the class raised for a commit conflict (an ingest raises its own).

    ============================  =========================================
    raised by delta-rs / Polars   becomes
    ============================  =========================================
    ``CommitFailedError``         ``concurrent`` (ConcurrentCommitError)
    ``SchemaMismatchError``       :class:`SchemaError`
    ``TableNotFoundError``        :class:`TableNotFoundError`
    a Polars data error           :class:`TransformError`
    anything else                 :class:`StorageError`
    ============================  =========================================
    """
    if isinstance(exc, RatatouilleError):
        return exc
    if is_commit_conflict(exc):
        return concurrent(concurrent_message(uri or action, exc), transform=transform, file=file)
    if isinstance(exc, SchemaMismatchError):
        return SchemaError(f"{action}: the data does not fit the table's schema: {first_line(exc)}; "
                           "run with full_refresh=True (rat run -f) to rebuild the table",
                           transform=transform, file=file)
    if isinstance(exc, DeltaTableNotFound):
        return TableNotFoundError(f"{action}: the table is gone: {first_line(exc)}", transform=transform, file=file)
    if is_data_error(exc):
        message = first_line(exc)
        cause = message.find("conversion from `")  # past delta-rs' wrapping of the Polars stream's error
        return TransformError(f"computing the output failed while writing it (nothing written): "
                              f"{message[max(0, cause):]}", transform=transform, file=file)
    return StorageError(f"{action}: {first_line(exc)}", transform=transform, file=file)


def delta_writer(write: Callable[[], _T], uri: str) -> _T:
    """``write()``, a call into delta-rs' own writer (``write_delta``, ``sink_delta``) of the table at ``uri``.

    delta-rs (1.6) panics (``pyo3_runtime.PanicException``, not an ``Exception``: it went through every
    ``except Exception`` of a run) on a local table whose path holds ``[``, ``]``, ``^`` or ``|``: its
    writer makes a URL host of the path. Such a panic (nothing written) becomes a
    :class:`~ratatouille.errors.StorageError` that says so.
    """
    try:
        return write()
    except BaseException as exc:  # noqa: BLE001 - only delta-rs' panic is translated
        if type(exc).__name__ != "PanicException":
            raise
        found = sorted({ch for ch in uri if ch in _UNWRITABLE}) if "://" not in uri or uri.startswith("file://") else []
        why = (f": delta-rs cannot write a table whose local path holds {' or '.join(repr(c) for c in found)}; "
               "move the lake (or the project) to a folder whose name has none" if found else "")
        raise StorageError(f"writing {uri} failed, nothing was written ({first_line(exc)}){why}") from exc
