"""One partition of a transform: what ``run(name, partition=key)`` rebuilds.

A transform with ``partition_by`` can be run for a single partition key (how
Dagster materializes a partition). The transform's output is restricted to
``partition_by[0] == key`` (a lazy filter, pushed down into the scans of its
inputs), its checks run on that slice, and the write replaces exactly that
partition in one Delta commit (a predicate overwrite, see
:class:`~ratatouille.write.OverwritePartition`); the rest of the table is
untouched. The key is also ``{{ var('partition') }}`` in SQL.

>>> import polars as pl
>>> partition_value("2024-01-02", pl.Date())
datetime.date(2024, 1, 2)
>>> partition_value("7", pl.Int64())
7
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import ConfigError, SchemaError, SQLError, TransformError
from ..transforms import Transform


@dataclass(frozen=True)
class Partition:
    """The partition a run rebuilds: ``column = value`` (``key`` as given)."""

    key: str
    column: str
    value: Any


def check_partitionable(t: Transform, key: str) -> None:
    """Raise a clear error when ``t`` cannot be run for one partition."""
    if t.kind == "ingest":
        raise ConfigError(f"partition={key!r}: an ingest transform appends new landing files, it has no partition "
                          "to rebuild", transform=t.name, file=t.file)
    if t.mode == "view":
        raise ConfigError(f"partition={key!r}: a view is never written, it has no partition to rebuild",
                          transform=t.name, file=t.file)
    if not t.config.partition_by:
        raise ConfigError(f"partition={key!r} needs partition_by in the transform's settings", transform=t.name,
                          file=t.file)
    static = t.config.partitions
    if isinstance(static, dict) and set(static) == {"static"}:
        static = static["static"]
    if isinstance(static, (list, tuple)) and key not in [str(v) for v in static]:
        # a static list is the set of partitions: a key outside it would silently add a new one
        raise ConfigError(f"partition={key!r} is not one of the transform's partitions: "
                          + ", ".join(str(v) for v in static), transform=t.name, file=t.file)


def partition_value(key: str, dtype: pl.DataType) -> Any:
    """The partition key as a value of the partition column's type (a clear error if it is not one)."""
    if dtype == pl.Date:
        return pl.Series([key]).str.to_date("%Y-%m-%d", strict=True).item()
    if dtype.is_integer():
        return pl.Series([key]).cast(dtype, strict=True).item()
    if dtype == pl.Boolean:
        if key.lower() not in ("true", "false"):
            raise ValueError(f"{key!r} is not a boolean")
        return key.lower() == "true"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return key
    raise ValueError(f"a {dtype} column cannot hold a partition key (use a Date, string, integer or boolean column)")


def restrict_to_partition(t: Transform, lf: pl.LazyFrame, key: str) -> tuple[pl.LazyFrame, Partition]:
    """``lf`` filtered to the rows of partition ``key`` (on ``partition_by[0]``)."""
    column = t.config.partition_by[0]
    try:
        schema = lf.collect_schema()
    except pl.exceptions.PolarsError as exc:
        kind = SQLError if t.kind == "sql" else TransformError
        raise kind(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}", transform=t.name, file=t.file) from exc
    if column not in schema:
        raise SchemaError(f"partition_by column {column!r} is not in the output (columns: {', '.join(schema.names())})",
                          transform=t.name, file=t.file)
    try:
        value = partition_value(key, schema[column])
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"partition key {key!r} does not fit column {column!r} ({schema[column]}): "
                          f"{str(exc).strip().splitlines()[0]}", transform=t.name, file=t.file) from None
    return lf.filter(pl.col(column) == value), Partition(key, column, value)
