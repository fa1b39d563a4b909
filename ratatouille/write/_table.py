"""The ``table`` and ``view`` materializations."""

from __future__ import annotations

from typing import Mapping

from deltalake import CommitProperties, DeltaTable

from ._base import Materialization, _finish, _write
from ._target import Frame, Target, WriteOutcome


class Table(Materialization):
    """Overwrite the whole table each run."""

    mode = "table"

    def _incremental(self, target: Target, table: DeltaTable, data: Frame,
                     commit: CommitProperties) -> WriteOutcome:
        return _finish(target, _write(data, target, "overwrite", commit, partition_by=self.partition_by,
                                      schema_mode="overwrite", table=table, validate=self.validate,
                                      ordered=self.ordered), commit)


class View(Materialization):
    """Never written: readers and downstream transforms compose the plan."""

    mode = "view"

    def write(self, target: Target, data: Frame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None, table: DeltaTable | None = None) -> WriteOutcome:
        return WriteOutcome(version=None, rows_written=0, skipped=True)

