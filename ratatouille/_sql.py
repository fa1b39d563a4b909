"""SQL helpers shared by SQL transforms, SQL tests and :func:`ratatouille.query`.

All parsing goes through sqlglot; execution goes through ``pl.SQLContext``
with one LazyFrame registered per referenced ``layer.name``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

import polars as pl
import sqlglot
from sqlglot import exp

from ._sql_guard import check_sql, runnable
from ._sql_parse import lake_tables, line_of, parse_sql
from ._sql_semantics import NARROW_INTEGERS, Untypable, rewrite
from .errors import SQLError


def referenced_tables(sql: str, *, transform: str | None = None, file: str | None = None,
                      line_offset: int = 0) -> list[str]:
    """Layer-qualified tables a SQL statement reads, in the order they are written.

    The SQL is checked by :func:`~ratatouille._sql_guard.check_sql` on the way, and the
    tables found by sqlglot's scopes (:func:`~ratatouille._sql_parse.lake_tables`): a CTE
    name or a subquery alias is not a table.

    Parameters
    ----------
    sql : str
        One query (rendered, if it was a template).
    transform, file : str, optional
        Where it comes from, for errors.
    line_offset : int
        The line of ``file`` the SQL starts at, minus one.

    Returns
    -------
    list of str
        ``layer.name`` in lower case, each once.

    Raises
    ------
    SQLError
        A table function, a file, a non-query statement or SQL that cannot be parsed.

    Examples
    --------
    >>> referenced_tables("WITH x AS (SELECT * FROM bronze.a) SELECT * FROM x JOIN silver.b USING (id)")
    ['bronze.a', 'silver.b']
    """
    tree = check_sql(sql, None, transform=transform, file=file, line_offset=line_offset)
    out: list[str] = []
    for table in lake_tables(tree):
        if table.db:
            name = f"{table.db}.{table.name}".lower()
            if name not in out:
                out.append(name)
    return out


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


_WIDER: dict[Any, type[pl.DataType]] = {t: (pl.UInt64 if t in (pl.UInt8, pl.UInt16, pl.UInt32) else pl.Int64) for t in NARROW_INTEGERS}


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


_QUOTED = re.compile(r"[\"'`]([^\"'`]+)[\"'`]")  # the names a Polars error message quotes


def locate_error(sql: str, message: str) -> int | None:
    r"""The 1-based line of ``sql`` where the identifier a Polars error ``message`` names is used.

    The names come from the message (Polars reports no position); the line comes from sqlglot's
    token positions in the parsed query, so a name in a comment or a string is never taken.

    Parameters
    ----------
    sql : str
        The query that failed.
    message : str
        Polars' error message.

    Returns
    -------
    int or None
        ``None`` when the message names nothing found in the query.

    Examples
    --------
    >>> locate_error("SELECT a -- not nope\n, nope\nFROM bronze.t", 'unable to find column "nope"')
    2
    """
    try:
        tree = parse_sql(sql)[0]
    except SQLError:
        return None
    for token in _QUOTED.findall(message):
        name = token.split(".")[-1].lower()
        lines = [line_of(node) for node in tree.find_all(exp.Identifier) if node.name.lower() == name]
        found = [line for line in lines if line]
        if found:
            return min(found)
    return None


def source_line(template: str, rendered: str, line: int) -> int:
    r"""The line of a Jinja ``template`` that line ``line`` of its ``rendered`` text came from.

    Rendering drops the lines of blocks that do not render (``{% if %}`` ... ``{% endif %}``,
    ``{# ... #}``), so a line number in the rendered SQL is mapped back by aligning the two texts.

    >>> template = "SELECT a\n{% if false %}\n, b\n{% endif %}\nFROM x\nWHERE nope > 1"
    >>> source_line(template, "SELECT a\nFROM x\nWHERE nope > 1", 3)
    6
    """
    out = [ln.strip() for ln in rendered.splitlines()]
    src = [ln.strip() for ln in template.splitlines()]
    matcher = difflib.SequenceMatcher(a=out, b=src, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i1 <= line - 1 < i2:
            if tag == "equal":
                return j1 + (line - 1 - i1) + 1
            return j1 + min(line - 1 - i1, max(j2 - j1 - 1, 0)) + 1  # a line Jinja rewrote
    return line
