"""A merge as copy-on-write by Polars: only the files whose key range holds a source key are rewritten.

delta-rs' merge rewrites the files it touches with its own (single-threaded)
parquet writer. For a local table whose files Polars can write exactly (the
staged writer's conditions, ``_stage.py``), the same upsert is done here:

1. the files whose ``[min, max]`` of the key (from their Delta statistics)
   hold at least one source key are the *touched* files (every file when the
   key has several columns or a file has no statistics);
2. their rows minus the updated keys, plus the source rows, are staged into
   the table folder. On a clustered table (files of disjoint key ranges) each
   source row goes to the touched file whose range it falls into, and each
   touched file is rewritten as its own file, so the ranges stay disjoint;
   :data:`REWRITE_BATCH` files are rewritten by one streaming plan (one pass,
   both cores busy, instead of a plan per file);
3. one commit removes the touched files and adds the staged ones, based on
   the snapshot the data was computed from, with the app transaction of
   ``_commit.guarded`` so a concurrent Ratatouille write to the table makes
   one of them fail clearly (``ConcurrentCommitError``), never land twice. The commit is never
   retried on top of another one: any commit since the snapshot (a concurrent ``optimize``
   compacting the touched files) refuses it, and the runner merges again on the table as it is
   now (``TargetChangedMeanwhile``), instead of rewriting rows another commit already moved.

Files no source key falls into are neither read nor rewritten: with the
table sorted by the key (``Merge.layout``), an update of a key range rewrites
the files of that range.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator, Sequence

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import RemoveAction

from . import _commit
from ._stage import _local_path, fast_write_eligible
from ._stage_files import Stage
from ._target import Frame, Target, WriteOutcome

FILE = "__file"  # the number of the touched file a row is rewritten into (a split column, never written)
#: touched files rewritten by one streaming plan: each is an open parquet writer until the plan ends
REWRITE_BATCH = 8


def eligible(data: Frame, target: Target, table: DeltaTable, *, delete_missing: bool) -> bool:
    """Whether :func:`merge` may upsert ``data`` into ``table`` (else delta-rs' merge does)."""
    if delete_missing or table.metadata().partition_columns:
        return False
    return fast_write_eligible(data, target, table, "append")


def _clustered(adds: pl.DataFrame, key: str) -> bool:
    """Whether the files hold disjoint ranges of ``key`` (the merge layout) by their statistics."""
    lo, hi = f"min.{key}", f"max.{key}"
    if adds.is_empty() or lo not in adds.columns or adds[lo].null_count() or adds[hi].null_count():
        return False
    ranges = adds.select(lo, hi).sort(lo)
    return bool((ranges[hi].head(-1) < ranges[lo].tail(-1)).all())


def touched_files(adds: pl.DataFrame, source: pl.LazyFrame, keys: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """The add actions (``adds``: a table's, flattened) whose key range holds a key of ``source``, and how
    many files the table has."""
    files = adds.height
    if len(keys) != 1 or f"min.{keys[0]}" not in adds.columns:
        return adds.to_dicts(), files
    key = keys[0]
    lo, hi = pl.col(f"min.{key}"), pl.col(f"max.{key}")
    probe = source.select(pl.col(key).alias("__key")).collect(engine="streaming").sort("__key")["__key"]
    if probe.is_empty():
        return [], files
    if probe.dtype.is_float() and probe.is_nan().any():  # parquet min/max leave NaN out: any file may hold it
        return adds.to_dicts(), files
    lows = adds.select(lo.cast(probe.dtype, strict=False)).to_series()
    highs = adds.select(hi.cast(probe.dtype, strict=False)).to_series()
    # the first source key >= the file's min: the file is touched when that key is <= its max
    at = probe.search_sorted(lows, side="left")
    first = probe.gather(at.clip(0, len(probe) - 1))
    hit = (at < len(probe)) & (first <= highs)
    hit = hit.fill_null(True) | lows.is_null() | highs.is_null()  # no statistics: it may hold any key
    return adds.filter(hit).to_dicts(), files


def _assigned(adds: pl.DataFrame, source: pl.LazyFrame, key: str,
              column: str = FILE) -> tuple[list[dict[str, Any]], int, pl.LazyFrame]:
    """For a clustered table: each source row goes to the file with the greatest min <= its key (the
    first file below all), so the rewritten files keep disjoint ranges; the files that receive a row,
    how many files the table has, and the source with its file number (in ``column``; each file's
    number under the key :data:`FILE`)."""
    dtype = source.collect_schema()[key]
    adds = adds.sort(pl.col(f"min.{key}").cast(dtype, strict=False))
    mins = adds[f"min.{key}"].cast(dtype, strict=False)
    placed = source.with_columns((pl.lit(mins).search_sorted(pl.col(key), side="right").cast(pl.Int64) - 1)
                                 .clip(0).alias(column))
    used = placed.select(pl.col(column).unique()).collect(engine="streaming")[column].sort().to_list()
    rows = adds.to_dicts()
    return [dict(rows[i], **{FILE: i}) for i in used], adds.height, placed


def nan_key(source: pl.LazyFrame, keys: Sequence[str]) -> bool:
    """Whether a float key column of ``source`` holds a NaN: parquet statistics leave NaN out of a file's
    min/max, so no range tells which file holds a NaN key (joins match NaN with NaN): no file may be skipped."""
    schema = source.collect_schema()
    floats = [k for k in keys if schema[k].is_float()]
    if not floats:
        return False
    return bool(source.select(pl.any_horizontal(pl.col(k).is_nan().any() for k in floats))
                .collect(engine="streaming").item())


def _batched(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def merge(target: Target, table: DeltaTable, source: pl.LazyFrame, keys: Sequence[str], commit: CommitProperties,
          *, rows_per_file: int | None) -> WriteOutcome:
    """Upsert ``source`` into ``table`` on ``keys`` in one commit (see the module docstring)."""
    root = _local_path(target.uri)
    assert root is not None
    source_rows = int(source.select(pl.len()).collect(engine="streaming").item())
    if not source_rows:  # nothing to upsert: no commit
        return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
    columns = [f.name for f in table.schema().fields]
    adds = pl.DataFrame(table.get_add_actions(flatten=True))  # an Arrow stream (arro3), read once
    clustered = len(keys) == 1 and _clustered(adds, keys[0]) and not nan_key(source, keys)
    split = FILE
    while split in columns:  # the table's own column of that name is data: the helper takes another name
        split = f"_{split}"
    stage = Stage(root, (), rows_per_file=rows_per_file, split_by=split if clustered else None)
    try:
        if clustered:  # each touched file is rewritten as its own range
            touched, files, placed = _assigned(adds, source, keys[0], split)
            updated_keys = placed.select(keys[0]).collect(engine="streaming").to_series().implode()
            for group in _batched(touched, REWRITE_BATCH):  # one streaming plan per batch of files
                numbers = [a[FILE] for a in group]
                parts = [pl.scan_parquet(f"{root}/{a['path']}", glob=False).select(columns)
                         .filter(~pl.col(keys[0]).is_in(updated_keys, nulls_equal=True))  # a NULL key is kept
                         .with_columns(pl.lit(a[FILE], pl.Int64).alias(split)) for a in group]
                stage.write(pl.concat([*parts, placed.filter(pl.col(split).is_in(numbers)).select(*columns, split)]))
        else:  # one new set of files for the touched ones (unsorted: a later rebuild clusters the table again)
            touched, files = touched_files(adds, source, keys)
            old = [pl.scan_parquet(f"{root}/{a['path']}", glob=False).select(columns) for a in touched]
            new = source.select(columns)
            kept = (pl.concat(old) if old else new.clear()).join(source.select(keys), on=list(keys), how="anti",
                                                                 nulls_equal=True)
            stage.write(pl.concat([kept, new]))
        copied = int(sum(a["num_records"] for a in touched)) if touched else 0
        rows_in = stage.rows
        updated = copied - (rows_in - source_rows)
        now = int(time.time() * 1000)
        removes = [RemoveAction(path=a["path"], data_change=True, deletion_timestamp=now, size=int(a["size_bytes"]),
                                partition_values=None) for a in touched]
        guarded = _commit.guarded(commit, table)
        metadata = dict(guarded.custom_metadata or {})
        ident = metadata.setdefault(_commit.COMMIT_ID, uuid.uuid4().hex)
        metadata[_commit.OPERATION] = "MERGE"
        metadata["operationParameters"] = {"predicate": " AND ".join(f"t.{k} = s.{k}" for k in keys),
                                           "mergeStrategy": "copy-on-write (ratatouille)"}
        metadata["operationMetrics"] = {
            "num_target_files_added": len(stage.files), "num_target_files_removed": len(touched),
            "num_target_files_skipped_during_scan": files - len(touched), "num_target_rows_updated": updated,
            "num_target_rows_inserted": source_rows - updated, "num_target_rows_copied": rows_in - source_rows,
            "num_output_rows": rows_in}
        since = table.version()
        try:  # no retry on top of another commit: delta-rs' conflict check of an "append" does not see
            # that a commit since (an optimize, a vacuum's rewrite) removed a file this one rewrites
            table.create_write_transaction(stage.actions() + removes, "append", table.schema(), commit_properties=
                                           CommitProperties(custom_metadata=metadata, max_commit_retries=0,
                                                            app_transactions=guarded.app_transactions))
        except CommitFailedError as exc:  # the runner computes the merge again on the table as it is now
            raise _commit.rewritten_meanwhile(target) from exc
    except BaseException:
        stage.discard()  # nothing was committed: the staged files are never referenced
        raise
    return WriteOutcome(version=_commit.landed(table, ident, since, target.storage_options)[0],
                        rows_written=source_rows, metrics=metadata["operationMetrics"])
