"""SQL semantics Ratatouille fixes on top of Polars SQL, so numbers do not lie.

* ``date - date`` is an integer number of days, as in DuckDB and Postgres (Polars returns
  a Duration, so ``d1 - d2 > 30`` compared with 30 microseconds). The query is typed with
  sqlglot's optimizer (the registered tables' schemas), and each subtraction of two DATE
  operands becomes ``CAST(a AS BIGINT) - CAST(b AS BIGINT)`` (days since the epoch). Only a
  query that has such a subtraction is rewritten; every other query runs as written.
* Narrow integer columns are widened where tables are registered for SQL
  (:func:`ratatouille._sql.widen_integers`), so ``SUM`` never wraps around.

>>> import datetime as dt, polars as pl
>>> frames = {"bronze.t": pl.LazyFrame({"a": [dt.date(2024, 3, 1)], "b": [dt.date(2024, 1, 1)]})}
>>> rewrite_date_differences("SELECT a - b AS days FROM bronze.t", frames)
'SELECT CAST(a AS BIGINT) - CAST(b AS BIGINT) AS days FROM bronze.t'
>>> rewrite_date_differences("SELECT a FROM bronze.t", frames) is None
True
"""

from __future__ import annotations

from typing import Mapping

import polars as pl
from sqlglot import exp

from ._sql_guard import Polars, parse_sql

_TYPES = {pl.Date: "DATE", pl.Datetime: "TIMESTAMP", pl.Time: "TIME", pl.Duration: "INTERVAL", pl.Boolean: "BOOLEAN",
          pl.String: "TEXT", pl.Int8: "BIGINT", pl.Int16: "BIGINT", pl.Int32: "BIGINT", pl.Int64: "BIGINT",
          pl.UInt8: "UBIGINT", pl.UInt16: "UBIGINT", pl.UInt32: "UBIGINT", pl.UInt64: "UBIGINT",
          pl.Float32: "DOUBLE", pl.Float64: "DOUBLE", pl.Decimal: "DECIMAL"}
_MARK = "rat_sub"


def rewrite_date_differences(sql: str, frames: Mapping[str, pl.LazyFrame]) -> str | None:
    """``sql`` with every ``date - date`` turned into a day count, or ``None`` when it has none.

    ``frames`` are the tables the query reads (their schemas type the columns). A query the
    type annotator cannot follow is left as it is (``None``).
    """
    if "-" not in sql:
        return None
    if "date" not in sql.lower() and not any(t == pl.Date for lf in frames.values() for t in lf.collect_schema().dtypes()):
        return None  # no DATE operand can exist
    tree = parse_sql(sql)[0]
    subs = list(tree.find_all(exp.Sub))
    if not subs:
        return None
    for i, node in enumerate(subs):
        node.meta[_MARK] = i
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name, lf in frames.items():
        db, table = name.split(".", 1) if "." in name else ("", name)
        cols = {c: _TYPES.get(t.base_type(), "UNKNOWN") for c, t in lf.collect_schema().items()}
        schema.setdefault(db, {})[table] = cols
    try:
        from sqlglot.optimizer.annotate_types import annotate_types
        from sqlglot.optimizer.qualify import qualify

        typed = annotate_types(qualify(tree.copy(), dialect=Polars, schema=schema, validate_qualify_columns=False,
                                       quote_identifiers=False, identify=False, expand_stars=False),
                               schema=schema, dialect=Polars)
    except Exception:  # noqa: BLE001 - untypable: run the query as written
        return None
    days = {node.meta[_MARK] for node in typed.find_all(exp.Sub)
            if _MARK in node.meta and _is_date(node.left) and _is_date(node.right)}
    if not days:
        return None
    for node in subs:
        if node.meta.get(_MARK) in days:
            node.set("this", exp.cast(node.left, "BIGINT"))
            node.set("expression", exp.cast(node.right, "BIGINT"))
    return tree.sql(dialect=Polars)


def _is_date(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this == exp.DataType.Type.DATE
