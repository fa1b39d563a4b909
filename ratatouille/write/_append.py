"""The ``incremental`` + ``append`` materialization."""

from __future__ import annotations

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

from . import _commit
from ._base import Materialization, _finish, _write
from ._stage import fast_write, fast_write_eligible
from ._target import Frame, Target, WriteOutcome


class Append(Materialization):
    """Append the new rows (new columns are added to the table as nullable)."""

    mode = "append"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame,
                     commit: CommitProperties) -> WriteOutcome:
        try:  # the commit is guarded (write()): a concurrent append of the same rows conflicts (_commit.py)
            layout = tuple(table.metadata().partition_columns or ())
            if isinstance(data, pl.LazyFrame):
                if fast_write_eligible(data, target, table, "append", layout):  # streams; no commit when nothing came
                    return _finish(target, fast_write(data, target, table, "append", commit, partition_by=layout,
                                                      validate=self.validate), commit)
                data = data.collect()  # delta-rs commits an empty append too: an increment is small, look at it first
            if self.validate is not None:
                self.validate(data.lazy())
            if data.is_empty():
                return WriteOutcome(version=table.version(), rows_written=0, skipped=True)
            return _finish(target, _write(data, target, "append", commit, schema_mode="merge", table=table), commit)
        except CommitFailedError as exc:
            if not self.guard_target:
                raise  # write() reports it (ConcurrentCommitError)
            raise _commit.appended_meanwhile(target) from exc

