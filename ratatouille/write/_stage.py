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

import json
import os
import uuid
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable

from ..errors import StorageError
from . import _commit
from ._schema import table_schema as _table_schema
from ._stats import delta_stats, footer_stats
from ._target import Frame, Target, WriteOutcome

# delta-rs encodes parquet on one thread; Polars encodes on every core (about 2x faster on two
# cores). When an in-memory frame overwrites or appends to an existing local table with exactly
# the table's schema, Polars writes the parquet file(s) and delta-rs commits them as one
# transaction (the same atomicity: files first, then one commit, or no commit at all). Anything
# else (first write, schema change, partitions, predicates, object storage, other column types,
# constraints or table features) goes through delta-rs' own writer.
_FAST_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Float32, pl.Float64, pl.Boolean, pl.String, pl.Date)
_FAST_FEATURES = {"timestampNtz", "appendOnly"}
FAST_FILE_BYTES = 512 * 1024 * 1024  # in-memory bytes per parquet file (~100 MB and more on disk)


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
            parts = max(1, -(-data.estimated_size() // FAST_FILE_BYTES))
            step = -(-data.height // parts)
            for i in range(parts):
                chunk = data.slice(i * step, step)
                name = _part_name(i, run)
                chunk.write_parquet(os.path.join(root, name), compression="snappy", statistics=True)
                files.append((name, delta_stats(chunk)))
        actions = []
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

