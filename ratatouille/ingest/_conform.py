"""Conform: ingest's side of the type policy: nothing a landing file holds is dropped silently.

* readers infer types from the whole file (``infer_schema_length: None``), unless
  the YAML sets ``infer_schema_length``; declared ``columns:`` and ``dtypes`` win;
* a file's header names match the table's (and the declared ones)
  case-insensitively when that is unambiguous; two names of one file that fold
  to the same name are a clear error (the file is rejected with that reason);
* ``schema: strict`` compares nested struct fields too, so a new field is a drift;
* all-NULL columns take the table's or the declared type, else String, and
  zone-aware timestamps are stored in UTC (:func:`ratatouille._types.normalize`).
"""

from __future__ import annotations

import io
from typing import Any, Iterable, Mapping

import polars as pl
from polars._typing import PolarsDataType

from .._delta_scan import scan_delta
from .._delta_schema import table_schema
from .._types import _adds_fields_only, _to, normalize, refuse_unstorable, storable, wider
from ..errors import SchemaError
from ._bad import BadFile, reason
from ._cast import cast_column, cast_expr
from ._spec import META_COLUMNS

WHOLE_FILE = None  # infer_schema_length: every row


def inference(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The reader keyword that makes inference read the whole file (unless the YAML sets it)."""
    return {} if "infer_schema_length" in opts else {"infer_schema_length": WHOLE_FILE}


def _fold(name: str) -> str:
    """A header name as matched: case and surrounding spaces ignored (``" Amount "`` is ``amount``)."""
    return name.strip().casefold()


def read_ndjson_bytes(data: bytes, kwargs: Mapping[str, Any]) -> pl.DataFrame:
    """An NDJSON file Polars' scanner refused: without its UTF-8 byte-order mark (Windows tools
    write one), or with blank lines only (an empty frame: the caller reports "no data rows").

    >>> read_ndjson_bytes(b'\\xef\\xbb\\xbf{"id": 1}\\n', {}).to_dicts(), read_ndjson_bytes(b"\\n\\n", {}).height
    ([{'id': 1}], 0)
    """
    data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not data.strip():
        return pl.DataFrame()
    return pl.read_ndjson(io.BytesIO(data), **kwargs)


def storable_file(df: pl.DataFrame) -> None:
    """Raise ``BadFile`` (the file is rejected, the run goes on) when a column of ``df`` has a type
    Delta Lake cannot store (a time of day, a duration), naming it and the way out."""

    try:
        refuse_unstorable(df.schema)
    except SchemaError as exc:
        raise BadFile(f"{exc.args[0]}; or declare the column's type (columns: - {{name: ..., type: string}})") from None


def canonical_names(known: Iterable[str]) -> dict[str, str]:
    """``{folded name: name}`` of the table's and declared columns; a fold shared by two of
    them is ambiguous (mapped to ``None``) and never used."""
    out: dict[str, Any] = {}
    for name in known:
        key = _fold(name)
        if key in out and out[key] != name:
            out[key] = None
        else:
            out[key] = name
    return out


def match_names(df: pl.DataFrame, names: Mapping[str, str | None]) -> pl.DataFrame:
    """Rename ``df``'s columns to the known spelling (case-insensitively); a clash raises ``BadFile``.

    >>> match_names(pl.DataFrame({"Coupon": [1]}), canonical_names(["coupon"])).columns
    ['coupon']
    """

    seen: dict[str, str] = {}
    rename: dict[str, str] = {}
    for col in df.columns:
        key = _fold(col)
        if key in seen:
            raise BadFile(f"columns {seen[key]!r} and {col!r} differ only in case (or surrounding spaces): "
                          "rename one of them")
        seen[key] = col
        target = names.get(key)
        if target is None and key in names and col not in names.values():
            raise BadFile(f"column {col!r} matches several columns of the table that differ only in case")
        if target is not None and target != col:
            rename[col] = target
    return df.rename(rename) if rename else df


def file_targets(targets: Mapping[str, PolarsDataType], schema: Mapping[str, PolarsDataType]) -> dict[str, PolarsDataType]:
    """The types one file's columns are cast to: the table's / declared types, except that a struct
    or list column keeps the nested fields the file adds (a cast to the table's struct would drop
    them silently: Polars' expression cast selects the first fields)."""
    out = dict(targets)
    for col, dtype in schema.items():
        old = targets.get(col)
        if isinstance(old, (pl.Struct, pl.List)) and isinstance(dtype, (pl.Struct, pl.List)):
            both = wider(old, storable(dtype, old))
            if both is not None and _adds_fields_only(old, both):  # other nested changes: the policy's
                out[col] = both
    return out


def struct_drift(df: pl.DataFrame, table: Mapping[str, PolarsDataType]) -> list[str]:
    """Nested fields of ``df`` that the table's struct columns lack (``schema: strict``)."""
    out: list[str] = []

    def walk(path: str, new: PolarsDataType, old: PolarsDataType | None) -> None:
        if old is None:
            return
        if isinstance(new, pl.Struct) and isinstance(old, pl.Struct):
            fields = {f.name: f.dtype for f in old.fields}
            for f in new.fields:
                if f.name not in fields:
                    out.append(f"{path}.{f.name}")
                else:
                    walk(f"{path}.{f.name}", f.dtype, fields[f.name])
        elif isinstance(new, pl.List) and isinstance(old, pl.List):
            walk(path + "[]", new.inner, old.inner)

    for col, dtype in df.schema.items():
        walk(col, dtype, table.get(col))
    return out


def finish(out: pl.DataFrame | pl.LazyFrame, targets: Mapping[str, PolarsDataType]) -> pl.DataFrame | pl.LazyFrame:
    """The run's rows as they are stored: all-NULL columns typed, zones in UTC."""
    return normalize(out, dict(targets))


def needs_finish(schema: Mapping[str, PolarsDataType], targets: Mapping[str, PolarsDataType]) -> bool:
    return any(storable(t, targets.get(c)) != t for c, t in schema.items())


def _natural(s: pl.Series) -> pl.DataType:
    """The type a text column would be inferred as (integers, 128-bit integers, else floats, else text):
    an integer past Int64 is not read as a float, which would round it."""
    if s.dtype != pl.String:
        return s.dtype
    text = s.str.strip_chars()
    for dtype in (pl.Int64(), pl.Int128(), pl.Float64()):
        try:
            text.cast(dtype, strict=True)
            return dtype
        except pl.exceptions.PolarsError:
            continue
    return pl.String()


def widen_targets(df: pl.DataFrame, targets: Mapping[str, PolarsDataType], table: Mapping[str, PolarsDataType],
                  on_schema_change: str | None, failure: Exception) -> dict[str, PolarsDataType]:
    """A file whose values do not cast to the table's types (``failure``): the targets that take
    them under ``on_schema_change: sync_all_columns`` (the table is widened by the write), or a
    ``BadFile`` naming the column, both types and the option to use."""
    out = dict(targets)
    hints: list[str] = []
    for col, old in table.items():
        if col not in df.columns or targets.get(col) != old:
            continue
        try:
            cast_column(df.get_column(col), old)
            continue
        except BadFile:
            pass
        natural = storable(_natural(df.get_column(col)), old)
        both = wider(old, natural)
        if both is None or both == old:
            continue  # not a widening: the cast's own reason stands
        if on_schema_change == "sync_all_columns":
            out[col] = both
        else:
            hints.append(f"column {col!r}: the table has {old}, this file {natural} with values that do not "
                         "fit; set on_schema_change: sync_all_columns to widen the table (it is rewritten once)")
    if hints:
        raise BadFile("; ".join(hints))
    if out == dict(targets):
        raise failure
    return out


def widened(schema: Mapping[str, PolarsDataType], table: Any) -> dict[str, PolarsDataType]:
    """The table's columns that the run's rows widen (``sync_all_columns``): ``{column: new type}``."""
    if table is None:
        return {}
    current = table_schema(table)
    out = {}
    for col, dtype in schema.items():
        old = current.get(col)
        if old is not None and old != dtype and wider(old, dtype) == dtype and not _adds_fields_only(old, dtype):
            out[col] = dtype  # (new struct fields are added by delta-rs' schema merge, no rewrite)
    return out


def rewrite(df: pl.DataFrame | pl.LazyFrame, table: Any, widen: Mapping[str, PolarsDataType], replaced: Iterable[str],
            source_column: str) -> pl.LazyFrame:
    """The whole table after a widening ingest: its rows (except those of re-ingested files)
    cast to the wider types, then the run's rows."""
    old = scan_delta(table)
    schema = old.collect_schema()
    replaced = list(replaced)
    if replaced:
        old = old.filter(~pl.col(source_column).is_in(replaced))
    old = old.with_columns(_to(pl.col(c), schema[c], t).alias(c) for c, t in widen.items() if c in schema)
    out = pl.concat([old, df.lazy()], how="diagonal_relaxed")  # streamed by the write
    names = out.collect_schema().names()
    mine = df.collect_schema().names()
    return out.select(mine + [c for c in names if c not in mine])


def drift(df: pl.DataFrame, expected: list[str]) -> pl.DataFrame | BadFile:
    """``df`` if its columns are exactly ``expected`` (``schema: strict``), else the reason."""
    cols = [c for c in df.columns if c not in META_COLUMNS]
    new = [c for c in cols if c not in expected]
    gone = [c for c in expected if c not in cols]
    if not new and not gone:
        return df
    parts = ([f"new column(s) {new}"] if new else []) + ([f"missing column(s) {gone}"] if gone else [])
    return BadFile("schema drift (schema: strict): " + "; ".join(parts))


def table_types(table: Any) -> dict[str, PolarsDataType]:
    """The data columns of an existing table and their Polars types."""
    schema = table_schema(table)
    return {c: t for c, t in schema.items() if c not in META_COLUMNS}


def conform(config: Any, df: pl.DataFrame, targets: Mapping[str, PolarsDataType],
             meta: Iterable[pl.Expr] = ()) -> pl.DataFrame:
    """Check one file against the declared columns, cast its columns to the declared /
    existing types (a value that will not cast is a bad file) and add the ``meta``
    columns, in one pass."""
    missing = [c.name for c in config.columns if c.name not in df.columns]
    if missing:
        raise BadFile(f"missing declared column(s) {missing}")
    todo = {c: t for c, t in targets.items() if c in df.columns and df.schema[c] != t}
    exprs: list[Any] = []
    if config.options.get("decimal_comma"):  # "2,5" -> "2.5" before a text column becomes a float
        df = df.with_columns(pl.col(c).str.replace(",", ".", literal=True) for c, t in todo.items()
                             if df.schema[c] == pl.String and (t.is_float() or isinstance(t, pl.Decimal)))
    for col, dtype in todo.items():
        expr = cast_expr(col, df.schema[col], dtype)
        exprs.append(expr if expr is not None else cast_column(df.get_column(col), dtype))
    try:
        return df.with_columns(*exprs, *meta)
    except pl.exceptions.PolarsError as exc:  # find the column (and a value) to name
        for col, dtype in todo.items():
            cast_column(df.get_column(col), dtype)
        raise BadFile(reason(exc)) from None

