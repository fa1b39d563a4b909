"""The base of every materialization: one write, one Delta commit or none.

:class:`Materialization` decides between a creating write, a full refresh and
the incremental write of its subclass; :func:`_write` lands data through the
staged writer (:mod:`._stage`) when it can, else through delta-rs' writer.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import polars as pl
from deltalake import CommitProperties, DeltaTable

from .._errors_map import is_data_error as _is_data_error
from .._errors_map import delta_writer, write_error
from .._types import DType, explain_narrowing
from ..errors import RatatouilleError
from . import _commit, _schema
from ._stage import Validate, fast_write, fast_write_eligible
from ._target import Frame, Target, WriteOutcome


class Materialization:
    """Base class: how a transform's output lands in its table."""

    mode: ClassVar[str] = ""
    #: set by the runner: the data was computed from the table (a watermark), so an append or a whole-table
    #: overwrite carries the app transaction of ``_commit.guarded`` (a direct ``write`` stays a blind append)
    guard_target: bool = False
    #: set by the runner: the checks, called with a scan of the rows about to be committed (the staged
    #: files); raising blocks the commit and the staged files are deleted
    validate: Validate | None = None
    #: set by the runner: the plan ends in a sort whose order the table keeps (``_order.py``)
    ordered: bool = False
    #: at most this many rows per file a rebuild writes (None: files of the staged writer's default size)
    file_rows: ClassVar[int | None] = None

    def __init__(self, *, unique_key: tuple[str, ...] = (), partition_by: tuple[str, ...] = (),
                 delete_missing: bool = False, on_schema_change: str | None = None,
                 declared: Mapping[str, DType] | None = None) -> None:
        self.unique_key = tuple(unique_key)
        self.partition_by = tuple(partition_by)
        self.delete_missing = delete_missing
        self.on_schema_change = on_schema_change  # see ratatouille._types (None: append_new_columns)
        self.declared = dict(declared or {})  # declared column types (columns: type)

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        """Write ``data`` to ``target`` in one commit (first run and full refresh rebuild).

        ``table`` is the target as the caller already opened it (saves loading its log again).

        Creating the table is race-free (``write/_commit.py``): when another process created it
        meanwhile, :class:`~ratatouille.write._commit.TableCreatedMeanwhile` is raised and nothing
        is written (the runner then runs the transform again on the existing table). A commit
        refused by delta-rs' conflict check raises :class:`~ratatouille.errors.ConcurrentCommitError`."""
        table = table if table is not None else target.open()
        commit = _commit.properties(metadata, create=table is None)
        if table is not None and self.guard_target and self.mode in ("append", "table"):  # see _commit.guarded
            commit = _commit.guarded(commit, table)
        fitted = None
        try:
            if table is None or full_refresh or self.mode == "table":  # the new schema wins
                data = _schema.first_write(data, self.declared, None if table is None or full_refresh else table)
            if table is None or full_refresh:  # a creating write is refused when the table exists meanwhile
                return _finish(target, _write(data, target, "overwrite" if table is not None else "error", commit,
                                              partition_by=self.partition_by,
                                              schema_mode="overwrite" if table is not None else None, table=table,
                                              validate=self.validate, order=self.layout(), ordered=self.ordered,
                                              rows_per_file=self.file_rows),
                               commit)
            if self.mode != "table":
                fitted = _schema.fit(self, data, table, target.name or None)
                if fitted.rewrite:  # on_schema_change: sync_all_columns widens the table: one overwrite
                    if self.validate is not None:  # the checks see the new rows, as on any other path
                        self.validate(fitted.data.lazy())
                    out = _finish(target, _schema.rewrite(self, target, table, fitted, commit, _write), commit)
                    out.rows_written = _rows(fitted.data)
                    return out
                data = fitted.data
            return self._incremental(target, table, data, commit)
        except RatatouilleError:
            raise
        except Exception as exc:  # nothing was committed
            if table is None and _commit.created_meanwhile(exc, target):
                raise _commit.created_error(target, exc) from exc
            if fitted is not None and fitted.narrowed and _is_data_error(exc):
                clear = explain_narrowing(fitted, target.name or None)
                if clear is not None:
                    raise clear from None
            raise write_error(exc, action=f"writing {target.uri} failed ({self.mode})", uri=target.uri,
                              transform=target.name or None) from exc

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        raise NotImplementedError

    def layout(self) -> tuple[str, ...]:
        """Columns a rebuild sorts by, so each file holds a narrow range of them (none by default)."""
        return ()


def _rows(data: Frame) -> int:
    return data.height if isinstance(data, pl.DataFrame) else int(data.select(pl.len()).collect().item())



def _write(data: Frame, target: Target, mode: str, commit: CommitProperties, *, partition_by: Sequence[str] = (),
           schema_mode: str | None = None, predicate: str | None = None, table: DeltaTable | None = None,
           validate: Validate | None = None, order: Sequence[str] = (),
           ordered: bool = False, rows_per_file: int | None = None) -> int | WriteOutcome | None:
    """Land ``data`` in one commit: staged by Polars when :func:`._stage.fast_write_eligible`, else by
    delta-rs' writer (``validate`` then sees the rows collected in memory, as does a plan whose order
    is kept: ``ordered``, since ``sink_delta`` does not keep the order of its rows)."""
    layout = tuple(partition_by) or (tuple(table.metadata().partition_columns or ())
                                     if table is not None and mode == "append" else ())
    if not predicate and fast_write_eligible(data, target, table, mode, layout):
        return fast_write(data, target, table, mode, commit, partition_by=layout, order=order, validate=validate,
                          rows_per_file=rows_per_file)
    if order:
        data = data.sort(list(order), maintain_order=True)
    if isinstance(data, pl.LazyFrame) and (validate is not None or ordered or order):
        data = data.collect(engine="streaming")
    if validate is not None:
        validate(data.lazy())
    options: dict[str, Any] = {"commit_properties": commit}
    if partition_by:
        options["partition_by"] = list(partition_by)
    if schema_mode:
        options["schema_mode"] = schema_mode
    if predicate:
        options["predicate"] = predicate
    opts = dict(target.storage_options) if target.storage_options else None
    rows: int | None = None
    since = table.version() if table is not None else None
    if isinstance(data, pl.LazyFrame):
        lazy = data
        delta_writer(lambda: lazy.sink_delta(target.uri, mode=mode, storage_options=opts,  # type: ignore[call-overload]
                                             delta_write_options=options), target.uri)
    else:
        frame = data
        # an append commits on the snapshot its rows were computed from, so that delta-rs' conflict check
        # sees every commit since (the guard of Append, _commit.guarded); a URI would load the latest one
        dest, dest_opts = (table, None) if mode == "append" and table is not None else (target.uri, opts)
        _commit.retry_partition_overwrite(  # a partition overwrite that lost only to other partitions: again
            lambda: delta_writer(lambda: frame.write_delta(dest, mode=mode, storage_options=dest_opts,  # type: ignore[call-overload]
                                                           delta_write_options=options), target.uri),
            target=target, table=table, data=frame, overwrite=mode == "overwrite" and bool(predicate))
        rows = len(data)
    if table is None:
        return rows
    return _outcome(table, rows, commit, since, target)  # reads just the new commits, not the whole table


def _finish(target: Target, rows: int | WriteOutcome | None, commit: CommitProperties, *,
            since: int | None = None) -> WriteOutcome:
    if isinstance(rows, WriteOutcome):
        return rows
    table = target.open()
    assert table is not None
    return _outcome(table, rows, commit, since, target)


def _outcome(table: DeltaTable, rows: int | None, commit: CommitProperties, since: int | None,
             target: Target) -> WriteOutcome:
    """What this commit did: its own version and metrics, found in the log by its commit id."""
    version, info = _commit.landed(table, commit, since, target.storage_options)
    metrics = info.get("operationMetrics", {})
    if rows is None:
        rows = int(metrics.get("num_added_rows", 0))
    return WriteOutcome(version=version, rows_written=rows, metrics=metrics)

