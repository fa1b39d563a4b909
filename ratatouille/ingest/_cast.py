"""Strict casts of a landing file's columns to the table's / declared types: a value that does not fit
makes the file bad (:class:`~ratatouille.ingest._bad.BadFile`), it is never rounded or turned into NULL."""

from __future__ import annotations

from typing import Any, NoReturn

import polars as pl
from polars._typing import PolarsDataType

from ._bad import BadFile, reason


def rounds(src: PolarsDataType, dst: PolarsDataType) -> bool:
    """Whether a cast from ``src`` to ``dst`` may round a value without failing, at any depth:
    a float into an integer (the fraction is cut), a decimal into a smaller scale, Float64 into
    Float32 (the type policy never narrows those silently)."""
    if isinstance(src, pl.Struct) and isinstance(dst, pl.Struct):
        fields = {f.name: f.dtype for f in dst.fields}
        return any(f.name in fields and rounds(f.dtype, fields[f.name]) for f in src.fields)
    if isinstance(src, (pl.List, pl.Array)) and isinstance(dst, (pl.List, pl.Array)):
        return rounds(src.inner, dst.inner)
    if src.is_float() and dst.is_integer():
        return True
    if isinstance(src, pl.Decimal) and isinstance(dst, pl.Decimal):
        return (dst.scale or 0) < (src.scale or 0)
    return src == pl.Float64 and dst == pl.Float32


def rounded(s: pl.Series, out: pl.Series) -> pl.Series | None:
    """The values of ``s`` that ``out`` (``s`` cast to the table's type) no longer holds exactly
    (``2.5`` in a struct field of integers became ``2``), or ``None``: such a file is not ingested
    as if it fitted; the caller reports it with the option that widens the table.

    >>> s = pl.Series("m", [{"a": 1.0}, {"a": 2.5}])
    >>> rounded(s, s.cast(pl.Struct({"a": pl.Int64}))).to_list()
    [{'a': 2.5}]
    """
    if s.dtype == out.dtype or not rounds(s.dtype, out.dtype):
        return None
    lost = s.is_not_null() & ~out.cast(s.dtype, strict=False).eq_missing(s)
    return s.filter(lost) if lost.any() else None


_BOOLS = {**dict.fromkeys(("true", "t", "yes", "y", "1"), True), **dict.fromkeys(("false", "f", "no", "n", "0"), False)}


def cast_column(s: pl.Series, dtype: PolarsDataType) -> pl.Series:
    """Cast one column strictly, or raise :class:`BadFile` naming the column and a bad value.

    >>> cast_column(pl.Series("q", ["1", "2"]), pl.Int64).to_list()
    [1, 2]
    >>> cast_column(pl.Series("q", ["1", "x"]), pl.Int64)
    Traceback (most recent call last):
    ...
    ratatouille.ingest._bad.BadFile: column 'q' cannot be cast to Int64 (value 'x')
    """
    src = s.dtype
    try:
        if src == pl.String:
            text = s.str.strip_chars()
            if dtype == pl.Boolean:
                low = text.str.to_lowercase()
                out = low.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
                bad = s.filter(out.is_null() & low.is_not_null())
                if len(bad):
                    _raise(bad[0])
            elif dtype == pl.Date:
                out = text.str.to_date(strict=True)
            elif isinstance(dtype, pl.Datetime):
                out = text.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True)
            else:
                out = text.cast(dtype, strict=True)
        elif src.is_float() and dtype.is_integer():
            frac = s.is_not_null() & s.is_not_nan() & (s != s.floor())
            if frac.any():
                _raise(s.filter(frac)[0])
            out = s.cast(dtype, strict=True)
        else:
            out = s.cast(dtype, strict=True)
            lost = rounded(s, out)  # 2.5 in a struct of integers, a decimal's last digits
            if lost is not None:
                _raise(lost[0])
    except BadFile as exc:
        raise BadFile(f"column {s.name!r} cannot be cast to {dtype} (value {exc.args[0]!r})", column=s.name,
                      value=exc.args[0]) from None
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        value = _example(s, dtype)
        if value is None:
            raise BadFile(f"column {s.name!r} cannot be cast to {dtype} ({reason(exc)})") from None
        raise BadFile(f"column {s.name!r} cannot be cast to {dtype} (value {value!r})", column=s.name,
                      value=value) from None
    return out.alias(s.name)


def cast_expr(name: str, src: PolarsDataType, dtype: PolarsDataType) -> pl.Expr | None:
    """The strict cast of :func:`cast_column` as an expression (``None``: needs the eager check)."""
    col = pl.col(name)
    if src == pl.String:
        text = col.str.strip_chars()
        if dtype == pl.Boolean:
            return text.str.to_lowercase().replace_strict(_BOOLS, return_dtype=pl.Boolean)
        if dtype == pl.Date:
            return text.str.to_date(strict=True)
        if isinstance(dtype, pl.Datetime):
            return text.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True)
        return text.cast(dtype, strict=True)
    if (src.is_float() and dtype.is_integer()) or rounds(src, dtype):
        return None  # a fractional value must not be truncated (also nested, or a decimal's scale): checked eagerly
    return col.cast(dtype, strict=True)


def _raise(value: Any) -> NoReturn:
    raise BadFile(value)


def _example(s: pl.Series, dtype: PolarsDataType) -> Any:
    """The first value of ``s`` that does not cast to ``dtype`` (``None``: not found)."""
    try:
        lenient = s.cast(dtype, strict=False)
        bad = s.filter(lenient.is_null() & s.is_not_null())
        return bad[0] if len(bad) else None
    except Exception:  # noqa: BLE001
        return None


