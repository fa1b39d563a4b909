"""Write: materializations as small explicit classes, each landing one Delta commit or none.

=====================  ======================================================
mode                   what one run does
=====================  ======================================================
``table``              overwrite the table
``view``               nothing: readers compose the lazy plan
``append``             append the new rows
``merge``              upsert on ``unique_key`` (optionally ``delete_missing``)
``replace_partitions`` overwrite exactly the partitions present in the new data
=====================  ======================================================

Every write is a single delta-rs transaction: data files are written first
and the commit (with Ratatouille's metadata) lands atomically, so a failure
or a killed process leaves the previous version in place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping, Sequence

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import TableNotFoundError as _DeltaMissing

from .. import _predicate
from .._errors_map import first_line as _first
from .._errors_map import is_data_error as _is_data_error
from .._errors_map import write_error
from .._types import reconcile
from ..errors import RatatouilleError, SchemaError, StorageError
from . import _commit, _schema

if TYPE_CHECKING:  # annotations only
    from deltalake.transaction import AddAction, RemoveAction

    from .._types import DType

WriteMode = Literal["error", "append", "overwrite", "ignore"]  # delta-rs' write modes

Frame = pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class Target:
    """A Delta table location and how to reach it."""

    uri: str
    storage_options: Mapping[str, str] | None = None
    name: str = ""

    def open(self, version: int | None = None) -> DeltaTable | None:
        """The Delta table, or ``None`` when it does not exist yet."""
        try:
            opts = dict(self.storage_options) if self.storage_options else None
            dt_ = DeltaTable(self.uri, storage_options=opts)
            if version is not None:
                dt_.load_as_version(version)
            return dt_
        except _DeltaMissing:  # also a folder whose _delta_log holds no commit yet
            return None
        except Exception as exc:  # noqa: BLE001 - surface storage problems clearly
            raise StorageError(f"cannot open {self.uri}: {_first(exc)}", transform=self.name or None) from None

    def scan(self, version: int | None = None) -> pl.LazyFrame:
        opts = dict(self.storage_options) if self.storage_options else None
        return pl.scan_delta(self.uri, version=version, storage_options=opts)


@dataclass
class WriteOutcome:
    """What a write did: the new version and how many rows it wrote."""

    version: int | None
    rows_written: int
    skipped: bool = False
    metrics: Mapping[str, Any] | None = None


class Materialization:
    """Base class: how a transform's output lands in its table."""

    mode: ClassVar[str] = ""
    #: set by the runner: the data was computed from the table (a watermark), so an append or a whole-table
    #: overwrite carries the app transaction of ``_commit.guarded`` (a direct ``write`` stays a blind append)
    guard_target: bool = False

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
                                              schema_mode="overwrite" if table is not None else None, table=table),
                               commit)
            if self.mode != "table":
                fitted = _schema.fit(self, data, table, target.name or None)
                if fitted.rewrite:  # on_schema_change: sync_all_columns widens the table: one overwrite
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
                from .._types import explain_narrowing

                clear = explain_narrowing(fitted, target.name or None)
                if clear is not None:
                    raise clear from None
            raise write_error(exc, action=f"writing {target.uri} failed ({self.mode})", uri=target.uri,
                              transform=target.name or None) from exc

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        raise NotImplementedError


def _rows(data: Frame) -> int:
    return data.height if isinstance(data, pl.DataFrame) else int(data.select(pl.len()).collect().item())


class Table(Materialization):
    """Overwrite the whole table each run."""

    mode = "table"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        return _finish(target, _write(data, target, "overwrite", commit, partition_by=self.partition_by,
                                      schema_mode="overwrite", table=table), commit)


class View(Materialization):
    """Never written: readers and downstream transforms compose the plan."""

    mode = "view"

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        return WriteOutcome(version=None, rows_written=0, skipped=True)


class Append(Materialization):
    """Append the new rows (new columns are added to the table as nullable)."""

    mode = "append"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        from deltalake.exceptions import CommitFailedError

        try:  # the commit is guarded (write()): a concurrent append of the same rows conflicts (_commit.py)
            if isinstance(data, pl.LazyFrame):
                if fast_write_eligible(data, target, table, "append"):  # streams; commits nothing when nothing came
                    return _finish(target, fast_write(data, target, table, "append", commit), commit)
                data = data.collect()  # delta-rs commits an empty append too: an increment is small, look at it first
            if data.is_empty():
                return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
            return _finish(target, _write(data, target, "append", commit, schema_mode="merge", table=table), commit)
        except CommitFailedError as exc:
            if not self.guard_target:
                raise  # write() reports it (ConcurrentCommitError)
            raise _commit.appended_meanwhile(target) from exc


class Merge(Materialization):
    """Upsert on ``unique_key``; with ``delete_missing``, delete target rows absent from the new data."""

    mode = "merge"

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        source = data.collect() if isinstance(data, pl.LazyFrame) else data
        self._check_keys(source, target.name)  # the first run and a full refresh too: the table starts clean
        return super().write(target, source, full_refresh=full_refresh, metadata=metadata, table=table)

    def _check_keys(self, source: pl.DataFrame, name: str) -> None:
        """Every row of the new data has a ``unique_key``, and only one row has it."""
        missing = [k for k in self.unique_key if k not in source.columns]
        if missing:
            raise SchemaError(f"unique_key column(s) {missing} are not in the data", transform=name or None)
        if not len(source):
            return
        keys = source.select(self.unique_key)
        nulls = keys.select(pl.any_horizontal(pl.all().is_null()).sum()).item()
        if nulls:
            raise SchemaError(f"merge source has {nulls} rows with a NULL in unique_key {list(self.unique_key)} "
                              "(a NULL key never matches, so each run would insert them again)",
                              transform=name or None)
        dupes = keys.is_duplicated().sum()
        if dupes:
            raise SchemaError(f"merge source has {dupes} rows with a duplicated unique_key {list(self.unique_key)}",
                              transform=name or None)

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        predicate = _predicate.join_on(self.unique_key, "t", "s")
        source = data.collect() if isinstance(data, pl.LazyFrame) else data  # collected by write() already
        if source.is_empty() and not self.delete_missing:
            return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
        # the source is in memory already: streamed_exec=False lets delta-rs derive an early filter from
        # it (partition values, min/max of the keys) and skip the target files the merge cannot touch
        merger = table.merge(source, predicate=predicate, source_alias="s", target_alias="t",
                             merge_schema=True, streamed_exec=False, commit_properties=commit)
        sets = _predicate.assignments(source.columns, "t", "s")  # quoted (delta-rs' *_all do not escape)
        merger = merger.when_matched_update(sets).when_not_matched_insert(sets)
        if self.delete_missing:
            merger = merger.when_not_matched_by_source_delete()
        since = table.version()
        metrics = merger.execute()
        rows = int(metrics.get("num_target_rows_inserted", 0)) + int(metrics.get("num_target_rows_updated", 0))
        return WriteOutcome(version=_commit.landed(table, commit, since, target.storage_options)[0],
                            rows_written=rows, metrics=metrics)


class ReplacePartitions(Materialization):
    """Overwrite exactly the partitions present in the new data (a predicate overwrite)."""

    mode = "replace_partitions"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame, commit: CommitProperties) -> WriteOutcome:
        source = data.collect() if isinstance(data, pl.LazyFrame) else data
        if source.is_empty():
            return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
        predicate = partition_predicate(source, self.partition_by)
        return _finish(target, _write(source, target, "overwrite", commit, predicate=predicate,
                                      schema_mode="merge", table=table), commit)


class OverwritePartition(Materialization):
    """Replace exactly one partition, ``column = value``, with the new data: one predicate overwrite.

    What ``run(name, partition=key)`` writes (a Dagster partition): the rows of
    that partition are replaced in one commit and every other row is left
    alone; empty data empties the partition. A row outside the partition is an
    error (nothing written), never a wider overwrite.
    """

    mode = "partition"

    def __init__(self, column: str, value: Any, *, partition_by: tuple[str, ...] = (),
                 on_schema_change: str | None = None, declared: Mapping[str, pl.DataType] | None = None) -> None:
        super().__init__(partition_by=partition_by, on_schema_change=on_schema_change, declared=declared)
        self.column, self.value = column, value

    @property
    def predicate(self) -> str:
        return _predicate.equals(self.column, self.value)

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        source = data.collect() if isinstance(data, pl.LazyFrame) else data
        if self.column not in source.columns:
            raise SchemaError(f"partition column {self.column!r} is not in the data", transform=target.name or None)
        outside = source.filter(pl.col(self.column).ne_missing(self.value)).height
        if outside:
            raise SchemaError(f"{outside} row(s) are outside partition {self.predicate}: nothing written",
                              transform=target.name or None)
        table = table if table is not None else target.open()
        commit = _commit.properties(metadata, create=table is None)
        try:
            if table is None:  # a new table holding just this partition (refused if created meanwhile)
                source = _schema.first_write(source, self.declared)
                return _finish(target, _write(source, target, "error", commit, partition_by=self.partition_by),
                               commit)
            since = table.version()
            fitted = _schema.fit(self, source, table, target.name or None)
            if fitted.rewrite:
                out = _finish(target, _schema.rewrite(self, target, table, fitted, commit, _write), commit,
                              since=since)
                out.rows_written = source.height
                return out
            source = fitted.data if isinstance(fitted.data, pl.DataFrame) else fitted.data.collect()
            return _finish(target, _write(source, target, "overwrite", commit, predicate=self.predicate,
                                          schema_mode="merge"), commit, since=since)
        except RatatouilleError:
            raise
        except Exception as exc:  # delta-rs refuses rows outside the predicate too: nothing committed
            if table is None and _commit.created_meanwhile(exc, target):
                raise _commit.created_error(target, exc) from exc
            raise write_error(exc, action=f"writing partition {self.predicate} of {target.uri} failed",
                              uri=target.uri, transform=target.name or None) from exc


MATERIALIZATIONS: dict[str, type[Materialization]] = {
    m.mode: m for m in (Table, View, Append, Merge, ReplacePartitions)}


def materialization_for(mode: str, *, unique_key: tuple[str, ...] = (), partition_by: tuple[str, ...] = (),
                        delete_missing: bool = False, on_schema_change: str | None = None,
                        declared: Mapping[str, DType] | None = None) -> Materialization:
    """The :class:`Materialization` for a mode name (``on_schema_change`` and the ``declared``
    column types feed the type policy of :mod:`ratatouille._types`)."""
    return MATERIALIZATIONS[mode](unique_key=unique_key, partition_by=partition_by, delete_missing=delete_missing,
                                  on_schema_change=on_schema_change, declared=declared)


def partition_predicate(data: pl.DataFrame, columns: tuple[str, ...]) -> str:
    """A Delta predicate matching exactly the partitions present in ``data``.

    >>> partition_predicate(pl.DataFrame({"d": ["a", "b", "a"]}), ("d",))
    '("d" = \\'a\\') OR ("d" = \\'b\\')'
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise SchemaError(f"partition_by column(s) {missing} are not in the data")
    values = data.select(columns).unique(maintain_order=True).sort(columns, nulls_last=True)
    return _predicate.rows_match(columns, values.iter_rows())


predicate_literal = _predicate.literal  # a value as a literal in a delta-rs (DataFusion) predicate


def align_schema(data: Frame, table: DeltaTable, name: str = "", *, replace: bool = False,
                 on_schema_change: str | None = None) -> Frame:
    """Fit new data to an existing table by the type policy (:func:`ratatouille._types.reconcile`):
    new columns are fine, narrower types are cast up, zones become UTC, an all-NULL column takes
    the table's type; anything else is a :class:`SchemaError` naming the column and the option.
    With ``replace`` (a ``table`` transform, which overwrites the whole table) the new schema wins."""
    if replace:
        return _schema.first_write(data)
    fitted = reconcile(data, _table_schema(table), on_schema_change=on_schema_change, name=name or None)
    if fitted.rewrite:
        raise SchemaError("the table must be rewritten to take the new types: write it through its "
                          "materialization", transform=name or None)
    return fitted.data


def _table_schema(table: DeltaTable) -> pl.Schema:
    import pyarrow as pa

    return pl.DataFrame(pa.schema(table.schema().to_arrow()).empty_table()).schema


def _write(data: Frame, target: Target, mode: WriteMode, commit: CommitProperties, *, partition_by: Sequence[str] = (),
           schema_mode: str | None = None, predicate: str | None = None,
           table: DeltaTable | None = None) -> int | WriteOutcome | None:
    if table is not None and not partition_by and not predicate and fast_write_eligible(data, target, table, mode):
        return fast_write(data, target, table, mode, commit)
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
        data.sink_delta(target.uri, mode=mode, storage_options=opts, delta_write_options=options)
    else:
        frame = data
        # an append commits on the snapshot its rows were computed from, so that delta-rs' conflict check
        # sees every commit since (the guard of Append, _commit.guarded); a URI would load the latest one
        dest, dest_opts = (table, None) if mode == "append" and table is not None else (target.uri, opts)
        _commit.retry_partition_overwrite(  # a partition overwrite that lost only to other partitions: again
            lambda: frame.write_delta(dest, mode=mode, storage_options=dest_opts, delta_write_options=options),
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


# -- fast local writes --------------------------------------------------------------------------
# delta-rs encodes parquet on one thread; Polars encodes on every core (about 2x faster on two
# cores). When an in-memory frame overwrites or appends to an existing local table with exactly
# the table's schema, Polars writes the parquet file(s) and delta-rs commits them as one
# transaction (the same atomicity: files first, then one commit, or no commit at all). Anything
# else (first write, schema change, partitions, predicates, object storage, other column types,
# constraints or table features) goes through delta-rs' own writer.
_FAST_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Float32, pl.Float64, pl.Boolean, pl.String, pl.Date)
_FAST_FEATURES = {"timestampNtz", "appendOnly"}
FAST_FILE_BYTES = 512 * 1024 * 1024  # in-memory bytes per parquet file (~100 MB and more on disk)
_STATS_MAX_BYTES = 64  # strings this long get no min/max (always safe: the file is just not skipped)


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return None if "://" in uri else uri


def _fast_type(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Datetime):
        return dtype.time_unit == "us" and dtype.time_zone in (None, "UTC")
    return any(dtype == t for t in _FAST_TYPES)


def fast_write_eligible(data: Frame, target: Target, table: DeltaTable, mode: str) -> bool:
    """Whether :func:`fast_write` may write ``data`` (see the comment above)."""
    if mode not in ("overwrite", "append") or _local_path(target.uri) is None:
        return False
    if isinstance(data, pl.DataFrame) and data.is_empty():
        return False  # delta-rs' writer knows how to commit nothing
    try:
        new = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
        meta, protocol, schema = table.metadata(), table.protocol(), table.schema()
    except Exception:  # noqa: BLE001 - let delta-rs' writer report it
        return False
    if not all(_fast_type(t) for t in new.values()):
        return False
    config = meta.configuration or {}
    if meta.partition_columns or any(k.startswith("delta.constraints.") for k in config):
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


def fast_write(data: Frame, target: Target, table: DeltaTable, mode: str,
               commit: CommitProperties) -> WriteOutcome:
    """Write ``data`` as parquet files with Polars and commit them to ``table`` in one transaction.

    A DataFrame is written file by file with statistics computed from the frame; a LazyFrame
    streams through ``sink_parquet`` (memory bounded by the engine) and its statistics are
    read back from the parquet footers.
    """
    import glob
    import json
    import os
    import uuid

    from deltalake.transaction import AddAction

    root = _local_path(target.uri)
    assert root is not None
    columns = [f.name for f in table.schema().fields]  # the table's column order
    run = uuid.uuid4()
    files: list[tuple[str, dict[str, Any]]] = []  # (file name, statistics)
    try:
        if isinstance(data, pl.LazyFrame):
            sunk: list[Any] = []
            data.select(columns).sink_parquet(
                pl.PartitionBy(root, file_path_provider=lambda args: _part_name(args.index_in_partition, run),
                               approximate_bytes_per_file=FAST_FILE_BYTES),
                compression="snappy", statistics=True, sinked_paths_callback=sunk.append)
            for group in sunk:
                for sp in getattr(group, "paths", [group]):
                    name = os.path.relpath(str(sp.path), root)
                    stats = footer_stats(os.path.join(root, name))
                    if stats["numRecords"]:
                        files.append((name, stats))
                    else:  # an empty result: commit no file, as delta-rs does
                        os.remove(os.path.join(root, name))
            if not files and mode == "append":  # nothing new: no empty commit
                return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
        else:
            if data.columns != columns:
                data = data.select(columns)
            parts = max(1, -(-int(data.estimated_size()) // FAST_FILE_BYTES))
            step = -(-data.height // parts)
            for i in range(parts):
                chunk = data.slice(i * step, step)
                name = _part_name(i, run)
                chunk.write_parquet(os.path.join(root, name), compression="snappy", statistics=True)
                files.append((name, delta_stats(chunk)))
        actions: list[AddAction | RemoveAction] = []
        for name, stats in files:
            path = os.path.join(root, name)
            actions.append(AddAction(path=name, size=os.path.getsize(path), partition_values={},
                                     modification_time=int(os.path.getmtime(path) * 1000), data_change=True,
                                     stats=json.dumps(stats, separators=(",", ":"))))
        rows = sum(stats["numRecords"] for _, stats in files)
        metadata = dict(commit.custom_metadata or {})
        ident = metadata.setdefault(_commit.COMMIT_ID, uuid.uuid4().hex)  # finds the version it lands at
        since = table.version()
        metadata["operationMetrics"] = {"num_added_files": len(actions), "num_added_rows": rows, "num_partitions": 0}
        if mode == "overwrite":  # replace what is there now, as delta-rs' writer given a URI does
            expected = dict(_table_schema(table))
            table.update_incremental()
            if dict(_table_schema(table)) != expected or table.metadata().partition_columns:
                raise StorageError(f"{target.uri} changed its schema while being written: nothing committed, "
                                   "run again", transform=target.name or None)
        # an append commits on the caller's snapshot: delta-rs checks what was committed since then
        table.create_write_transaction(actions, mode, table.schema(), commit_properties=CommitProperties(
            custom_metadata=metadata, max_commit_retries=commit.max_commit_retries,
            app_transactions=commit.app_transactions))
    except BaseException:
        for path in glob.glob(os.path.join(glob.escape(root), f"*-{run}-c000.snappy.parquet")):
            try:  # nothing was committed: leave no orphan files behind
                os.remove(path)
            except OSError:
                pass
        raise
    return WriteOutcome(version=_commit.landed(table, ident, since, target.storage_options)[0], rows_written=rows,
                        metrics=metadata["operationMetrics"])


def _part_name(index: int, run: Any) -> str:
    return f"part-{index:05d}-{run}-c000.snappy.parquet"


def _stat_values(name: str, lo: Any, hi: Any) -> tuple[Any, Any] | None:
    """Min and max as Delta statistics, or None when they are not sound bounds."""
    import math

    if lo is None or hi is None:
        return None
    if isinstance(lo, float) and (math.isinf(lo) or math.isinf(hi) or math.isnan(lo) or math.isnan(hi)):
        return None
    if isinstance(lo, (str, bytes)):
        if not isinstance(lo, str) or not isinstance(hi, str):
            return None
        # Polars truncates string statistics at 64 bytes: a string that long may be a prefix
        if len(lo.encode()) >= _STATS_MAX_BYTES or len(hi.encode()) >= _STATS_MAX_BYTES:
            return None
    if isinstance(lo, dt.datetime):
        try:  # the max rounded up past 9999-12-31 23:59:59.999 has no bound Delta can write: none
            return _stats_timestamp(lo, up=False), _stats_timestamp(hi, up=True)
        except (OverflowError, ValueError):
            return None
    if isinstance(lo, dt.date):
        return lo.isoformat(), hi.isoformat()
    return lo, hi


def delta_stats(data: pl.DataFrame) -> dict[str, Any]:
    """Delta file statistics (``numRecords``, ``minValues``, ``maxValues``, ``nullCount``) of a frame,
    formatted as delta-rs writes them. Timestamps are rounded outwards to milliseconds (the
    precision of Delta statistics), so the bounds always hold; NaN is ignored like delta-rs does;
    a column without a sound bound (all null, infinities, long strings) gets no min/max.

    >>> delta_stats(pl.DataFrame({"a": [3, None, 1]}))
    {'numRecords': 3, 'minValues': {'a': 1}, 'maxValues': {'a': 3}, 'nullCount': {'a': 1}}
    """
    exprs: list[pl.Expr] = []
    for i, (name, dtype) in enumerate(data.schema.items()):
        col = pl.col(name).fill_nan(None) if dtype.is_float() else pl.col(name)
        exprs += [col.min().alias(f"{i}:min"), col.max().alias(f"{i}:max"),
                  pl.col(name).null_count().alias(f"{i}:nulls")]  # NaN is not null
    try:
        row = data.select(exprs).row(0, named=True) if exprs else {}
    except Exception:  # noqa: BLE001 - e.g. a date Python cannot represent: that column keeps its counts only
        row = {}
        for i in range(data.width):
            try:
                row.update(data.select(exprs[3 * i:3 * i + 3]).row(0, named=True))
            except Exception:  # noqa: BLE001
                row.update({f"{i}:min": None, f"{i}:max": None, f"{i}:nulls": data[:, i].null_count()})
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for i, name in enumerate(data.schema):
        nulls[name] = int(row[f"{i}:nulls"])
        bounds = _stat_values(name, row[f"{i}:min"], row[f"{i}:max"])
        if bounds is not None:
            mins[name], maxs[name] = bounds
    return {"numRecords": data.height, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def footer_stats(path: str) -> dict[str, Any]:
    """The same statistics as :func:`delta_stats`, read from a parquet file's footer (flat columns)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for j in range(meta.num_columns):
        name = meta.schema.column(j).path
        lo = hi = None
        count: int | None = 0
        sound = True
        for i in range(meta.num_row_groups):
            chunk = meta.row_group(i).column(j)
            st = chunk.statistics
            if st is None or not st.has_null_count:
                count, sound = None, False
                break
            count = None if count is None else count + st.null_count
            if st.null_count == chunk.num_values:
                continue  # only nulls in this row group
            try:
                if not st.has_min_max:
                    raise ValueError
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
            except Exception:  # noqa: BLE001 - no usable bounds (or not representable in Python)
                sound = False
        if count is not None:
            nulls[name] = count
        bounds = _stat_values(name, lo, hi) if sound else None
        if bounds is not None:
            mins[name], maxs[name] = bounds
    return {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def _stats_timestamp(value: dt.datetime, *, up: bool) -> str:
    """A timestamp statistic at millisecond precision, rounded down (min) or up (max)."""
    if up and value.microsecond % 1000:
        value = value + dt.timedelta(microseconds=1000 - value.microsecond % 1000)
    value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    if value.tzinfo is not None:  # delta-rs: RFC 3339 in UTC
        text = value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds")
        return (text[:-4] if text.endswith(".000") else text) + "Z"
    text = value.isoformat(sep=" ", timespec="milliseconds")  # delta-rs: timestamp_ntz
    return text[:-4] if text.endswith(".000") else text
