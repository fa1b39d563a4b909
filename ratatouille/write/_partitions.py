"""Partition overwrites: ``replace_partitions`` and one partition of a partitioned run."""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable

from .. import _predicate
from .._errors_map import write_error
from ..errors import RatatouilleError, SchemaError
from . import _commit, _schema
from ._base import Materialization, _finish, _write
from ._stage import StageRefused, fast_write, fast_write_eligible
from ._target import Frame, Target, WriteOutcome


class ReplacePartitions(Materialization):
    """Overwrite exactly the partitions present in the new data (a predicate overwrite)."""

    mode = "replace_partitions"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame,
                     commit: CommitProperties) -> WriteOutcome:
        layout = tuple(table.metadata().partition_columns or ())
        if (len(layout) == 1 and set(layout) == set(self.partition_by)  # delta-rs' filters: one column
                and fast_write_eligible(data, target, table, "overwrite", layout)):
            try:  # streamed: the staged files say which partitions the new data holds; the commit replaces those
                return fast_write(data, target, table, "overwrite", commit, partition_by=layout,
                                  replace_present=True, validate=self.validate)
            except StageRefused:  # e.g. the NULL partition: a predicate overwrite by delta-rs' writer below
                pass
        source = data.collect() if isinstance(data, pl.LazyFrame) else data
        if self.validate is not None:
            self.validate(source.lazy())
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
        if self.validate is not None:  # the checks see the rows of this partition before anything is written
            self.validate(source.lazy())
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
            return _finish(target, _write(fitted.data, target, "overwrite", commit, predicate=self.predicate,
                                          schema_mode="merge"), commit, since=since)
        except RatatouilleError:
            raise
        except Exception as exc:  # delta-rs refuses rows outside the predicate too: nothing committed
            if table is None and _commit.created_meanwhile(exc, target):
                raise _commit.created_error(target, exc) from exc
            raise write_error(exc, action=f"writing partition {self.predicate} of {target.uri} failed",
                              uri=target.uri, transform=target.name or None) from exc


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


