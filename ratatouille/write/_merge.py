"""The ``incremental`` + ``merge`` materialization: an upsert on ``unique_key``."""

from __future__ import annotations

import polars as pl

from .. import _predicate
from ..errors import SchemaError
from . import _commit
from ._base import Materialization
from ._target import WriteOutcome


class Merge(Materialization):
    """Upsert on ``unique_key``; with ``delete_missing``, delete target rows absent from the new data."""

    mode = "merge"

    def write(self, target, data, *, full_refresh=False, metadata=None, table=None) -> WriteOutcome:
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

    def _incremental(self, target, table, data, commit):
        predicate = _predicate.join_on(self.unique_key, "t", "s")
        source = data  # collected by write()
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

