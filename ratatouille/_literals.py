"""SQL literals typed like the column they are compared with (time unit and time zone included).

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

import math
from typing import Any, Mapping

import polars as pl

from .errors import SQLError

__all__ = ["typed_literal", "watermark_literal"]

_DIGITS = {"ms": 3, "us": 6, "ns": 9}


def watermark_literal(target: pl.LazyFrame, column: str, inputs: Mapping[str, pl.LazyFrame] | None = None) -> str:
    """The maximum of ``column`` in ``target`` as a SQL literal of the column's type (``NULL`` if empty).

    ``inputs``: the query's input tables. The table stores a zone-aware column in UTC, but the
    query compares the literal with the INPUT's column, which may hold another zone (a Python
    view converting to ``Europe/Paris``); Polars cannot compare a UTC timestamp with it, so when
    the inputs' columns of that name share one other zone, the literal is the instant written
    with its offset, which Polars reads in the compared column's zone (exact across DST).

    Raises
    ------
    SQLError: ``column`` is not a column of ``target``.

    >>> import datetime as dt
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
            dtype = pl.Datetime(dtype.time_unit, zones.pop())  # type: ignore[arg-type]
    return typed_literal(target.select(pl.col(column).max()), dtype)


def typed_literal(value: Any, dtype: pl.DataType) -> str:
    """``value`` (a Python value, or a one-cell frame holding it) as a SQL literal of type ``dtype``.

    >>> typed_literal(3, pl.Int32)
    '3'
    >>> import datetime as dt
    >>> typed_literal(dt.date(2024, 1, 2), pl.Date)
    "DATE '2024-01-02'"
    """
    frame = value if isinstance(value, (pl.LazyFrame, pl.DataFrame)) else pl.DataFrame(
        {"v": pl.Series("v", [value], dtype=dtype, strict=False)})
    name = frame.collect_schema().names()[0] if isinstance(frame, pl.LazyFrame) else frame.columns[0]
    col = pl.col(name)
    lazy = frame.lazy()
    if isinstance(dtype, pl.Datetime):
        digits = _DIGITS.get(dtype.time_unit or "us", 6)
        tz = dtype.time_zone
        text = _one(lazy.select((col.dt.convert_time_zone("UTC") if tz else col)
                                .dt.strftime(f"%Y-%m-%d %H:%M:%S%.{digits}f")))
        if text is None:
            return "NULL"
        if tz is None:
            return f"CAST('{text}' AS TIMESTAMP({digits}))"
        if tz == "UTC":
            return f"(CAST('{text}' AS TIMESTAMP({digits})) AT TIME ZONE 'UTC')"
        return f"'{text}+00:00'"
    if dtype == pl.Date:
        text = _one(lazy.select(col.dt.strftime("%Y-%m-%d")))
        return "NULL" if text is None else f"DATE '{text}'"
    if dtype == pl.Time:
        text = _one(lazy.select(col.dt.strftime("%H:%M:%S%.9f")))
        return "NULL" if text is None else f"CAST('{text}' AS TIME)"
    if isinstance(dtype, pl.Decimal):
        text = _one(lazy.select(col.cast(pl.String)))
        return "NULL" if text is None else f"CAST('{text}' AS DECIMAL({dtype.precision}, {dtype.scale}))"
    raw = _one(lazy.select(col))
    if raw is None:
        return "NULL"
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return repr(raw) if math.isfinite(raw) else f"CAST('{raw!r}' AS DOUBLE)"
    return "'" + str(raw).replace("'", "''") + "'"


def _one(lf: pl.LazyFrame) -> Any:
    return lf.collect().item()
