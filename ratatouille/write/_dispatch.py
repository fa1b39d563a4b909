"""The writer for a materialization kind: chosen by the kind's class (:mod:`ratatouille.kinds`)."""

from __future__ import annotations

from typing import Mapping

import polars as pl

from .. import kinds
from . import Append, Materialization, Merge, ReplacePartitions, Table, View

#: one writer class per kind class
WRITERS: dict[type[kinds.Kind], type[Materialization]] = {
    kinds.Table: Table, kinds.View: View, kinds.Append: Append, kinds.Merge: Merge,
    kinds.ReplacePartitions: ReplacePartitions}


def writer_for(kind: kinds.Kind, *, declared: Mapping[str, pl.DataType] | None = None) -> Materialization:
    """The :class:`~ratatouille.write.Materialization` that writes a table of ``kind``.

    Parameters
    ----------
    kind
        The transform's kind (``transform.materialization``).
    declared
        The declared column types (``columns: type``), for the type policy.

    Returns
    -------
    Materialization
        The writer, configured with the kind's settings.

    Raises
    ------
    KeyError
        For a kind class without a writer.

    Examples
    --------
    >>> writer_for(kinds.Merge(unique_key="id")).unique_key
    ('id',)
    """
    return WRITERS[type(kind)](unique_key=kind.unique_key, partition_by=kind.partition_by,
                               delete_missing=kind.delete_missing, on_schema_change=kind.on_schema_change,
                               declared=declared)
