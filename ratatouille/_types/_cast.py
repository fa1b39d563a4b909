"""Casting to what Delta stores: the storable type of each Polars type, and the casts to it.

Delta has no unsigned, 128-bit or nanosecond types and stores zone-aware timestamps in UTC;
:func:`storable` names the type a column is stored as, :func:`normalize` casts a first write
to it, :func:`refuse_unstorable` names a column Delta cannot hold at all.
"""

from __future__ import annotations

from typing import Any, Mapping, TypeVar, cast

import polars as pl
from polars.datatypes import DataTypeClass

from ..errors import SchemaError

Frame = pl.DataFrame | pl.LazyFrame
F = TypeVar("F", bound=pl.DataFrame | pl.LazyFrame)  # a function returns the kind of frame it is given
DType = pl.DataType | DataTypeClass  # a dtype instance (Int64()) or class (pl.Int64), as Polars' schemas hold them

# Delta has no unsigned nor 128-bit integers: the smallest Delta type holding every value (as Spark
# reads Parquet's UINT_64: decimal(20,0)); an Int128 value past 38 digits is an error naming the column
_UNSIGNED_AS: dict[Any, pl.DataType] = {pl.UInt8: pl.Int16(), pl.UInt16: pl.Int32(), pl.UInt32: pl.Int64(), pl.UInt64: pl.Decimal(20, 0)}
_HUGE_INTEGERS = tuple(t for t in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None)) if t is not None)


def storable(dtype: DType, fallback: DType | None = None) -> DType:
    """The type a column of ``dtype`` is stored as: time zones become UTC, nanoseconds become
    microseconds (Delta's precision), unsigned integers the signed type holding them (UInt64:
    ``Decimal(20, 0)``, as Spark reads Parquet's UINT_64), 128-bit integers ``Decimal(38, 0)``
    (a value past 38 digits is an error), and ``Null`` becomes ``fallback`` (or String), also
    inside lists and structs.

    >>> storable(pl.Datetime("us", "Europe/Paris")), storable(pl.Null)
    (Datetime(time_unit='us', time_zone='UTC'), String)
    """
    if dtype == pl.Null:
        return fallback if fallback is not None and fallback != pl.Null else pl.String()
    if isinstance(dtype, pl.Datetime) and (dtype.time_zone not in (None, "UTC") or dtype.time_unit == "ns"):
        unit = "us" if dtype.time_unit == "ns" else (dtype.time_unit or "us")  # Delta keeps microseconds
        return pl.Datetime(unit, "UTC" if dtype.time_zone else None)
    if isinstance(dtype, _HUGE_INTEGERS) or dtype in _HUGE_INTEGERS:
        return pl.Decimal(38, 0)
    if dtype.is_unsigned_integer():  # Delta has no unsigned types: the signed type holding every value
        return _UNSIGNED_AS[type(dtype) if not isinstance(dtype, type) else dtype]
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Categorical, pl.Enum):
        return pl.String()  # Delta has no dictionary type (delta-rs' writer panics on one)
    if isinstance(dtype, (pl.List, pl.Array)):
        inner_fb = fallback.inner if isinstance(fallback, (pl.List, pl.Array)) else None
        inner = storable(dtype.inner, inner_fb)
        return pl.List(inner)  # Delta's arrays have no fixed size: Array(Int64, 2) is stored as a list
    if isinstance(dtype, pl.Struct):
        fb = {f.name: f.dtype for f in fallback.fields} if isinstance(fallback, pl.Struct) else {}
        return pl.Struct([pl.Field(f.name, storable(f.dtype, fb.get(f.name))) for f in dtype.fields])
    return dtype


_UNSTORABLE = {pl.Time: "a time of day", pl.Duration: "a duration", pl.Object: "Python objects"}
_UNSTORABLE_HINT = {pl.Time: "cast it to a string (.dt.to_string(), CAST(t AS VARCHAR)) or combine it with a date",
                    pl.Duration: "cast it to a number (.dt.total_seconds(); in SQL CAST(d AS BIGINT), microseconds)",
                    pl.Object: "convert it to a Polars type"}


def refuse_unstorable(schema: Mapping[str, DType], name: str | None = None) -> None:
    """One :class:`~ratatouille.errors.SchemaError` naming every column (also nested) whose type
    Delta Lake cannot store (time of day, duration, Python objects), with the cast to use;
    raised before anything is written (delta-rs would fail with a bare "Invalid data type").

    >>> refuse_unstorable({"elapsed": pl.Duration("us")})
    Traceback (most recent call last):
    ...
    ratatouille.errors.SchemaError: column 'elapsed' is Duration(time_unit='us') (a duration), which Delta Lake cannot store: cast it to a number (.dt.total_seconds(); in SQL CAST(d AS BIGINT), microseconds)
    """
    problems = []
    for col, dtype in schema.items():
        found = _unstorable_in(_inst(dtype))
        if found is not None:
            base = found.base_type()
            problems.append(f"column {col!r} is {_inst(dtype)} ({_UNSTORABLE[base]}), which Delta Lake cannot store: "
                            f"{_UNSTORABLE_HINT[base]}")
    if problems:
        raise SchemaError("; ".join(problems), transform=name)


def _unstorable_in(dtype: DType) -> DType | None:
    if dtype.base_type() in _UNSTORABLE:
        return dtype
    if isinstance(dtype, (pl.List, pl.Array)):
        return _unstorable_in(_inst(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return next((t for t in (_unstorable_in(_inst(f.dtype)) for f in dtype.fields) if t is not None), None)
    return None


def normalize(data: F, declared: Mapping[str, DType] | None = None) -> F:
    """The new data as it is stored on a first write (or a rebuild): time-zone-aware timestamps
    converted to UTC (same instants), all-NULL columns given their declared type or String.

    >>> normalize(pl.DataFrame({"a": [None]})).schema["a"]
    String
    """
    schema = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
    refuse_unstorable(schema)
    declared = declared or {}
    exprs = [_to(pl.col(c), t, storable(t, declared.get(c))) for c, t in schema.items()
             if storable(t, declared.get(c)) != t]
    return cast(F, data.with_columns(exprs)) if exprs else data


def type_nulls(data: F, declared: Mapping[str, DType]) -> F:
    """All-NULL columns (type ``Null``) of ``data`` given their declared type (before checks run).

    >>> type_nulls(pl.DataFrame({"a": [None]}), {"a": pl.Int64}).schema["a"]
    Int64
    """
    schema = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
    exprs = [pl.col(c).cast(declared[c]) for c, t in schema.items() if t == pl.Null and c in declared]
    return cast(F, data.with_columns(exprs)) if exprs else data


def _to(expr: pl.Expr, old: DType, new: DType) -> pl.Expr:
    """``expr`` (of type ``old``) as ``new``: a zone conversion for timestamps, else a strict cast."""
    if isinstance(old, pl.Datetime) and isinstance(new, pl.Datetime) and old.time_zone and new.time_zone:
        expr = expr.dt.convert_time_zone(new.time_zone)
        return expr if old.time_unit == new.time_unit else expr.cast(new)
    return expr.cast(new, strict=True)


def _inst(dtype: Any) -> pl.DataType:
    return dtype() if isinstance(dtype, type) else dtype

