"""The one builder of delta-rs (DataFusion SQL) predicates: every identifier and literal quoted.

Used for merge conditions, partition overwrites (``replace_partitions`` and a
Dagster partition), ingest's re-ingest overwrite and anything else handed to
delta-rs as a predicate string, so a column called ``order date`` or ``a.b``
and a value such as ``O'Brien`` are never read as SQL.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ._literals import DELTA
from ._literals import literal as _literal


def ident(name: str, alias: str | None = None) -> str:
    """A quoted identifier (``"order date"``), optionally qualified by a quoted alias.

    >>> ident("order date"), ident('we"ird'), ident("k", "t")
    ('"order date"', '"we""ird"', '"t"."k"')
    """
    quoted = '"' + str(name).replace('"', '""') + '"'
    return f'"{alias}".{quoted}' if alias else quoted


def literal(value: Any) -> str:
    """A value as a DataFusion literal: :func:`ratatouille._literals.literal` with ``dialect="delta"``.

    Strings quoted (``'O''Brien'``), dates and timestamps as ISO strings (delta-rs coerces
    them to the column's type; zone-aware ones carry their offset), decimals exact, NaN and
    infinities as typed casts.

    >>> import datetime as dt, decimal
    >>> literal("O'Brien"), literal(dt.date(2024, 1, 2)), literal(True), literal(decimal.Decimal("1.50"))
    ("'O''Brien'", "'2024-01-02'", 'true', '1.50')
    """
    return _literal(value, dialect=DELTA)


def equals(column: str, value: Any) -> str:
    """``column = value``, or ``column IS NULL`` for ``None``.

    >>> equals("order date", None), equals("a.b", "x")
    ('"order date" IS NULL', '"a.b" = \\'x\\'')
    """
    return f"{ident(column)} IS NULL" if value is None else f"{ident(column)} = {literal(value)}"


def rows_match(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A predicate matching exactly the given value combinations of ``columns``.

    >>> rows_match(["d"], [("a",), ("b",)])
    '("d" = \\'a\\') OR ("d" = \\'b\\')'
    """
    return " OR ".join("(" + " AND ".join(equals(c, v) for c, v in zip(columns, row)) + ")" for row in rows)


def is_in(column: str, values: Iterable[Any]) -> str:
    """``column IN (v1, v2, ...)``.

    >>> is_in("_source_file", ["a.csv", "it's.csv"])
    '"_source_file" IN (\\'a.csv\\', \\'it\\'\\'s.csv\\')'
    """
    return f"{ident(column)} IN (" + ", ".join(literal(v) for v in values) + ")"


def assignments(columns: Sequence[str], target: str = "t", source: str = "s") -> dict[str, str]:
    """A merge's ``SET``/``INSERT`` list, every column from the source: ``{'"t"."k"': '"s"."k"'}``.

    delta-rs' ``when_matched_update_all``/``when_not_matched_insert_all`` wrap names in backticks
    without escaping them, so a column called ``a`b`` or ```x``` broke the merge.

    >>> assignments(["a`b"])
    {'"t"."a`b"': '"s"."a`b"'}
    """
    return {ident(c, target): ident(c, source) for c in columns}


def join_on(keys: Sequence[str], left: str = "t", right: str = "s") -> str:
    """A merge condition ``"t"."k" = "s"."k" AND ...``.

    >>> join_on(["order id"])
    '"t"."order id" = "s"."order id"'
    """
    return " AND ".join(f"{ident(k, left)} = {ident(k, right)}" for k in keys)
