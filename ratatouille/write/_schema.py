"""How a materialization applies the type policy (:mod:`ratatouille._types`) to an existing table.

``fit`` fits the new data to the table (or says the table must be widened);
``rewrite`` lands a widening as one overwrite commit holding the table's rows
that stay, cast to the wider types, and the new rows, so
``on_schema_change: sync_all_columns`` keeps "one commit per run, or none".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import polars as pl
from deltalake import DeltaTable

from .._delta_scan import scan_delta
from .._delta_schema import table_schema
from .._types import DType, F, Reconciled, normalize, reconcile, rewrite_frame
from ..errors import SchemaError

if TYPE_CHECKING:  # annotations only
    from deltalake import CommitProperties

    from ._target import Target

Frame = pl.DataFrame | pl.LazyFrame


class WritePolicy(Protocol):
    """What the type policy reads of a materialization (``write._base.Materialization`` has it)."""

    on_schema_change: str | None
    declared: dict[str, DType]
    partition_by: tuple[str, ...]


def first_write(data: F, declared: Mapping[str, DType] | None = None, table: DeltaTable | None = None) -> F:
    """The data of a first write or an overwrite: zones in UTC, all-NULL columns typed (the type
    of the ``table`` being overwritten, else the declared one, else String)."""
    fallback = dict(declared or {})
    if table is not None:
        fallback.update(table_schema(table))
    return normalize(data, fallback)


def fit(mat: WritePolicy, data: pl.DataFrame | pl.LazyFrame, table: DeltaTable, name: str | None) -> Reconciled:
    """The policy's decision for ``mat`` (a materialization) writing ``data`` into ``table``."""
    return reconcile(data, table_schema(table), on_schema_change=mat.on_schema_change, declared=mat.declared,
                     name=name)


def _keep_old(mat: Any) -> Callable[[pl.LazyFrame, pl.DataFrame], pl.LazyFrame] | None:
    """Which of the table's rows stay when ``mat`` writes new data (what its commit would keep)."""
    mode = mat.mode
    if mode == "append":
        return lambda old, new: old
    if mode == "merge":
        if mat.delete_missing:
            return None
        keys = list(mat.unique_key)
        return lambda old, new: old.join(new.lazy().select(keys), on=keys, how="anti", nulls_equal=True)
    if mode == "replace_partitions":
        cols = list(mat.partition_by)
        return lambda old, new: old.join(new.lazy().select(cols).unique(), on=cols, how="anti", nulls_equal=True)
    if mode == "partition":
        return lambda old, new: old.filter(pl.col(mat.column).ne_missing(pl.lit(mat.value)))
    return None  # table: nothing stays


def rewrite(mat: WritePolicy, target: Target, table: DeltaTable, rec: Reconciled, commit: CommitProperties,
            write: Callable[..., Any]) -> Any:
    """Rewrite the table with the widened types and the new data in one overwrite commit."""
    old = scan_delta(table)
    # streamed: the old files stay in place until the overwrite's commit removes them from the log
    frame = rewrite_frame(old, rec.data, rec, _keep_old(mat))
    partition_by = tuple(table.metadata().partition_columns or ()) or tuple(mat.partition_by)
    return write(frame, target, "overwrite", commit, partition_by=partition_by, schema_mode="overwrite",
                 table=table)


def align_schema(data: Frame, table: DeltaTable, name: str = "", *, replace: bool = False,
                 on_schema_change: str | None = None) -> Frame:
    """Fit new data to an existing table by the type policy (:func:`ratatouille._types.reconcile`):
    new columns are fine, narrower types are cast up, zones become UTC, an all-NULL column takes
    the table's type; anything else is a :class:`SchemaError` naming the column and the option.
    With ``replace`` (a ``table`` transform, which overwrites the whole table) the new schema wins."""
    if replace:
        return first_write(data)
    fitted = reconcile(data, table_schema(table), on_schema_change=on_schema_change, name=name or None)
    if fitted.rewrite:
        raise SchemaError("the table must be rewritten to take the new types: write it through its "
                          "materialization", transform=name or None)
    return fitted.data

