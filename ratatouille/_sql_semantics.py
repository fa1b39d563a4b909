"""SQL semantics Ratatouille fixes on top of Polars SQL, so numbers do not lie.

Both fixes type the query once with sqlglot's optimizer (``qualify`` + ``annotate_types``,
the registered tables' schemas) and rewrite only the nodes that need it; a query with
neither runs exactly as written.

* ``date - date`` is an integer number of days, as in DuckDB and Postgres (Polars returns
  a Duration, so ``d1 - d2 > 30`` compared with 30 microseconds): each subtraction of two
  DATE operands becomes ``CAST(a AS BIGINT) - CAST(b AS BIGINT)`` (days since the epoch).
* Integer arithmetic never wraps around silently. Polars keeps ``SUM`` of an Int32 column,
  and ``a * b`` of two, in Int32, where Postgres sums an ``int4`` into an ``int8`` and
  DuckDB into a ``HUGEINT``. ``SUM``, ``+``, ``-`` and ``*`` over a narrow integer
  (Int8/16/32, UInt8/16/32) compute in BIGINT (Int64); a column selected as it is keeps its
  type, so a transform's output types stay those of its inputs.
  The same holds for integers the SQL itself casts narrow (``CAST(s AS INT) * 1000``).
* A query the annotator cannot type is run over tables whose narrow integer columns are
  widened instead (:func:`ratatouille._sql.widen_integers`): it may return Int64 where the
  input had Int32, never a wrapped number.

>>> import datetime as dt, polars as pl
>>> frames = {"bronze.t": pl.LazyFrame({"a": [dt.date(2024, 3, 1)], "b": [dt.date(2024, 1, 1)]})}
>>> rewrite("SELECT a - b AS days FROM bronze.t", frames)
'SELECT CAST(a AS BIGINT) - CAST(b AS BIGINT) AS days FROM bronze.t'
>>> rewrite("SELECT a FROM bronze.t", frames) is None
True
>>> q = {"bronze.q": pl.LazyFrame({"n": pl.Series([2_000_000_000] * 2, dtype=pl.Int32)})}
>>> rewrite("SELECT n, SUM(n) AS total FROM bronze.q GROUP BY n", q)
'SELECT n, SUM(CAST(n AS BIGINT)) AS total FROM bronze.q GROUP BY n'
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import polars as pl
from sqlglot import exp

from ._sql_parse import Polars, parse_sql

_TYPES = {pl.Date: "DATE", pl.Datetime: "TIMESTAMP", pl.Time: "TIME", pl.Duration: "INTERVAL", pl.Boolean: "BOOLEAN",
          pl.String: "TEXT", pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INT", pl.Int64: "BIGINT",
          # unsigned narrow integers are typed as the signed type that flags them narrow: only that matters here
          pl.UInt8: "SMALLINT", pl.UInt16: "INT", pl.UInt32: "INT", pl.UInt64: "UBIGINT",
          pl.Float32: "DOUBLE", pl.Float64: "DOUBLE", pl.Decimal: "DECIMAL"}
NARROW_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)
_NARROW = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT}
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul)
_MARK = "rat_node"


class Untypable(Exception):
    """The query has narrow integers but sqlglot cannot type it: widen the tables instead."""


def rewrite(sql: str, frames: Mapping[str, pl.LazyFrame]) -> str | None:
    """``sql`` with its date differences counted in days and its narrow integer arithmetic
    in BIGINT, or ``None`` when nothing needs rewriting.

    ``frames`` are the tables the query reads (their schemas type the columns). Raises
    :class:`Untypable` when narrow integers occur in a query the annotator cannot follow
    (the caller then widens the tables); a query with only dates is then run as written.
    """
    schemas = {name: lf.collect_schema() for name, lf in frames.items()}
    narrow = any(t.base_type() in NARROW_INTEGERS for schema in schemas.values() for t in schema.dtypes()) \
        or _casts_to_narrow(sql)
    dates = "-" in sql and ("date" in sql.lower() or any(t == pl.Date for schema in schemas.values()
                                                           for t in schema.dtypes()))
    if not narrow and not dates:
        return None
    tree = parse_sql(sql)[0].copy()  # the parse is shared (cached): rewrite a copy
    kinds = (_ARITHMETIC + (exp.Sum,)) if narrow else (exp.Sub,)
    nodes = list(tree.find_all(*kinds))
    if not nodes:
        return None
    for i, node in enumerate(nodes):
        node.meta[_MARK] = i
    mapping: dict[str, Any] = {}  # sqlglot's schema: {db: {table: {column: type}}}
    for name, schema in schemas.items():
        db, table = name.split(".", 1) if "." in name else ("", name)
        mapping.setdefault(db, {})[table] = {c: _TYPES.get(t.base_type(), "UNKNOWN") for c, t in schema.items()}
    # lazy: sqlglot's optimizer (qualify, annotate_types) only for a query with narrow integers or dates
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    try:
        typed = annotate_types(qualify(tree.copy(), dialect=Polars, schema=mapping, validate_qualify_columns=False,
                                       quote_identifiers=False, identify=False, expand_stars=False),
                               schema=mapping, dialect=Polars)
    except Exception as exc:  # noqa: BLE001 - untypable: widen the tables, or run as written
        if narrow:
            raise Untypable(str(exc)) from exc
        return None
    days: set[int] = set()
    sums: set[int] = set()
    wide: set[int] = set()
    for node in typed.find_all(*kinds):
        mark = node.meta.get(_MARK)
        if mark is None:
            continue
        if isinstance(node, exp.Sub) and _is(node.left, {exp.DataType.Type.DATE}) \
                and _is(node.right, {exp.DataType.Type.DATE}):
            days.add(mark)
        elif isinstance(node, exp.Sum) and _is(_summed(node), _NARROW):
            sums.add(mark)
        elif isinstance(node, _ARITHMETIC) and (_is(node.left, _NARROW) or _is(node.right, _NARROW)) \
                and not _is(node.left, _NOT_INTEGER) and not _is(node.right, _NOT_INTEGER):
            wide.add(mark)
    if not (days or sums or wide):
        return None
    original = tree.copy()
    for node in nodes:
        mark = node.meta.get(_MARK)
        if mark in sums:
            if isinstance(node.this, exp.Distinct):  # SUM(DISTINCT n): SUM(DISTINCT CAST(n AS BIGINT))
                node.this.set("expressions", [exp.cast(e, "BIGINT", copy=False) for e in node.this.expressions])
            else:
                node.set("this", exp.cast(node.this, "BIGINT", copy=False))
        elif mark in days or mark in wide:
            node.set("this", _bigint(node.left))
            node.set("expression", _bigint(node.right))
    return _written_back(tree, original, narrow)


def _written_back(tree: exp.Expr, original: exp.Expr, narrow: bool) -> str | None:
    """The rewritten tree as SQL, checked first: written back without the rewrite, the query
    must read as it was parsed (sqlglot writes some functions in Postgres' terms that Polars
    reads otherwise). If not, the rewrite is not used: narrow integers widen the tables
    (:class:`Untypable`), a query with only dates runs as written."""
    text = original.sql(dialect=Polars)
    try:
        same = parse_sql(text)[0] == original
    except Exception:  # noqa: BLE001
        same = False
    if not same:
        if narrow:
            raise Untypable(f"sqlglot does not write this query back as written: {text}")
        return None
    return tree.sql(dialect=Polars)


_NOT_INTEGER = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIME,
                exp.DataType.Type.INTERVAL, exp.DataType.Type.TEXT, exp.DataType.Type.DOUBLE,
                exp.DataType.Type.DECIMAL, exp.DataType.Type.UNKNOWN}


def _summed(node: exp.Sum) -> exp.Expr:
    """The expression a ``SUM`` adds up (inside ``DISTINCT`` for ``SUM(DISTINCT n)``)."""
    inner = node.this
    return inner.expressions[0] if isinstance(inner, exp.Distinct) and inner.expressions else inner


# a cast to a narrow integer in the SQL itself (``CAST(s AS INT)``, ``x::int4``) makes narrow integers
# even when no input column is narrow (a string column cast in bronze, a query without tables)
_NARROW_TYPE_NAME = re.compile(r"(?i)\b(?:int|integer|int[124]|smallint|tinyint)\b")


def _casts_to_narrow(sql: str) -> bool:
    if not _NARROW_TYPE_NAME.search(sql):
        return False
    try:
        tree = parse_sql(sql)[0]
    except Exception:  # noqa: BLE001 - the guard has parsed it already; unreadable here: nothing to type
        return False
    return any(node.this in _NARROW for node in tree.find_all(exp.DataType))


def _bigint(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.BIGINT:
        return node
    return exp.cast(node, "BIGINT", copy=False)  # in place: an inner node marked for rewriting stays in the tree


def _is(node: exp.Expr, types: set) -> bool:
    return node.type is not None and node.type.this in types
