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

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import polars as pl

from ..errors import SchemaError
from ._cast import DType, Frame, _inst, _to, refuse_unstorable, storable

ON_SCHEMA_CHANGE = ("append_new_columns", "sync_all_columns", "fail")
DEFAULT_ON_SCHEMA_CHANGE = "append_new_columns"


_RANK_INT: dict[Any, int] = {pl.Int8: 1, pl.Int16: 2, pl.Int32: 3, pl.Int64: 4, pl.Int128: 5,
             pl.UInt8: 1, pl.UInt16: 2, pl.UInt32: 3, pl.UInt64: 4}
_UNIT_RANK = {"ms": 1, "us": 2, "ns": 3}
_INT_DIGITS = {1: 3, 2: 5, 3: 10, 4: 19, 5: 38}  # decimal digits holding every value of an integer rank


def wider(old: DType, new: DType) -> DType | None:
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
        return pl.Datetime(unit, old.time_zone)
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
        inner = wider(old.inner, new.inner)
        return pl.List(inner) if inner is not None else None
    return None


def _adds_fields_only(old: DType, new: DType) -> bool:
    """Whether ``new`` is ``old`` with struct fields added (at any depth) and nothing else changed."""
    if isinstance(old, pl.Struct) and isinstance(new, pl.Struct):
        fields = {f.name: f.dtype for f in new.fields}
        return all(f.name in fields and (fields[f.name] == f.dtype or _adds_fields_only(f.dtype, fields[f.name]))
                   for f in old.fields)
    if isinstance(old, pl.List) and isinstance(new, pl.List):
        return _adds_fields_only(old.inner, new.inner)
    return False


def _fits_exactly(old: DType, new: DType) -> bool:
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
        return old.inner == new.inner or _fits_exactly(old.inner, new.inner)
    return False


@dataclass
class Reconciled:
    """What the policy decided for one batch: the batch fitted to the table, and whether the
    table must be rewritten (``widen``: the table's columns and their new types)."""

    data: Frame
    widen: dict[str, DType] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    narrowed: dict[str, tuple[DType, DType]] = field(default_factory=dict)
    source: Frame | None = None  # the batch as it came (to name the column whose values do not fit)

    @property
    def rewrite(self) -> bool:
        return bool(self.widen or self.drop)


def reconcile(data: Frame, table_schema: Mapping[str, DType], *, on_schema_change: str | None = None,
              declared: Mapping[str, DType] | None = None, name: str | None = None,
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
    widen: dict[str, DType] = {}
    narrowed: dict[str, tuple[DType, DType]] = {}
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

