"""The type policy: how a new batch meets its table's schema, and how declared types are read.

One module decides, for every materialization and for ingest, what happens
when the columns of the new data differ from the table's:

=====================================  ============================================================
new data vs table                      outcome
=====================================  ============================================================
a new column                           added (nullable); ``on_schema_change: fail`` refuses it
a column missing from the new data     NULL in the new rows (``sync_all_columns`` drops it)
an all-NULL column (type ``Null``)     takes the table's type, else the declared type, else String
time-zone-aware timestamps             stored in UTC, same instants (Delta's zone is UTC)
nanosecond timestamps, UInt8/16/32     stored as microseconds, as the signed type holding every value
UInt64, Int128                         decimal(20,0), decimal(38,0): every value exact
narrower type (Int32 into Int64,       cast up to the table's type
Decimal(8,2) into (10,2), ms into us)
wider type (Int64 into Int32, a        ``append_new_columns`` (default): cast to the table's type
decimal with more precision or scale,  only where every value fits exactly, otherwise an error naming
Float64 into Float32)                  ``sync_all_columns``; ``sync_all_columns``: the table is
                                       rewritten with the wider type (one commit); ``fail``: error
anything else (String into Int64)      one error naming the column, both types and ``full_refresh``
=====================================  ============================================================

delta-rs 1.6 cannot widen a column in place (its kernel refuses the
``delta.enableTypeWidening`` property and its writer casts every batch to the
table's type), so a wider type means rewriting the table's files; that only
happens when ``on_schema_change: sync_all_columns`` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import polars as pl

from .errors import ConfigError, SchemaError

ON_SCHEMA_CHANGE = ("append_new_columns", "sync_all_columns", "fail")
DEFAULT_ON_SCHEMA_CHANGE = "append_new_columns"
Frame = pl.DataFrame | pl.LazyFrame

# -- declared types ---------------------------------------------------------------------------------
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

    def cast_target(self, existing: pl.DataType | None = None) -> pl.DataType:
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
            unit = _UNITS.get(a[0].lower(), None) if a else "us"
            if unit is None:
                raise ConfigError(f"column type {text!r}: the unit is ms, us or ns")
            return pl.Duration(unit)  # type: ignore[arg-type]
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
        import zoneinfo

        zoneinfo.ZoneInfo(zone)
    except Exception:  # noqa: BLE001
        raise ConfigError(f"column type {text!r}: unknown unit or time zone {zone!r}") from None
    return zone


def polars_type(text: Any) -> pl.DataType:
    """The concrete Polars dtype of a declared type (see :func:`parse_type`)."""
    return parse_type(text).dtype


# -- the policy -------------------------------------------------------------------------------------
# Delta has no unsigned nor 128-bit integers: the smallest Delta type holding every value (as Spark
# reads Parquet's UINT_64: decimal(20,0)); an Int128 value past 38 digits is an error naming the column
_UNSIGNED_AS = {pl.UInt8: pl.Int16(), pl.UInt16: pl.Int32(), pl.UInt32: pl.Int64(), pl.UInt64: pl.Decimal(20, 0)}
_HUGE_INTEGERS = tuple(t for t in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None)) if t is not None)


def storable(dtype: pl.DataType, fallback: pl.DataType | None = None) -> pl.DataType:
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
        return pl.Datetime(unit, "UTC" if dtype.time_zone else None)  # type: ignore[arg-type]
    if isinstance(dtype, _HUGE_INTEGERS) or dtype in _HUGE_INTEGERS:
        return pl.Decimal(38, 0)
    if dtype.is_unsigned_integer():  # Delta has no unsigned types: the signed type holding every value
        return _UNSIGNED_AS[type(dtype) if not isinstance(dtype, type) else dtype]
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Categorical, pl.Enum):
        return pl.String()  # Delta has no dictionary type (delta-rs' writer panics on one)
    if isinstance(dtype, (pl.List, pl.Array)):
        inner_fb = fallback.inner if isinstance(fallback, (pl.List, pl.Array)) else None
        inner = storable(dtype.inner, inner_fb)  # type: ignore[arg-type]
        return pl.List(inner)  # Delta's arrays have no fixed size: Array(Int64, 2) is stored as a list
    if isinstance(dtype, pl.Struct):
        fb = {f.name: f.dtype for f in fallback.fields} if isinstance(fallback, pl.Struct) else {}
        return pl.Struct([pl.Field(f.name, storable(f.dtype, fb.get(f.name))) for f in dtype.fields])
    return dtype


_UNSTORABLE = {pl.Time: "a time of day", pl.Duration: "a duration", pl.Object: "Python objects"}
_UNSTORABLE_HINT = {pl.Time: "cast it to a string (.dt.to_string(), CAST(t AS VARCHAR)) or combine it with a date",
                    pl.Duration: "cast it to a number (.dt.total_seconds(); in SQL CAST(d AS BIGINT), microseconds)",
                    pl.Object: "convert it to a Polars type"}


def refuse_unstorable(schema: Mapping[str, pl.DataType], name: str | None = None) -> None:
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


def _unstorable_in(dtype: pl.DataType) -> pl.DataType | None:
    if dtype.base_type() in _UNSTORABLE:
        return dtype
    if isinstance(dtype, (pl.List, pl.Array)):
        return _unstorable_in(_inst(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return next((t for t in (_unstorable_in(_inst(f.dtype)) for f in dtype.fields) if t is not None), None)
    return None


def normalize(data: Frame, declared: Mapping[str, pl.DataType] | None = None) -> Frame:
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
    return data.with_columns(exprs) if exprs else data


def type_nulls(data: Frame, declared: Mapping[str, pl.DataType]) -> Frame:
    """All-NULL columns (type ``Null``) of ``data`` given their declared type (before checks run).

    >>> type_nulls(pl.DataFrame({"a": [None]}), {"a": pl.Int64}).schema["a"]
    Int64
    """
    schema = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
    exprs = [pl.col(c).cast(declared[c]) for c, t in schema.items() if t == pl.Null and c in declared]
    return data.with_columns(exprs) if exprs else data


def _to(expr: pl.Expr, old: pl.DataType, new: pl.DataType) -> pl.Expr:
    """``expr`` (of type ``old``) as ``new``: a zone conversion for timestamps, else a strict cast."""
    if isinstance(old, pl.Datetime) and isinstance(new, pl.Datetime) and old.time_zone and new.time_zone:
        expr = expr.dt.convert_time_zone(new.time_zone)
        return expr if old.time_unit == new.time_unit else expr.cast(new)
    return expr.cast(new, strict=True)


_RANK_INT = {pl.Int8: 1, pl.Int16: 2, pl.Int32: 3, pl.Int64: 4, pl.Int128: 5,
             pl.UInt8: 1, pl.UInt16: 2, pl.UInt32: 3, pl.UInt64: 4}
_UNIT_RANK = {"ms": 1, "us": 2, "ns": 3}
_INT_DIGITS = {1: 3, 2: 5, 3: 10, 4: 19, 5: 38}  # decimal digits holding every value of an integer rank


def wider(old: pl.DataType, new: pl.DataType) -> pl.DataType | None:
    """The type holding every value of both ``old`` (the table's) and ``new``, when the pair is a
    widening the policy allows (integers, floats, integers and floats to Float64, decimals, timestamp units);
    ``None`` for any other pair. Equal types give ``old``.

    >>> wider(pl.Int32, pl.Int64), wider(pl.Decimal(10, 2), pl.Decimal(12, 4)), wider(pl.Int64, pl.String)
    (Int64, Decimal(precision=12, scale=4), None)
    """
    old, new = _inst(old), _inst(new)
    if old == new:
        return old
    if old.is_integer() and new.is_integer():
        if old.is_signed_integer() == new.is_signed_integer():
            return old if _RANK_INT[type(old)] >= _RANK_INT[type(new)] else new
        signed, unsigned = (old, new) if old.is_signed_integer() else (new, old)
        need = _RANK_INT[type(unsigned)] + 1
        if _RANK_INT[type(signed)] >= need:
            return signed
        return {2: pl.Int16(), 3: pl.Int32(), 4: pl.Int64(), 5: pl.Int64()}[need] if need <= 4 else None
    if old.is_float() and new.is_float():
        return pl.Float64() if pl.Float64 in (old, new) else old
    if (old.is_float() and new.is_integer()) or (old.is_integer() and new.is_float()):
        return pl.Float64()
    if isinstance(old, pl.Decimal) and isinstance(new, pl.Decimal):
        scale = max(old.scale, new.scale)
        digits = max(old.precision - old.scale, new.precision - new.scale)
        return pl.Decimal(digits + scale, scale) if digits + scale <= 38 else None
    if isinstance(old, pl.Decimal) and new.is_integer():
        digits = {1: 3, 2: 5, 3: 10, 4: 19, 5: 38}[_RANK_INT[type(new)]]
        return wider(old, pl.Decimal(min(38, digits), 0))
    if old.is_integer() and isinstance(new, pl.Decimal):  # Delta widens integers to decimals
        return wider(pl.Decimal(_INT_DIGITS[_RANK_INT[type(old)]], 0), new)
    if isinstance(old, pl.Datetime) and isinstance(new, pl.Datetime):
        if (old.time_zone is None) != (new.time_zone is None):
            return None
        unit = old.time_unit if _UNIT_RANK[old.time_unit or "us"] >= _UNIT_RANK[new.time_unit or "us"] else new.time_unit
        return pl.Datetime(unit, old.time_zone)  # type: ignore[arg-type]
    if isinstance(old, pl.Duration) and isinstance(new, pl.Duration):
        return old if _UNIT_RANK[old.time_unit or "us"] >= _UNIT_RANK[new.time_unit or "us"] else new
    if old == pl.String and new in (pl.String, pl.Categorical) or (old == pl.String and isinstance(new, pl.Enum)):
        return old
    if isinstance(old, pl.Struct) and isinstance(new, pl.Struct):
        new_fields = {f.name: f.dtype for f in new.fields}
        out = []
        for f in old.fields:
            w = wider(f.dtype, new_fields.pop(f.name)) if f.name in new_fields else f.dtype
            if w is None:
                return None
            out.append(pl.Field(f.name, w))
        return pl.Struct(out + [pl.Field(n, storable(t)) for n, t in new_fields.items()])
    if isinstance(old, pl.List) and isinstance(new, pl.List):
        inner = wider(old.inner, new.inner)  # type: ignore[arg-type]
        return pl.List(inner) if inner is not None else None
    return None


def _adds_fields_only(old: pl.DataType, new: pl.DataType) -> bool:
    """Whether ``new`` is ``old`` with struct fields added (at any depth) and nothing else changed."""
    if isinstance(old, pl.Struct) and isinstance(new, pl.Struct):
        fields = {f.name: f.dtype for f in new.fields}
        return all(f.name in fields and (fields[f.name] == f.dtype or _adds_fields_only(f.dtype, fields[f.name]))
                   for f in old.fields)
    if isinstance(old, pl.List) and isinstance(new, pl.List):
        return _adds_fields_only(old.inner, new.inner)  # type: ignore[arg-type]
    return False


def _inst(dtype: Any) -> pl.DataType:
    return dtype() if isinstance(dtype, type) else dtype


def _fits_exactly(old: pl.DataType, new: pl.DataType) -> bool:
    """Whether a strict cast from ``new`` to ``old`` fails (never rounds) when a value does not fit:
    integer and decimal-precision narrowing (Polars' strict cast raises); a float, a scale or a
    timestamp unit narrowing would round silently."""
    if old.is_integer() and new.is_integer():
        return True
    if isinstance(old, pl.Decimal) and isinstance(new, pl.Decimal):
        return new.scale <= old.scale
    if isinstance(old, pl.Decimal) and new.is_integer():
        return True
    if old.is_integer() and isinstance(new, pl.Decimal):
        return new.scale == 0  # a fraction would be truncated
    if isinstance(old, pl.Struct) and isinstance(new, pl.Struct):
        fields = {f.name: f.dtype for f in old.fields}
        return all(f.name in fields and (fields[f.name] == storable(f.dtype, fields[f.name])
                                         or _fits_exactly(fields[f.name], f.dtype)) for f in new.fields)
    if isinstance(old, pl.List) and isinstance(new, pl.List):
        return old.inner == new.inner or _fits_exactly(old.inner, new.inner)  # type: ignore[arg-type]
    return False


@dataclass
class Reconciled:
    """What the policy decided for one batch: the batch fitted to the table, and whether the
    table must be rewritten (``widen``: the table's columns and their new types)."""

    data: Frame
    widen: dict[str, pl.DataType] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    narrowed: dict[str, tuple[pl.DataType, pl.DataType]] = field(default_factory=dict)
    source: Frame | None = None  # the batch as it came (to name the column whose values do not fit)

    @property
    def rewrite(self) -> bool:
        return bool(self.widen or self.drop)


def reconcile(data: Frame, table_schema: Mapping[str, pl.DataType], *, on_schema_change: str | None = None,
              declared: Mapping[str, pl.DataType] | None = None, name: str | None = None,
              keep: tuple[str, ...] = ()) -> Reconciled:
    """Fit a new batch to an existing table's schema by the policy above.

    ``keep``: table columns never dropped by ``sync_all_columns`` (ingest's metadata).
    Raises :class:`~ratatouille.errors.SchemaError` naming each column, both types and the option
    to use, and nothing is written.

    >>> t = {"id": pl.Int64, "qty": pl.Int32}
    >>> reconcile(pl.DataFrame({"id": [1], "qty": [5]}), t).data.schema["qty"]
    Int32
    >>> reconcile(pl.DataFrame({"id": [1], "qty": [5]}), t, on_schema_change="sync_all_columns").widen
    {'qty': Int64}
    """
    mode = on_schema_change or DEFAULT_ON_SCHEMA_CHANGE
    if mode not in ON_SCHEMA_CHANGE:
        raise SchemaError(f"on_schema_change must be one of {', '.join(ON_SCHEMA_CHANGE)}, got {mode!r}",
                          transform=name)
    declared = declared or {}
    schema = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
    refuse_unstorable(schema, name)
    exprs: list[pl.Expr] = []
    widen: dict[str, pl.DataType] = {}
    narrowed: dict[str, tuple[pl.DataType, pl.DataType]] = {}
    problems: list[str] = []
    for col, dtype in schema.items():
        old = table_schema.get(col)
        old = _inst(old) if old is not None else None
        if old is None:  # a new column
            if mode == "fail":
                problems.append(f"{col}: new column ({dtype}); set on_schema_change: append_new_columns to add it")
                continue
            target = storable(dtype, declared.get(col))
            if target != dtype:
                exprs.append(_to(pl.col(col), dtype, target).alias(col))
            continue
        new = storable(dtype, old)  # all-NULL takes the table's type; zones are UTC
        if new == old:
            if dtype != old:
                exprs.append(_to(pl.col(col), dtype, old).alias(col))
            continue
        both = wider(old, new)
        if both is None:
            problems.append(f"{col}: {old} -> {dtype} is not a widening; run with full_refresh=True "
                            "(rat run -f) to rebuild the table with the new type")
            continue
        if both == old:  # narrower data: cast up to the table's type
            exprs.append(_to(pl.col(col), dtype, old).alias(col))
            continue
        if _adds_fields_only(old, both):  # new nested fields: added like new columns
            if mode == "fail":
                problems.append(f"{col}: new nested field(s) ({old} -> {dtype}); set on_schema_change: "
                                "append_new_columns to add them")
            else:
                exprs.append(_to(pl.col(col), dtype, both).alias(col))
            continue
        if mode == "sync_all_columns":
            widen[col] = both
            exprs.append(_to(pl.col(col), dtype, both).alias(col))
        elif mode == "append_new_columns" and _fits_exactly(old, new):
            narrowed[col] = (old, new)  # values that do not fit fail the write: see explain_narrowing()
            exprs.append(_to(pl.col(col), dtype, old).alias(col))
        else:
            hint = ("set on_schema_change: sync_all_columns to widen the table (it is rewritten once)"
                    if mode == "append_new_columns" else
                    "on_schema_change is fail: set it to sync_all_columns to widen the table")
            problems.append(f"{col}: the table has {old}, the new data {dtype}; {hint}, "
                            "or run with full_refresh=True (rat run -f)")
    drop: list[str] = []
    missing = [c for c in table_schema if c not in schema and c not in keep]
    if missing and mode == "fail":
        problems.append(f"column(s) {missing} missing from the new data; set on_schema_change: "
                        "append_new_columns (NULL in new rows) or sync_all_columns (dropped)")
    elif missing and mode == "sync_all_columns":
        drop = missing
    if problems:
        raise SchemaError("incompatible schema change (" + "; ".join(problems) + ")", transform=name)
    if widen or drop:  # the rewritten table keeps every other column's type
        for col, old in table_schema.items():
            if col in schema and col not in widen and schema[col] != old and not any(
                    e.meta.output_name() == col for e in exprs):
                exprs.append(_to(pl.col(col), schema[col], old).alias(col))
    fitted = Reconciled(data, widen, drop, narrowed, source=data)
    if exprs:
        try:
            fitted.data = data.with_columns(exprs)
        except pl.exceptions.PolarsError:  # an eager frame: a value that does not fit fails here
            clear = explain_narrowing(fitted, name)
            if clear is not None:
                raise clear from None
            raise
    return fitted


def explain_narrowing(reconciled: Reconciled, name: str | None = None) -> SchemaError | None:
    """After a write failed on a cast: the :class:`SchemaError` naming the column whose values
    did not fit the table's narrower type (or ``None`` when none is to blame)."""
    bad = []
    data = reconciled.source if reconciled.source is not None else reconciled.data
    for col, (old, new) in reconciled.narrowed.items():
        try:
            probe = data.lazy() if isinstance(data, pl.DataFrame) else data
            probe.select(pl.col(col).cast(new, strict=False).cast(old, strict=True)).collect()
        except pl.exceptions.PolarsError:
            bad.append(f"{col}: the table has {old}, the new data {new} with values that do not fit; "
                       "set on_schema_change: sync_all_columns to widen the table (it is rewritten once), "
                       "or run with full_refresh=True (rat run -f)")
    if not bad:
        return None
    return SchemaError("incompatible schema change (" + "; ".join(bad) + ")", transform=name)


def rewrite_frame(old: pl.LazyFrame, new: Frame, reconciled: Reconciled,
                  keep_old: Callable[[pl.LazyFrame, pl.DataFrame], pl.LazyFrame] | None) -> pl.LazyFrame:
    """The whole table after a widening: the old rows that stay (``keep_old`` picks them from the
    old table and the new data; ``None``: none stay) cast to the new types, then the new rows."""
    new_df = new.collect() if isinstance(new, pl.LazyFrame) else new
    cols = new_df.columns
    parts = []
    if keep_old is not None:
        schema = old.collect_schema()
        old = old.drop([c for c in reconciled.drop if c in schema])
        old = old.with_columns(_to(pl.col(c), schema[c], t).alias(c) for c, t in reconciled.widen.items()
                               if c in schema)
        parts.append(keep_old(old, new_df))
    parts.append(new_df.lazy())
    out = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    order = cols + [c for c in out.collect_schema() if c not in cols]
    return out.select(order)


def declared_types(columns: Any) -> dict[str, pl.DataType]:
    """``{name: dtype}`` of the ``columns:`` entries that declare a type."""
    return {c.name: polars_type(c.type) for c in columns or () if getattr(c, "type", None)}
