"""SQL helpers shared by SQL transforms, SQL tests and :func:`ratatouille.query`.

All parsing goes through sqlglot; execution goes through ``pl.SQLContext``
with one LazyFrame registered per referenced ``layer.name``.
"""

from __future__ import annotations

import re
from typing import Mapping

import polars as pl
import sqlglot
from sqlglot import exp

from ._sql_guard import check_sql, runnable
from ._sql_semantics import NARROW_INTEGERS, Untypable, rewrite
from .errors import SQLError


def referenced_tables(sql: str, *, transform: str | None = None, file: str | None = None,
                      line_offset: int = 0) -> list[str]:
    """Layer-qualified tables a SQL statement reads (CTE names excluded), in order.

    The SQL is checked by :func:`~ratatouille._sql_guard.check_sql` on the way: a table
    function, a file, a non-query statement or SQL that cannot be parsed is a :class:`SQLError`.

    >>> referenced_tables("WITH x AS (SELECT * FROM bronze.a) SELECT * FROM x JOIN silver.b USING (id)")
    ['bronze.a', 'silver.b']
    """
    tree = check_sql(sql, None, transform=transform, file=file, line_offset=line_offset)
    out: list[str] = []
    for table in sorted(tree.find_all(exp.Table), key=_position):
        if table.db:
            name = f"{table.db}.{table.name}".lower()
            if name not in out:
                out.append(name)
    return out


def _position(node: exp.Expression) -> int:
    meta = getattr(node.this, "meta", None) or {}
    return meta.get("start", 0) if isinstance(meta, dict) else 0


def execute_sql(sql: str, frames: Mapping[str, pl.LazyFrame], *, transform: str | None = None,
                file: str | None = None, line_offset: int = 0) -> pl.LazyFrame:
    """Run ``sql`` lazily over ``frames`` and resolve its schema (errors surface here).

    The SQL is first checked against the tables of ``frames`` (:func:`~ratatouille._sql_guard.check_sql`):
    it may read only them and its own CTEs; anything else raises :class:`SQLError` and nothing runs.
    Integer arithmetic over narrow columns computes in BIGINT and ``date - date`` counts days
    (:mod:`ratatouille._sql_semantics`).
    """
    check_sql(sql, frames.keys(), transform=transform, file=file, line_offset=line_offset)
    try:
        registered = dict(frames)
        try:
            run = rewrite(sql, registered) or sql  # integer sums in BIGINT, date - date in days
        except Untypable:  # narrow integers sqlglot cannot follow: never wrap, widen the tables
            registered = {name: widen_integers(lf) for name, lf in frames.items()}
            run = sql
        if run is not sql:
            check_sql(run, frames.keys(), transform=transform, file=file)
        ctx = pl.SQLContext(frames=registered, eager=False)
        lf = ctx.execute(runnable(run, transform=transform, file=file, line_offset=line_offset), eager=False)
        lf.collect_schema()
        return lf
    except (pl.exceptions.PolarsError, sqlglot.errors.SqlglotError) as exc:
        message = _first_line(str(exc))
        line = locate_error(sql, message)
        raise SQLError(f"SQL error: {message}", transform=transform, file=file,
                       line=(line + line_offset) if line else None) from None


_WIDER = {t: (pl.UInt64 if t in (pl.UInt8, pl.UInt16, pl.UInt32) else pl.Int64) for t in NARROW_INTEGERS}


def widen_integers(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``lf`` with its narrow integer columns widened (Int8/16/32 to Int64, UInt8/16/32 to UInt64).

    The fallback of :func:`execute_sql` for a query sqlglot cannot type, so that ``SUM`` and
    arithmetic never wrap around silently (Polars keeps an Int32 sum in Int32). The cast is
    lazy and keeps pushdown.

    >>> widen_integers(pl.LazyFrame({"q": pl.Series([1], dtype=pl.Int32)})).collect_schema()["q"]
    Int64
    """
    schema = lf.collect_schema()
    casts = [pl.col(name).cast(_WIDER[dtype.base_type()]) for name, dtype in schema.items()
             if dtype.base_type() in _WIDER]
    return lf.with_columns(casts) if casts else lf


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


_QUOTED = re.compile(r"[\"'`]([^\"'`]+)[\"'`]")


def locate_error(sql: str, message: str) -> int | None:
    """Best-effort 1-based line of the identifier a Polars SQL error names."""
    for token in _QUOTED.findall(message):
        line = _line_of(sql, token)
        if line:
            return line
    return None


def _line_of(sql: str, token: str) -> int | None:
    pattern = re.compile(r"(?<![\w.])" + re.escape(token.split(".")[-1]) + r"(?!\w)", re.IGNORECASE)
    for lineno, line in enumerate(sql.splitlines(), start=1):
        code = line.split("--", 1)[0]
        if pattern.search(code):
            return lineno
    return None


def source_line(template: str, rendered: str, line: int) -> int:
    r"""The line of a Jinja ``template`` that line ``line`` of its ``rendered`` text came from.

    Rendering drops the lines of blocks that do not render (``{% if %}`` ... ``{% endif %}``,
    ``{# ... #}``), so a line number in the rendered SQL is mapped back by aligning the two texts.

    >>> template = "SELECT a\n{% if false %}\n, b\n{% endif %}\nFROM x\nWHERE nope > 1"
    >>> source_line(template, "SELECT a\nFROM x\nWHERE nope > 1", 3)
    6
    """
    import difflib

    out = [ln.strip() for ln in rendered.splitlines()]
    src = [ln.strip() for ln in template.splitlines()]
    matcher = difflib.SequenceMatcher(a=out, b=src, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i1 <= line - 1 < i2:
            if tag == "equal":
                return j1 + (line - 1 - i1) + 1
            return j1 + min(line - 1 - i1, max(j2 - j1 - 1, 0)) + 1  # a line Jinja rewrote
    return line


def sql_literal(value) -> str:
    """Render a Python value as a SQL literal Polars understands.

    >>> sql_literal("it's")
    "'it''s'"
    """
    import datetime as dt

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"
