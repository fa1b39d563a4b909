"""Errors raised by Ratatouille.

Every user mistake raises one :class:`RatatouilleError` (or a subclass) whose
message names the place: the transform, the file and, for SQL, the line.

Example
-------
>>> from ratatouille.errors import RatatouilleError
>>> err = RatatouilleError("boom", transform="silver.sales", file="silver/sales.sql", line=3)
>>> str(err)
'silver.sales (silver/sales.sql, line 3): boom'
"""

from __future__ import annotations

from typing import Any, Sequence


class RatatouilleError(Exception):
    """Base class of every error Ratatouille raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong.
    transform, file, line, results, checks
        The attributes below.

    Attributes
    ----------
    transform: the table name of the failing transform (``"silver.sales"``), if any.
    file: the file that defines it, if any.
    line: the 1-based line in that file, for SQL errors.
    results: the :class:`~ratatouille.RunResult` of every transform of the run,
        when raised by :func:`ratatouille.run`.
    checks: the check results that caused the failure, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        transform: str | None = None,
        file: str | None = None,
        line: int | None = None,
        results: Sequence[Any] | None = None,
        checks: Sequence[Any] | None = None,
    ) -> None:
        self.message = message
        self.transform = transform
        self.file = str(file) if file is not None else None
        self.line = line
        self.results = list(results or [])
        self.checks = list(checks or [])
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f", line {self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        head = self.transform or ""
        if where:
            head = f"{head} ({where[0]})" if head else where[0]
        return f"{head}: {self.message}" if head else self.message

    def locate(self, *, transform: str | None = None, file: str | None = None) -> "RatatouilleError":
        """Fill in the transform and file when the error does not name them yet."""
        self.transform = self.transform or transform
        self.file = self.file or (str(file) if file else None)
        self.args = (self._format(),)
        return self

    def __str__(self) -> str:
        return self._format()

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with all its state (Dagster's multiprocess executor ships errors)
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type["RatatouilleError"], state: dict[str, Any]) -> "RatatouilleError":
    """An error back from its pickled state, without calling a subclass' own ``__init__``."""
    err = cls.__new__(cls)
    err.__dict__.update(state)
    err.args = (err._format(),)
    return err


class ConfigError(RatatouilleError):
    """A project, workspace or transform is misconfigured (bad key, bad name, bad YAML)."""


class TableNotFoundError(RatatouilleError):
    """A referenced table or transform does not exist."""


class CycleError(RatatouilleError):
    """The transforms' dependencies form a cycle."""


class SQLError(RatatouilleError):
    """A SQL transform or query failed to parse or to run."""


class TransformError(RatatouilleError):
    """A Python transform raised, or returned something that is not a frame."""


class CheckError(RatatouilleError):
    """An ``error``-severity check failed; nothing was written."""


class SchemaError(RatatouilleError):
    """The new data's schema is incompatible with the table (use ``full_refresh``)."""


class IngestError(RatatouilleError):
    """Landing files could not be ingested (with ``on_error: fail``)."""


class StorageError(RatatouilleError):
    """The lake could not be read or written."""


class ConcurrentCommitError(StorageError):
    """Another run committed to the same table while this one was writing, and the two writes
    overlap (delta-rs' conflict check refused this commit): nothing was written by this run,
    run it again. Writes to disjoint partitions and plain appends do not raise it: delta-rs
    commits them on top of each other."""


class ConcurrentIngestError(IngestError, ConcurrentCommitError):
    """An ingest run lost a race with another ingest of the same table: nothing was written by
    this run (its files were not ingested twice), run it again."""


class WorkspaceError(RatatouilleError):
    """An unknown or invalid workspace."""


class RunError(RatatouilleError):
    """One or more transforms of a multi-transform run failed.

    ``results`` holds the result of every transform, ``errors`` the failures.
    """

    def __init__(self, message: str, *, errors: Sequence[RatatouilleError], results: Sequence[Any]):
        self.errors = list(errors)
        super().__init__(message, results=results)
