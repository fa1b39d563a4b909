"""The one SQL literal builder: every value quoted, in the dialect it is handed to.

:func:`literal` writes a value for Polars SQL (``dialect="polars"``: transforms, SQL tests,
``query()``) or for delta-rs' DataFusion predicates (``dialect="delta"``: merges, partition
overwrites, re-ingest; :mod:`ratatouille._predicate` builds those predicates with it).
Strings are always quoted (``'O''Brien'``), ``None`` is ``NULL``.

For Polars, a value is typed like the column it is compared with (time unit and time zone included).

``watermark('ts')`` renders the maximum of ``ts`` in the target table as a literal of
exactly that column's type, so ``WHERE ts > {{ watermark('ts') }}`` compares like with like:

=============================  ====================================================================
column type                    rendered literal
=============================  ====================================================================
``Datetime(unit)`` (naive)     ``CAST('2024-01-01 12:00:00.123456789' AS TIMESTAMP(p))``, p = 3/6/9
``Datetime(unit, "UTC")``      ``(CAST(...) AT TIME ZONE 'UTC')``: an aware UTC timestamp
``Datetime(unit, other zone)`` ``'2024-01-01 11:00:00.123456789+00:00'``: the instant, which Polars
                               converts to the compared column's type (Polars SQL has no literal
                               of a zone other than UTC)
``Date``                       ``DATE '2024-01-01'``
``Time``                       ``CAST('12:00:00.123456789' AS TIME)``
``Decimal(p, s)``              ``CAST('12.34' AS DECIMAL(p, s))``
integers, floats, booleans     the number (``CAST('NaN' AS DOUBLE)`` for NaN and infinities)
strings and others             a quoted string
=============================  ====================================================================

The value is formatted by Polars itself, so nanoseconds are never rounded away (a Python
``datetime`` holds microseconds only).

>>> import datetime as dt, polars as pl
>>> lf = pl.LazyFrame({"ts": [dt.datetime(2024, 1, 1, 12)]}, schema={"ts": pl.Datetime("us", "UTC")})
>>> watermark_literal(lf, "ts")
"(CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP(6)) AT TIME ZONE 'UTC')"
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any, Literal, Mapping

import polars as pl

from .errors import SQLError

__all__ = ["DELTA", "POLARS", "Dialect", "literal", "typed_literal", "watermark_literal"]

Dialect = Literal["polars", "delta"]
POLARS: Dialect = "polars"  # Polars SQL (pl.SQLContext)
DELTA: Dialect = "delta"  # delta-rs predicates (DataFusion SQL)
_DIGITS = {"ms": 3, "us": 6, "ns": 9}
_TEMPORAL = (dt.datetime, dt.date, dt.time, decimal.Decimal)


def literal(value: Any, *, dialect: Dialect = POLARS, dtype: pl.DataType | None = None) -> str:
    """``value`` as a SQL literal of ``dialect``: strings quoted, ``None`` as ``NULL``.

    Parameters
    ----------
    value : Any
        A Python value, or a one-cell (Lazy)DataFrame holding it (nanoseconds are kept).
    dialect : {"polars", "delta"}
        ``"polars"``: Polars SQL; timestamps, dates, times and decimals are typed casts
        (see the table above). ``"delta"``: a delta-rs (DataFusion) predicate; dates and
        timestamps are ISO strings (delta-rs coerces them to the column's type, a zone-aware
        one carries its offset), decimals exact.
    dtype : polars.DataType, optional
        The type to write the value as (default: the frame's column type, or the value's own).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        ``dialect`` is neither ``"polars"`` nor ``"delta"``.

    Examples
    --------
    >>> literal("O'Brien"), literal(None), literal(True, dialect="delta")
    ("'O''Brien'", 'NULL', 'true')
    >>> literal(dt.date(2024, 1, 2)), literal(dt.date(2024, 1, 2), dialect="delta")
    ("DATE '2024-01-02'", "'2024-01-02'")
    >>> literal(decimal.Decimal("1.50"), dialect="delta"), literal(float("nan"))
    ('1.50', "CAST('NaN' AS DOUBLE)")
    """
    if dialect not in (POLARS, DELTA):
        raise ValueError(f"unknown SQL dialect {dialect!r} (expected 'polars' or 'delta')")
    if isinstance(value, (pl.LazyFrame, pl.DataFrame)):
        return _typed(value.lazy(), dtype or value.lazy().collect_schema().dtypes()[0], dialect)
    if value is None:
        return "NULL"
    if dtype is None and dialect == POLARS and isinstance(value, dt.datetime) and value.tzinfo is not None:
        # the compared column's zone is unknown: the instant with its offset compares with a column of any zone
        return _string(value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00")
    if dtype is not None or (dialect == POLARS and isinstance(value, _TEMPORAL)):
        series = pl.Series("v", [value], dtype=dtype, strict=False)
        return _typed(series.to_frame().lazy(), series.dtype, dialect)
    return _plain(value, dialect)


def _plain(value: Any, dialect: Dialect) -> str:
    """A Python value written as it is (no column type to follow)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if dialect == POLARS else ("true" if value else "false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"CAST('{text}' AS DOUBLE)"
    if isinstance(value, decimal.Decimal):
        return format(value, "f") if value.is_finite() else _string(str(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return _string(value.isoformat())
    if isinstance(value, (bytes, bytearray)):
        return "X'" + bytes(value).hex() + "'"
    return _string(str(value))


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed(lazy: pl.LazyFrame, dtype: pl.DataType, dialect: Dialect) -> str:
    """The one cell of ``lazy`` as a literal of type ``dtype`` (formatted by Polars: no rounding)."""
    col = pl.col(lazy.collect_schema().names()[0])
    if isinstance(dtype, pl.Datetime):
        digits = _DIGITS.get(dtype.time_unit or "us", 6)
        tz = dtype.time_zone
        sep = " " if dialect == POLARS else "T"
        text = _one(lazy.select((col.dt.convert_time_zone("UTC") if tz else col)
                                .dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S%.{digits}f")))
        if text is None:
            return "NULL"
        if dialect == DELTA:
            return _string(text + ("+00:00" if tz else ""))
        if tz is None:
            return f"CAST({_string(text)} AS TIMESTAMP({digits}))"
        if tz == "UTC":
            return f"(CAST({_string(text)} AS TIMESTAMP({digits})) AT TIME ZONE 'UTC')"
        return _string(text + "+00:00")
    if dtype == pl.Date:
        text = _one(lazy.select(col.dt.strftime("%Y-%m-%d")))
        return "NULL" if text is None else (f"DATE {_string(text)}" if dialect == POLARS else _string(text))
    if dtype == pl.Time:
        text = _one(lazy.select(col.dt.strftime("%H:%M:%S%.9f")))
        return "NULL" if text is None else (f"CAST({_string(text)} AS TIME)" if dialect == POLARS else _string(text))
    if isinstance(dtype, pl.Decimal):
        text = _one(lazy.select(col.cast(pl.String)))
        if text is None or dialect == DELTA:
            return "NULL" if text is None else text
        return f"CAST({_string(text)} AS DECIMAL({dtype.precision}, {dtype.scale}))"
    return _plain(_one(lazy.select(col)), dialect)


def watermark_literal(target: pl.LazyFrame, column: str, inputs: Mapping[str, pl.LazyFrame] | None = None) -> str:
    """The maximum of ``column`` in ``target`` as a SQL literal of the column's type (``NULL`` if empty).

    ``inputs``: the query's input tables. The table stores a zone-aware column in UTC, but the
    query compares the literal with the INPUT's column, which may hold another zone (a Python
    view converting to ``Europe/Paris``); Polars cannot compare a UTC timestamp with it, so when
    the inputs' columns of that name share one other zone, the literal is the instant written
    with its offset, which Polars reads in the compared column's zone (exact across DST).

    Parameters
    ----------
    target : polars.LazyFrame
        The target table.
    column : str
        The watermark column.
    inputs : mapping of str to polars.LazyFrame, optional
        The query's input tables, by name.

    Returns
    -------
    str

    Raises
    ------
    SQLError
        ``column`` is not a column of ``target``.

    Examples
    --------
    >>> t = pl.LazyFrame({"ts": [dt.datetime(2024, 10, 27, 0, 30)]}, schema={"ts": pl.Datetime("us", "UTC")})
    >>> src = {"bronze.e": pl.LazyFrame(schema={"ts": pl.Datetime("us", "Europe/Paris")})}
    >>> watermark_literal(t, "ts", src)
    "'2024-10-27 00:30:00.000000+00:00'"
    """
    schema = target.collect_schema()
    if column not in schema.names():
        raise SQLError(f"watermark column {column!r} is not in the target table (its columns: "
                       f"{', '.join(schema.names())})")
    dtype = schema[column]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone and inputs:
        zones = {t.time_zone for lf in inputs.values() for c, t in lf.collect_schema().items()
                 if c == column and isinstance(t, pl.Datetime) and t.time_zone}
        if len(zones) == 1 and zones != {dtype.time_zone}:
            dtype = pl.Datetime(dtype.time_unit, zones.pop())
    return literal(target.select(pl.col(column).max()), dtype=dtype)


def typed_literal(value: Any, dtype: pl.DataType) -> str:
    """``value`` (a Python value, or a one-cell frame holding it) as a Polars SQL literal of type ``dtype``.

    The same as ``literal(value, dtype=dtype)``.

    Parameters
    ----------
    value : Any
    dtype : polars.DataType

    Returns
    -------
    str

    Examples
    --------
    >>> typed_literal(3, pl.Int32), typed_literal(dt.date(2024, 1, 2), pl.Date)
    ('3', "DATE '2024-01-02'")
    """
    return literal(value, dtype=dtype)


def _one(lf: pl.LazyFrame) -> Any:
    return lf.collect().item()
