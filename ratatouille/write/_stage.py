"""Staged writes: Polars writes the parquet files into the table's folder, delta-rs commits exactly those.

delta-rs encodes parquet on one thread; Polars encodes on every core (about 2x
faster on two cores) and its streaming engine sinks a lazy plan without
holding it in memory. The files are written first (staged: no commit
references them yet), then delta-rs commits exactly those files as add
actions in one transaction, with per-file statistics read from the parquet
footers so data skipping keeps working. A failure before the commit deletes
the staged files: they are never referenced.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any, Callable, Sequence

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.transaction import create_table_with_add_actions

from .._delta_schema import table_schema as _table_schema
from ..errors import StorageError
from . import _commit
from ._stage_files import Stage
from ._target import Frame, Target, WriteOutcome

# delta-rs encodes parquet on one thread; Polars encodes on every core (about 2x faster on two
# cores). When an in-memory frame overwrites or appends to an existing local table with exactly
# the table's schema, Polars writes the parquet file(s) and delta-rs commits them as one
# transaction (the same atomicity: files first, then one commit, or no commit at all). Anything
# else (first write, schema change, partitions, predicates, object storage, other column types,
# constraints or table features) goes through delta-rs' own writer.
_FAST_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Float32, pl.Float64, pl.Boolean, pl.String, pl.Date)
_FAST_FEATURES = {"timestampNtz", "appendOnly"}
#: the stage whose rows ``validate`` is looking at (a check may read its files one by one)
STAGED: ContextVar[Stage | None] = ContextVar("STAGED", default=None)
Validate = Callable[[pl.LazyFrame], None]  # checks of the staged rows: raising blocks the commit
FAST_FILE_BYTES = 512 * 1024 * 1024  # in-memory bytes per parquet file (~100 MB and more on disk)


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return None if "://" in uri else uri


def _fast_type(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Datetime):
        return dtype.time_unit == "us" and dtype.time_zone in (None, "UTC")
    return any(dtype == t for t in _FAST_TYPES)


def fast_write_eligible(data: Frame, target: Target, table: DeltaTable | None, mode: str,
                        partition_by: Sequence[str] = ()) -> bool:
    """Whether :func:`fast_write` may write ``data`` (see the comment above).

    Parameters
    ----------
    data
        The rows to write.
    target
        Where they go (only a local table is staged).
    table
        The table as it is; ``None`` for a creating write (``mode="error"``).
    mode
        ``"append"``, ``"overwrite"`` or ``"error"``.
    partition_by
        The partition columns the write lays out (those of ``table`` when it exists).

    Returns
    -------
    bool
        ``True`` when the staged writer lands exactly what delta-rs' writer would.
    """
    if mode not in ("overwrite", "append", "error") or _local_path(target.uri) is None:
        return False
    if isinstance(data, pl.DataFrame) and data.is_empty():
        return False  # delta-rs' writer knows how to commit nothing
    try:
        new = _schema_of(data)
    except Exception:  # noqa: BLE001 - let delta-rs' writer report it
        return False
    if not all(_fast_type(t) for t in new.values()):
        return False
    if any(c not in new or not _part_type(new[c]) for c in partition_by) or len(partition_by) >= len(new):
        return False
    if table is None:  # a creating write (delta-rs sets the protocol from the schema, timestampNtz included)
        return mode == "error"
    try:
        meta, protocol, schema = table.metadata(), table.protocol(), table.schema()
    except Exception:  # noqa: BLE001 - let delta-rs' writer report it
        return False
    config = meta.configuration or {}
    if list(meta.partition_columns or []) != list(partition_by) or any(
            k.startswith("delta.constraints.") for k in config):
        return False
    if config.get("delta.columnMapping.mode", "none") != "none":
        return False
    if mode == "overwrite" and str(config.get("delta.appendOnly", "false")).lower() == "true":
        return False
    features = set(protocol.writer_features or ()) | set(protocol.reader_features or ())
    if features - _FAST_FEATURES or (protocol.writer_features is None and protocol.min_writer_version > 2):
        return False
    if any(f.metadata or not f.nullable for f in schema.fields):  # invariants, generated columns, NOT NULL
        return False
    return dict(_table_schema(table)) == dict(new)


def _part_type(dtype: pl.DataType) -> bool:
    """Partition columns the staged writer lays out (their Delta text is unambiguous)."""
    return dtype.is_integer() and not dtype.is_unsigned_integer() or dtype in (pl.String, pl.Date, pl.Boolean)


def fast_write(data: Frame, target: Target, table: DeltaTable | None, mode: str, commit: CommitProperties, *,
               partition_by: Sequence[str] = (), replace_present: bool = False, order: Sequence[str] = (),
               validate: Validate | None = None, bytes_per_file: int | None = None,
               rows_per_file: int | None = None) -> WriteOutcome:
    """Write ``data`` as parquet files with Polars and commit them to ``table`` in one transaction.

    Parameters
    ----------
    data
        A DataFrame is written file by file with statistics computed from the frame; a LazyFrame
        streams through ``sink_parquet`` (memory bounded by the engine, rows kept in order) and
        its statistics are read back from the parquet footers.
    target
        The (local) table; :func:`fast_write_eligible` said yes.
    table
        The table as the caller opened it; ``None`` creates it (``mode="error"``: refused when
        another process created it meanwhile, see ``_commit.py``).
    mode
        ``"append"``, ``"overwrite"`` or ``"error"`` (create).
    commit
        The commit's properties (metadata, commit id, app transactions).
    partition_by
        The table's partition columns: one folder per partition value.
    replace_present
        With ``mode="overwrite"``: replace only the partitions present in the new data.
    order
        Columns the files should be clustered by (disjoint ranges of the first one): rows that arrive
        in that order are written as they stream; otherwise the staged rows are sorted and written
        again (the sort holds them in memory).
    validate
        Called with a scan of the staged files before the commit; raising leaves nothing behind.
    bytes_per_file
        Approximate in-memory bytes per file (:data:`FAST_FILE_BYTES` by default).
    rows_per_file
        At most this many rows per file (no limit by default).

    Returns
    -------
    WriteOutcome
        The version this commit landed at, the rows it wrote.

    Raises
    ------
    StorageError
        The table changed its schema while being written (nothing committed).
    """
    root = _local_path(target.uri)
    assert root is not None
    columns = [f.name for f in table.schema().fields] if table is not None else list(_schema_of(data))
    stage = Stage(root, tuple(partition_by), bytes_per_file or FAST_FILE_BYTES, rows_per_file)
    try:
        stage.write(data.select(columns))
        if order and not stage.clustered(order[0], _schema_of(data).get(order[0])):  # sort only what is not in order
            resorted = Stage(root, tuple(partition_by), bytes_per_file or FAST_FILE_BYTES, rows_per_file)
            try:
                resorted.write(stage.scan(_schema_of(data)).select(columns).sort(list(order), maintain_order=True))
            except BaseException:
                resorted.discard()
                raise
            stage.discard()
            stage = resorted
        if validate is not None:
            token = STAGED.set(stage)
            try:
                validate(stage.scan(_schema_of(data)))
            finally:
                STAGED.reset(token)
        if not stage.files and mode == "append" and table is not None:  # nothing new: no empty commit
            stage.discard()
            return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
        metadata = dict(commit.custom_metadata or {})
        ident = metadata.setdefault(_commit.COMMIT_ID, uuid.uuid4().hex)  # finds the version it lands at
        metadata["operationMetrics"] = {"num_added_files": len(stage.files), "num_added_rows": stage.rows,
                                        "num_partitions": len({tuple(f.partition_values.items())
                                                               for f in stage.files}) if partition_by else 0}
        props = CommitProperties(custom_metadata=metadata, max_commit_retries=commit.max_commit_retries,
                                 app_transactions=commit.app_transactions)
        if table is None:
            create_table_with_add_actions(target.uri, DeltaSchema.from_arrow(_arrow_schema(data, columns)),
                                          stage.actions(), mode="error", partition_by=list(partition_by) or None,
                                          commit_properties=props)
            return WriteOutcome(version=_commit.landed(_open(target), ident, None, target.storage_options)[0],
                                rows_written=stage.rows, metrics=metadata["operationMetrics"])
        since = table.version()
        if mode == "overwrite":  # replace what is there now, as delta-rs' writer given a URI does
            expected = dict(_table_schema(table))
            table.update_incremental()
            if (dict(_table_schema(table)) != expected
                    or list(table.metadata().partition_columns or []) != list(partition_by)):
                raise StorageError(f"{target.uri} changed its schema while being written: nothing committed, "
                                   "run again", transform=target.name or None)
        filters = stage.partition_filters() if replace_present else None
        if replace_present and stage.files and filters is None:
            raise StageRefused(f"{target.uri}: the partitions of the new data cannot be matched by delta-rs' filters")
        if replace_present and not stage.files:
            stage.discard()
            return WriteOutcome(version=table.version(), rows_written=0, skipped=True)

        def land() -> None:  # an append commits on the caller's snapshot: delta-rs checks what came since
            table.create_write_transaction(stage.actions(), mode, table.schema(), partition_by=list(partition_by)
                                           or None, partition_filters=filters, commit_properties=props)

        if filters:  # lost only to commits to other partitions: again (_commit.retry_disjoint)
            _commit.retry_disjoint(land, target=target, since=since, partitions=stage.partitions())
        else:
            land()
    except BaseException:
        stage.discard()  # nothing was committed: leave no orphan files behind
        raise
    return WriteOutcome(version=_commit.landed(table, ident, since, target.storage_options)[0],
                        rows_written=stage.rows, metrics=metadata["operationMetrics"])


class StageRefused(Exception):
    """The staged files cannot be committed as asked (nothing committed, the files are deleted):
    write through delta-rs' writer instead."""


def _schema_of(data: Frame) -> pl.Schema:
    return data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema


def _arrow_schema(data: Frame, columns: list[str]) -> Any:
    """The Arrow schema delta-rs derives the new table's Delta schema from (strings as Delta strings)."""
    empty = pl.DataFrame(schema=_schema_of(data)).select(columns).to_arrow()
    return empty.schema


def _open(target: Target) -> DeltaTable:
    table = target.open()
    assert table is not None
    return table
