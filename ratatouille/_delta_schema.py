"""A Delta table's schema as a Polars schema (the one conversion every stage uses)."""

from __future__ import annotations

import polars as pl
from deltalake import DeltaTable


def table_schema(table: DeltaTable) -> pl.Schema:
    """The Polars schema of a Delta table, read from its log (no data file is read).

    Parameters
    ----------
    table : deltalake.DeltaTable
        An open Delta table (any version).

    Returns
    -------
    polars.Schema
        Column names to Polars types, in the table's order.

    Examples
    --------
    >>> from deltalake import DeltaTable
    >>> table_schema(DeltaTable("lake/silver/sales"))["total"]
    Float64
    """
    import pyarrow as pa  # lazy: pyarrow (~30 ms) once a table's schema is read, not on import

    return pl.DataFrame(pa.schema(table.schema().to_arrow()).empty_table()).schema
