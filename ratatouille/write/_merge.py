"""The ``incremental`` + ``merge`` materialization: an upsert on ``unique_key``.

Memory stays bounded by the streaming engine: a lazy source is first staged
on local disk as parquet (:func:`staged_source`), its keys are checked by a
streaming aggregation (a ``group_by`` count, never ``is_duplicated`` on the
whole frame), and the checks see the staged rows. A small source is handed
to delta-rs' merge in memory (delta-rs then derives an early filter from it:
partition values and the min/max of the keys, and skips the target files the
merge cannot touch); a large one is streamed to it from the staged files,
with the key range read from their footers added to the predicate.

Layout: a rebuild (first run, full refresh) writes the table sorted by
``unique_key`` in files of :data:`MERGE_FILE_ROWS`, so each file holds a
narrow, disjoint key range and an update rewrites only the files whose range
holds an updated key (delta-rs 1.6 writes no deletion vectors in a merge).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any, Iterator, Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable

from .. import _predicate
from ..errors import SchemaError
from . import _commit, _merge_rewrite
from ._base import Materialization
from ._stage import STAGED
from ._stage_files import Stage, _ordered
from ._stats import footer_stats
from ._target import Frame, Target, WriteOutcome

MERGE_FILE_ROWS = 1_000_000  # rows per file of a rebuilt merge table (narrow key ranges, ~10-40 MB files)
STAGE_FILE_BYTES = 256 * 1024 * 1024  # in-memory bytes per file of a staged merge source
IN_MEMORY_SOURCE_BYTES = 256 * 1024 * 1024  # staged parquet bytes up to which the source is merged from memory


class Merge(Materialization):
    """Upsert on ``unique_key``; with ``delete_missing``, delete target rows absent from the new data."""

    mode = "merge"
    file_rows = MERGE_FILE_ROWS
    _staged: list[str] | None = None  # the files of the staged source while write() runs

    def layout(self) -> tuple[str, ...]:
        return self.unique_key

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        table = table if table is not None else target.open()
        if table is None or full_refresh:  # a rebuild: the keys are checked on the files staged in the table
            return self._rebuild(target, data, full_refresh=full_refresh, metadata=metadata, table=table)
        with staged_source(data) as (source, self._staged):
            try:
                self._check_keys(source, target.name)
                return super().write(target, source, full_refresh=full_refresh, metadata=metadata, table=table)
            finally:
                self._staged = None

    def _rebuild(self, target: Target, data: Frame, *, full_refresh: bool, metadata: Mapping[str, str] | None,
                 table: DeltaTable | None) -> WriteOutcome:
        """First run or full refresh: one pass writes the files (sorted by the key), the key check and
        the transform's checks read them back, then the commit lands; the table starts clean."""
        checks = self.validate

        def validate(staged: pl.LazyFrame) -> None:
            stage = STAGED.get()
            key = self.unique_key[0]
            # a float key's file statistics leave NaN out: NaN keys in two files would look disjoint
            if (stage is not None and len(self.unique_key) == 1 and not staged.collect_schema()[key].is_float()
                    and stage.disjoint(key, staged.collect_schema()[key])):
                self._check_keys_by_file(stage, target.name)  # a duplicate can only be inside one file
            else:
                self._check_keys(staged, target.name)
            if checks is not None:
                checks(staged)

        self._check_columns(data, target.name)
        self.validate = validate
        try:
            return super().write(target, data, full_refresh=full_refresh, metadata=metadata, table=table)
        finally:
            self.validate = checks

    def _check_columns(self, source: Frame, name: str) -> None:
        schema = source.collect_schema() if isinstance(source, pl.LazyFrame) else source.schema
        missing = [k for k in self.unique_key if k not in schema]
        if missing:
            raise SchemaError(f"unique_key column(s) {missing} are not in the data", transform=name or None)

    def _check_keys_by_file(self, stage: Stage, name: str) -> None:
        """The key check of :meth:`_check_keys` file by file (memory: one file's keys)."""
        nulls = dupes = 0
        for f in stage.files:
            keys = pl.scan_parquet(os.path.join(stage.root, f.path), glob=False).select(self.unique_key)
            counts = _sorted_key_counts(keys) if len(self.unique_key) == 1 else None
            n, d = counts if counts is not None else self._key_counts(keys)
            nulls, dupes = nulls + n, dupes + d
        self._raise_for(nulls, dupes, name)

    def _check_keys(self, source: Frame, name: str) -> None:
        """Every row of the new data has a ``unique_key``, and only one row has it (one streaming
        aggregation over the keys)."""
        self._check_columns(source, name)
        self._raise_for(*self._key_counts(source.lazy().select(self.unique_key)), name)

    def _key_counts(self, keys: pl.LazyFrame) -> tuple[int, int]:
        """Rows with a NULL in the key, and rows whose key another row has (one streaming aggregation)."""
        nulls, dupes = pl.collect_all([
            keys.select(pl.any_horizontal(pl.all().is_null()).sum()),
            keys.group_by(self.unique_key).agg(pl.len()).filter(pl.col("len") > 1).select(pl.col("len").sum())],
            engine="streaming")
        return int(nulls.item() or 0), int(dupes.item() or 0)

    def _raise_for(self, nulls: int, dupes: int, name: str) -> None:
        """One error naming every problem of the keys: NULL keys, duplicated keys, or both."""
        problems = []
        if nulls:
            problems.append(f"{nulls} rows with a NULL in unique_key {list(self.unique_key)} "
                            "(a NULL key never matches, so each run would insert them again)")
        if dupes:
            problems.append(f"{dupes} rows with a duplicated unique_key {list(self.unique_key)}")
        if problems:
            raise SchemaError("merge source has " + " and ".join(problems), transform=name or None)

    def _incremental(self, target: Target, table: DeltaTable, data: Frame,
                     commit: CommitProperties) -> WriteOutcome:
        if self.validate is not None:
            self.validate(data.lazy())
        if isinstance(data, pl.LazyFrame) and _merge_rewrite.eligible(data, target, table,
                                                                   delete_missing=self.delete_missing):
            # a rewritten file may grow up to twice the rebuild's size before it is split (no sliver files)
            return _merge_rewrite.merge(target, table, data, self.unique_key, commit,
                                        rows_per_file=2 * self.file_rows if self.file_rows else None)
        predicate = _predicate.join_on(self.unique_key, "t", "s")
        # a NaN key: delta-rs' early filter from an in-memory source (its min/max against the files'
        # statistics, which leave NaN out) would skip the file holding it; a streamed source has none
        nan = _merge_rewrite.nan_key(data.lazy(), self.unique_key)
        source, streamed, extra = _merge_source(data, self.unique_key, self._staged, stream=nan)
        if extra:
            predicate = f"({predicate}) AND {extra}"
        if _is_empty(source) and not self.delete_missing:
            return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
        # in memory, delta-rs derives an early filter from the source (partition values, min/max of the
        # keys) and skips the target files the merge cannot touch; streamed, the key range does it
        merger = table.merge(source, predicate=predicate, source_alias="s", target_alias="t",
                             merge_schema=True, streamed_exec=streamed, commit_properties=commit)
        sets = _predicate.assignments(list(_columns(data)), "t", "s")  # quoted (delta-rs' *_all do not escape)
        merger = merger.when_matched_update(sets).when_not_matched_insert(sets)
        if self.delete_missing:
            merger = merger.when_not_matched_by_source_delete()
        since = table.version()
        metrics = merger.execute()
        rows = int(metrics.get("num_target_rows_inserted", 0)) + int(metrics.get("num_target_rows_updated", 0))
        return WriteOutcome(version=_commit.landed(table, commit, since, target.storage_options)[0],
                            rows_written=rows, metrics=metrics)


@contextlib.contextmanager
def staged_source(data: Frame) -> Iterator[tuple[Frame, list[str] | None]]:
    """``data`` as a scan of parquet files in a temporary local folder, and those files (a DataFrame
    is already in memory: as is, and no files); the folder is deleted on exit."""
    if isinstance(data, pl.DataFrame):
        yield data, None
        return
    folder = tempfile.mkdtemp(prefix="rat-merge-")
    try:
        data.sink_parquet(pl.PartitionBy(folder, approximate_bytes_per_file=STAGE_FILE_BYTES),
                          compression="lz4", statistics=True)
        paths = sorted(os.path.join(folder, f) for f in os.listdir(folder))
        schema = data.collect_schema()
        yield (pl.scan_parquet(paths, schema=schema, glob=False) if paths else pl.LazyFrame(schema=schema)), paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sorted_key_counts(keys: pl.LazyFrame) -> tuple[int, int] | None:
    """:meth:`Merge._key_counts` of a one-column key in ascending order (a rebuilt file is sorted by
    it): duplicates are neighbours, so no hash table is built; ``None`` when the file is not sorted.

    >>> _sorted_key_counts(pl.LazyFrame({"k": [1, 2, 2, 2, 5, None]}))
    (1, 3)
    >>> _sorted_key_counts(pl.LazyFrame({"k": [2, 1]})) is None
    True
    """
    k = pl.first()
    row = keys.select(k.null_count().alias("nulls"), (k < k.shift(1)).sum().alias("unsorted"),
                      ((k == k.shift(1)) | (k == k.shift(-1))).sum().alias("dupes")).collect().row(0)
    nulls, unsorted, dupes = (int(v or 0) for v in row)
    return None if unsorted else (nulls, dupes)


def _columns(data: Frame) -> list[str]:
    return data.collect_schema().names() if isinstance(data, pl.LazyFrame) else data.columns


def _is_empty(source: Any) -> bool:
    return hasattr(source, "num_rows") and source.num_rows == 0


def _merge_source(data: Frame, keys: tuple[str, ...], paths: list[str] | None,
                  stream: bool = False) -> tuple[Any, bool, str]:
    """The source delta-rs merges (Arrow), whether it streams, and a target key range predicate
    (``paths``: the staged files ``data`` reads; ``stream``: streamed whatever its size)."""
    if isinstance(data, pl.DataFrame) and not stream:
        return data.to_arrow(), False, ""
    if not stream and (paths is None or sum(os.path.getsize(p) for p in paths) <= IN_MEMORY_SOURCE_BYTES):
        return data.lazy().collect(engine="streaming").to_arrow(), False, ""
    frames = data.lazy().collect_batches(engine="streaming")
    first = next(frames, None)
    schema = (first if first is not None else data.lazy().clear().collect()).to_arrow().schema
    batches = (b for f in ([first] if first is not None else []) for b in f.to_arrow().to_batches())
    rest = (b for f in frames for b in f.to_arrow().cast(schema).to_batches())
    import pyarrow as pa  # lazy: pyarrow only for a merge source streamed in batches (large, or a NaN key)

    reader = pa.RecordBatchReader.from_batches(schema, (b for part in (batches, rest) for b in part))
    return reader, True, _key_range(paths, keys, data.collect_schema()) if paths else ""


def _key_range(paths: list[str], keys: tuple[str, ...], schema: Mapping[str, Any] | None = None) -> str:
    """``t.key BETWEEN min AND max`` of a one-column key from the staged files' footers ("" if unknown;
    ``schema``: the source's, so a timestamp's statistics compare as instants, not as their text)."""
    if len(keys) != 1:
        return ""
    (key,) = keys
    dtype = (schema or {}).get(key)
    lows, highs = [], []
    for path in paths:
        stats = footer_stats(path)
        if key not in stats["minValues"] or not isinstance(stats["minValues"][key], (int, str)):
            return ""  # no bound, or a type whose statistic is not its literal
        lows.append(stats["minValues"][key])
        highs.append(stats["maxValues"][key])
    if not lows:
        return ""
    column = _predicate.ident(key, "t")
    lo, hi = min(lows, key=lambda v: _ordered(v, dtype)), max(highs, key=lambda v: _ordered(v, dtype))
    return f"{column} >= {_predicate.literal(lo)} AND {column} <= {_predicate.literal(hi)}"
