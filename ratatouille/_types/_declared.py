"""Declared types: the text of a ``columns:`` entry's ``type:`` read as a Polars dtype.

One parser (:func:`parse_type`) serves ``columns:`` checks, ingest's declared schema and
Python transforms; it reads Polars' names, SQL's (Postgres, MySQL, Spark, dbt) and nested
``list<...>``/``struct<...>`` types, and refuses anything else with a :class:`ConfigError`.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from ..errors import ConfigError

_NAMES: dict[str, pl.DataType] = {
    "int": pl.Int64(), "int64": pl.Int64(), "bigint": pl.Int64(), "long": pl.Int64(),
    "int32": pl.Int32(), "integer": pl.Int32(), "int16": pl.Int16(), "smallint": pl.Int16(), "short": pl.Int16(),
    "int8": pl.Int8(), "tinyint": pl.Int8(), "byte": pl.Int8(),
    "uint8": pl.UInt8(), "uint16": pl.UInt16(), "uint32": pl.UInt32(), "uint64": pl.UInt64(),
    "float": pl.Float64(), "float64": pl.Float64(), "double": pl.Float64(), "float32": pl.Float32(),
    "real": pl.Float32(),
    "str": pl.String(), "string": pl.String(), "utf8": pl.String(), "text": pl.String(), "varchar": pl.String(),
    "char": pl.String(),
    "bool": pl.Boolean(), "boolean": pl.Boolean(), "date": pl.Date(), "time": pl.Time(),
    "binary": pl.Binary(), "bytes": pl.Binary(), "null": pl.Null(),
    "datetime": pl.Datetime("us"), "timestamp": pl.Datetime("us"), "timestamp_ntz": pl.Datetime("us"),
    "timestamp_tz": pl.Datetime("us", "UTC"), "timestamptz": pl.Datetime("us", "UTC"),
    "duration": pl.Duration("us"), "interval": pl.Duration("us"),
    "int2": pl.Int16(), "int4": pl.Int32(), "float4": pl.Float32(), "float8": pl.Float64(), "mediumint": pl.Int32(),
    "varbinary": pl.Binary(), "date32": pl.Date(), "large_string": pl.String(), "large_utf8": pl.String(),
}
_UNITS = {"ms": "ms", "us": "us", "μs": "us", "ns": "ns", "millisecond": "ms", "microsecond": "us",
          "nanosecond": "ns", "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
_TOKEN = re.compile(r"\s*(<|>|\(|\)|,|:|[^\s<>(),:]+)")
# SQL spellings of the same types (Postgres, MySQL, Spark, dbt), rewritten before parsing
_SPELLINGS = [
    (re.compile(r"\b(timestamp|datetime|time)\s*(\(\s*\d+\s*\))?\s+with\s+time\s+zone\b", re.I),
     lambda m: ("timestamptz" if m[1].lower() != "time" else "time") + (m[2] or "")),
    (re.compile(r"\s+without\s+time\s+zone\b", re.I), lambda m: ""),
    (re.compile(r"\bdouble\s+precision\b", re.I), lambda m: "double"),
    (re.compile(r"\bcharacter\s+varying\b|\bcharacter\b", re.I), lambda m: "varchar"),
    (re.compile(r"\b([A-Za-z_][\w]*(?:\s*\([^()]*\))?)\s*\[\s*\]"), lambda m: f"list<{m[1]}>"),  # int[]
]
_SQL_PRECISION = {**{str(d): "ms" for d in range(4)}, **{str(d): "us" for d in range(4, 7)},
                  **{str(d): "ns" for d in range(7, 10)}}  # timestamp(3), timestamp(6), timestamp(9)
_WIDTH_IGNORED = {"int", "integer", "bigint", "smallint", "tinyint", "mediumint", "int2", "int4", "time", "binary",
                  "varbinary", "bytes", "float", "double", "real", "bool", "boolean"}  # MySQL display widths...


@dataclass(frozen=True)
class DeclaredType:
    """A type written in YAML (``columns: type``, ``dtypes:``): the concrete dtype to cast to, and
    whether a column's actual dtype satisfies it (a bare ``decimal`` accepts any decimal)."""

    text: str
    dtype: pl.DataType
    open_decimal: bool = False  # a bare ``decimal``: any precision and scale

    def matches(self, actual: pl.DataType) -> bool:
        """Whether data of type ``actual`` satisfies this declaration.

        >>> parse_type("decimal").matches(pl.Decimal(12, 2)), parse_type("decimal(10,2)").matches(pl.Decimal(12, 2))
        (True, False)
        """
        if self.open_decimal:
            return isinstance(actual, pl.Decimal)
        return actual == self.dtype

    def cast_target(self, existing: pl.DataType | DataTypeClass | None = None) -> pl.DataType | DataTypeClass:
        """The dtype to cast text or other data to: a bare decimal keeps an existing decimal's precision."""
        if self.open_decimal and isinstance(existing, pl.Decimal):
            return existing
        return self.dtype


def parse_type(text: Any) -> DeclaredType:
    """Parse a declared type: ``int64``, ``string``, ``decimal(12,2)``, ``decimal``, ``timestamp(us, UTC)``,
    ``timestamp(ns)``, ``list<string>``, ``array<int>``, ``struct<a: int, b: string>``, or a Polars name
    (``Int64``, ``Datetime``).

    Raises :class:`~ratatouille.errors.ConfigError` naming the type when it is not one.

    >>> parse_type("decimal(12, 2)").dtype
    Decimal(precision=12, scale=2)
    >>> parse_type("timestamp(us, UTC)").dtype
    Datetime(time_unit='us', time_zone='UTC')
    >>> parse_type("list<string>").dtype
    List(String)
    """
    raw = str(text).strip()
    spelled = _polars_structs(raw)
    for pattern, repl in _SPELLINGS:
        spelled = pattern.sub(repl, spelled)
    tokens = [t for t in _TOKEN.findall(spelled)]
    if not raw or "".join(tokens).replace(" ", "") != spelled.replace(" ", ""):
        raise ConfigError(f"unknown column type {text!r}")
    pos = 0
    open_decimal = False

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise ConfigError(f"unknown column type {text!r}" + (f" (expected {expected!r})" if expected else ""))
        pos += 1
        return tok

    def args() -> list[str]:
        if peek() != "(":
            return []
        take("(")
        out: list[str] = []
        while peek() != ")":
            arg = take().split("=", 1)[-1].strip("'\"")  # Polars' repr: Datetime(time_unit='us', time_zone='UTC')
            if arg.lower() != "none":
                out.append(arg)
            if peek() == ",":
                take(",")
        take(")")
        return out

    def one(top: bool) -> pl.DataType:
        nonlocal open_decimal
        name = take()
        key = name.lower()
        if key in ("list", "array"):
            if peek() == "<":
                take("<")
                inner = one(False)
                take(">")
                return pl.List(inner)
            if peek() == "(":  # Polars' reprs: List(String), List(Decimal(precision=10, scale=2)), Array(Int64, 3)
                take("(")
                inner_type = one(False)
                width = None
                if peek() == ",":
                    take(",")
                    width = take().split("=", 1)[-1]
                    if key != "array" or not width.isdigit():
                        raise ConfigError(f"unknown column type {text!r}")
                take(")")
                return pl.Array(inner_type, int(width)) if width else pl.List(inner_type)
            raise ConfigError(f"column type {text!r}: write the element type, e.g. list<string>")
        if key == "struct":
            take("<")
            fields: list[pl.Field] = []
            while peek() != ">":
                fname = take()
                take(":")
                fields.append(pl.Field(fname, one(False)))
                if peek() == ",":
                    take(",")
            take(">")
            return pl.Struct(fields)
        if key in ("decimal", "numeric", "number"):
            a = args()
            try:
                nums = [int(x) for x in a]
            except ValueError:
                raise ConfigError(f"column type {text!r}: decimal(precision, scale) takes integers") from None
            if not nums:
                open_decimal = open_decimal or top
                return pl.Decimal(38, 9)
            if len(nums) > 2 or not 1 <= nums[0] <= 38 or (len(nums) == 2 and not 0 <= nums[1] <= nums[0]):
                raise ConfigError(f"column type {text!r}: decimal(precision, scale) needs 1 <= precision <= 38 "
                                  "and 0 <= scale <= precision")
            return pl.Decimal(nums[0], nums[1] if len(nums) == 2 else 0)
        if key in ("timestamp", "datetime", "timestamp_tz", "timestamptz", "timestamp_ntz"):
            a = args()
            unit = "us"
            zone = "UTC" if key in ("timestamp_tz", "timestamptz") else None
            for arg in a:
                if arg.lower() in _UNITS:
                    unit = _UNITS[arg.lower()]
                elif arg in _SQL_PRECISION:  # SQL's fractional-second digits: timestamp(3)
                    unit = _SQL_PRECISION[arg]
                else:
                    zone = _zone(arg, text)
            return pl.Datetime(unit, zone)  # type: ignore[arg-type]
        if key in ("duration", "interval"):
            a = args()
            duration_unit = _UNITS.get(a[0].lower(), None) if a else "us"
            if duration_unit is None:
                raise ConfigError(f"column type {text!r}: the unit is ms, us or ns")
            return pl.Duration(duration_unit)  # type: ignore[arg-type]
        if key in ("varchar", "char", "string", "text") and peek() == "(":
            args()  # a length is accepted and ignored: Delta strings have none
            return pl.String()
        if key in _WIDTH_IGNORED and key in _NAMES and peek() == "(":
            args()  # int(11), tinyint(1), time(6), binary(16): a display width or precision Delta has not
            return _NAMES[key]
        if key in _NAMES:
            return _NAMES[key]
        dtype = getattr(pl, name, None)
        if isinstance(dtype, type) and issubclass(dtype, pl.DataType) and dtype is not pl.DataType:
            if dtype is pl.Decimal and peek() != "(":
                open_decimal = open_decimal or top
                return pl.Decimal(38, 9)
            a = args()
            try:
                return dtype(*[_arg(x) for x in a])
            except Exception:  # noqa: BLE001
                raise ConfigError(f"unknown column type {text!r}") from None
        raise ConfigError(f"unknown column type {text!r}")

    dtype = one(True)
    if pos != len(tokens):
        raise ConfigError(f"unknown column type {text!r}")
    return DeclaredType(raw, dtype, open_decimal)


def _polars_structs(text: str) -> str:
    """Polars' struct repr as the declared form: ``Struct({'a': Int64})`` -> ``struct<a: Int64>``."""
    out, i = [], 0
    while True:
        start = text.lower().find("struct({", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:start] + "struct<")
        depth, j = 0, start + len("struct(")
        while j < len(text):
            depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        if j >= len(text) or text[j] != "}" or text[j + 1:j + 2] != ")":
            return text  # not Polars' repr: the parser reports it
        inner = _polars_structs(text[start + len("struct({"):j])
        out.append(re.sub(r"""(['"])([^'"]*)\1\s*:""", r"\2:", inner) + ">")
        i = j + 2


def _arg(text: str) -> Any:
    text = text.strip("'\"")
    try:
        return int(text)
    except ValueError:
        return None if text.lower() == "none" else text


def _zone(arg: str, text: Any) -> str:
    zone = arg.strip("'\"")
    if zone.upper() in ("UTC", "Z", "TZ"):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except Exception:  # noqa: BLE001
        raise ConfigError(f"column type {text!r}: unknown unit or time zone {zone!r}") from None
    return zone


def polars_type(text: Any) -> pl.DataType:
    """The concrete Polars dtype of a declared type (see :func:`parse_type`)."""
    return parse_type(text).dtype


def declared_types(columns: Any) -> dict[str, pl.DataType]:
    """``{name: dtype}`` of the ``columns:`` entries that declare a type."""
    return {c.name: polars_type(c.type) for c in columns or () if getattr(c, "type", None)}
