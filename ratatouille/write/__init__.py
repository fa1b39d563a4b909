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

from typing import Mapping

from .. import _predicate
from .._types import DType
from ._append import Append
from ._base import Materialization
from ._merge import Merge
from ._partitions import OverwritePartition, ReplacePartitions, partition_predicate
from ._schema import align_schema
from ._stage import FAST_FILE_BYTES, fast_write, fast_write_eligible
from ._stats import delta_stats, footer_stats
from ._table import Table, View
from ._target import Frame, Target, WriteOutcome

__all__ = ["FAST_FILE_BYTES", "MATERIALIZATIONS", "Append", "Frame", "Materialization", "Merge", "OverwritePartition",
           "ReplacePartitions", "Table", "Target", "View", "WriteOutcome", "align_schema", "delta_stats",
           "fast_write", "fast_write_eligible", "footer_stats", "materialization_for", "partition_predicate",
           "predicate_literal"]


MATERIALIZATIONS: dict[str, type[Materialization]] = {
    m.mode: m for m in (Table, View, Append, Merge, ReplacePartitions)}


def materialization_for(mode: str, *, unique_key: tuple[str, ...] = (), partition_by: tuple[str, ...] = (),
                        delete_missing: bool = False, on_schema_change: str | None = None,
                        declared: Mapping[str, DType] | None = None) -> Materialization:
    """The :class:`Materialization` for a mode name (``on_schema_change`` and the ``declared``
    column types feed the type policy of :mod:`ratatouille._types`)."""
    return MATERIALIZATIONS[mode](unique_key=unique_key, partition_by=partition_by, delete_missing=delete_missing,
                                  on_schema_change=on_schema_change, declared=declared)



predicate_literal = _predicate.literal  # a value as a literal in a delta-rs (DataFusion) predicate
