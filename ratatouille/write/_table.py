"""The ``table`` and ``view`` materializations."""

from __future__ import annotations

from ._base import Materialization, _finish, _write
from ._target import WriteOutcome


class Table(Materialization):
    """Overwrite the whole table each run."""

    mode = "table"

    def _incremental(self, target, table, data, commit):
        return _finish(target, _write(data, target, "overwrite", commit, partition_by=self.partition_by,
                                      schema_mode="overwrite", table=table), commit)


class View(Materialization):
    """Never written: readers and downstream transforms compose the plan."""

    mode = "view"

    def write(self, target, data, *, full_refresh=False, metadata=None, table=None) -> WriteOutcome:
        return WriteOutcome(version=None, rows_written=0, skipped=True)

