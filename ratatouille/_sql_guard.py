"""What user SQL may reach: the lake's tables and the query's own CTEs and subqueries, nothing else.

Polars' SQL engine offers table functions that read files and URLs (``read_csv``,
``read_parquet``, ``read_json``, ``read_ipc``, ``read_delta``, and any it adds
later). SQL in Ratatouille comes from transforms, SQL tests and :func:`ratatouille.query`
(behind notebooks and UIs), so every statement is parsed with sqlglot (the
:class:`Polars` dialect below) and checked against an ALLOW-list before Polars sees it:

* the statement is one query (``SELECT``, ``WITH``, ``UNION``/``INTERSECT``/``EXCEPT``,
  ``VALUES``); DDL, ``SHOW``, ``EXPLAIN``, ``COPY`` and several statements are refused;
* every ``FROM``/``JOIN`` source is a plain table identifier (a lake table
  ``layer.name`` registered for the query, or a CTE of the same query), a
  parenthesised subquery, or ``VALUES``; a function, ``UNNEST``, a string or
  anything else in a table position is refused;
* SQL the parser cannot analyse is refused (fail closed), never run unchecked.

Scalar functions stay allowed. Errors are :class:`~ratatouille.errors.SQLError`
naming the transform, the file and the line (and the column within the line).

Example
-------
>>> check_sql("SELECT * FROM read_csv('pyproject.toml')")
Traceback (most recent call last):
...
ratatouille.errors.SQLError: line 1: table function READ_CSV(...) is not allowed: SQL may read only the lake's tables (layer.name) and the query's own CTEs (at line 1, column 15)
"""

from __future__ import annotations

import re
from typing import Iterable, Protocol

from sqlglot import exp
from sqlglot.tokens import TokenType

from ._sql_parse import Polars, lake_tables, line_col, parse_sql
from .errors import SQLError

__all__ = ["Polars", "check_sql", "parse_sql", "runnable"]


class _Refuse(Protocol):
    """The error for a refused part of the query (built by :func:`check_sql`, located in its text)."""

    def __call__(self, what: str, node: exp.Expr | None, *, at: int | None = None,
                 why: str | None = None) -> SQLError: ...


# statement kinds a query may be (sqlglot node types at the root, after parentheses)
_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Values)
# a Table node may carry an alias, hints and joins; anything else (catalog, time travel,
# ROWS FROM, CHANGES, ...) is not a plain lake table
_TABLE_ARGS = {"this", "db", "alias", "joins", "laterals", "pivots", "hints", "only"}


def check_sql(sql: str, allowed: Iterable[str] | None = None, *, transform: str | None = None,
              file: str | None = None, line_offset: int = 0) -> exp.Expr:
    """Parse ``sql`` and refuse it unless it reads only allowed tables; returns the parsed query.

    Parameters
    ----------
    sql: one SQL query.
    allowed: the ``layer.name`` tables registered for it (case-insensitive); ``None`` accepts
        any layer-qualified name (used to discover a transform's inputs before they are known).
    transform, file, line_offset: where the SQL comes from, for the error.

    Raises
    ------
    SQLError: a syntax error, a statement that is not a query, several statements, or a
        table position holding anything but an allowed table, a CTE, a subquery or VALUES.

    >>> check_sql("WITH x AS (SELECT * FROM bronze.a) SELECT * FROM x", {"bronze.a"}).sql()
    'WITH x AS (SELECT * FROM bronze.a) SELECT * FROM x'
    """
    trees = parse_sql(sql, transform=transform, file=file, line_offset=line_offset)

    def refuse(what: str, node: exp.Expr | None, *, at: int | None = None, why: str | None = None) -> SQLError:
        line, col = _position(sql, node) if at is None else line_col(sql, at)
        if line and col and what.startswith("table function "):  # the name as written, not sqlglot's
            offset = len("".join(sql.splitlines(keepends=True)[:line - 1])) + col - 1
            m = re.match(r'"?([A-Za-z_]\w*)"?\s*(?:/\*.*?\*/\s*)?\(', sql[offset:], re.S)
            if m:
                what = f"table function {m.group(1).upper()}(...)"
        where = f" (at line {line}, column {col})" if line and col else ""
        why = why or "is not allowed: SQL may read only the lake's tables (layer.name) and the query's own CTEs"
        return SQLError(f"{what} {why}{where}", transform=transform, file=file,
                        line=(line + line_offset) if line else None)

    try:
        return _check(sql, trees, allowed, refuse)
    except SQLError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: what cannot be checked does not run
        raise SQLError(f"SQL could not be checked ({type(exc).__name__}); nothing was run", transform=transform,
                       file=file) from None


def _check(sql: str, trees: tuple[exp.Expr, ...], allowed: Iterable[str] | None, refuse: _Refuse) -> exp.Expr:
    if len(trees) > 1:
        raise refuse("a second SQL statement", trees[1])
    tree = trees[0]
    root = tree
    while isinstance(root, (exp.Subquery, exp.Paren)):
        root = root.this
    if not isinstance(root, _QUERY_ROOTS):
        raise refuse(f"a {tree.key.upper()} statement (only queries may run)", None)
    allow = {a.lower() for a in allowed} if allowed is not None else None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    try:  # sqlglot's scopes: an unqualified name a scope resolves to a table is no CTE visible there
        real: set[int] | None = {id(t) for t in lake_tables(tree)}
    except Exception:  # noqa: BLE001 - no scopes: the names of the query's CTEs decide, as before
        real = None
    for node in tree.walk():
        if isinstance(node, (exp.From, exp.Join, exp.Lateral)) or _is_table_position(node):
            source = node.this if isinstance(node, (exp.From, exp.Join)) else node
            if isinstance(node, exp.Lateral):
                raise refuse("LATERAL", node)
            _check_source(source, refuse)
        if isinstance(node, exp.Table):
            _check_table(node, allow, ctes if real is None or id(node) not in real else set(), refuse)
        elif isinstance(node, (exp.Command, exp.DDL, exp.DML)):
            raise refuse(f"a {node.key.upper()} statement", node)
    _check_raw(sql, refuse)
    return tree


def _is_table_position(node: exp.Expr) -> bool:
    """A node the parser put where a table goes (a FROM item's own joins are Joins, walked too)."""
    return isinstance(node, (exp.Unnest, exp.TableFromRows)) and isinstance(node.parent, (exp.From, exp.Join))


def _check_source(source: exp.Expr, refuse: _Refuse) -> None:
    if isinstance(source, exp.Table):
        return  # checked as a Table
    if isinstance(source, exp.Subquery) and isinstance(_unparen(source.this), (*_QUERY_ROOTS,)):
        return  # its own FROMs are walked
    if isinstance(source, exp.Values):
        return
    raise refuse(_describe(source), source)


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, (exp.Subquery, exp.Paren)):
        node = node.this
    return node


def _check_table(table: exp.Table, allow: set[str] | None, ctes: set[str], refuse: _Refuse) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise refuse(_describe(table.this), table)
    extra = [k for k, v in table.args.items() if v not in (None, [], False) and k not in _TABLE_ARGS]
    if extra or table.args.get("catalog"):
        raise refuse(f"table reference {table.sql(dialect=Polars)!r}", table)
    name = table.name.lower()
    if not table.db:
        if name in ctes:
            return
        raise refuse(f"table {table.name!r}", table,
                     why=f"is not layer-qualified (nor a CTE of this query): write <layer>.{table.name} "
                         f"(e.g. silver.{table.name})")
    if not isinstance(table.args.get("db"), exp.Identifier):
        raise refuse(f"table reference {table.sql(dialect=Polars)!r}", table)
    qualified = f"{table.db}.{table.name}".lower()
    if allow is not None and qualified not in allow:
        raise refuse(f"table {qualified}", table, why="is not a lake table registered for this query")


def _describe(node: exp.Expr | None) -> str:
    if node is None:
        return "an empty table reference"
    if isinstance(node, exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
        return f"table function {name.upper()}(...)"
    if isinstance(node, exp.Literal):
        return f"a literal {node.sql(dialect=Polars)} in a table position"
    return f"{node.key.upper()} in a table position"


# defence in depth: the decision above is made on sqlglot's parse, Polars parses again with its own
# parser. A table-function call anywhere in the raw text (even where sqlglot saw a comment or a string)
# is refused too, so a difference between the two parsers cannot smuggle one through.
# (The names of Polars' readers only: the decision itself is the allow-list above.)
_RAW_TABLE_FUNCTION = re.compile(r"\bread_(?:csv|parquet|json|ndjson|ipc|delta|avro|excel|database|lines)\w*\s*\(",
                                 re.IGNORECASE)


def _check_raw(sql: str, refuse: _Refuse) -> None:
    m = _RAW_TABLE_FUNCTION.search(sql)
    if m:
        name = m.group(0).rstrip("( \t\r\n").upper()
        raise refuse(f"table function {name}(...)", None, at=m.start())


def _position(sql: str, node: exp.Expr | None) -> tuple[int | None, int | None]:
    """1-based (line, column) where ``node`` starts in ``sql`` (from the parser's token positions)."""
    if node is None:
        return None, None
    starts = []
    for n in node.walk():
        meta = n.meta if isinstance(getattr(n, "meta", None), dict) else {}
        if "start" in meta:
            starts.append(meta["start"])
        for arg in ("this",):
            ident = n.args.get(arg) if isinstance(n, exp.Expr) else None
            if isinstance(ident, exp.Identifier) and "start" in ident.meta:
                starts.append(ident.meta["start"])
    if not starts:
        return None, None
    start = min(starts)
    # a function's name precedes its arguments: step back to the name
    func = node.this if isinstance(node, exp.Table) else node
    if isinstance(func, exp.Func):
        name = str(func.this) if isinstance(func, exp.Anonymous) else func.sql_name()
        found = sql.lower().rfind(name.lower(), 0, start)
        if found >= 0:
            start = found
    return line_col(sql, start)


# -- what Polars is handed: the tokens the guard checked, and nothing between them ----------------------
# Polars parses the SQL again with its own lexer, which differs from sqlglot's on comments and quoting:
# it runs the inside of a MySQL-style ``/*! ... */`` comment as SQL, does not nest ``/* */`` comments,
# does not end a ``--`` comment at a lone carriage return. Text sqlglot saw as a comment (and the guard
# therefore never checked) could thus run. So Polars never gets the text as written: it gets sqlglot's
# tokens, each string and quoted name rewritten in the one plain form both lexers read alike, and
# whitespace (keeping the line breaks, for error lines) where comments were.
_PLAIN_STRINGS = {TokenType.STRING, TokenType.HEREDOC_STRING}
_ODD = re.compile(r"['\"`\\$\x00-\x1f\x7f]|/\*|\*/|--")  # quoting, comment or control characters in another token
_BINARY_STRINGS = {TokenType.HEX_STRING: re.compile(r"^[xX]'[0-9A-Fa-f]*'$"),
                   TokenType.BIT_STRING: re.compile(r"^[bB]'[01]*'$")}


def _blank(gap: str) -> str:
    """What lies between two tokens, as plain ASCII whitespace (a comment, NUL or Unicode space is
    not passed on: only its line breaks, or one space)."""
    if not gap or gap.strip(" \t\r\n") == "" and gap.isascii():
        return gap
    return "\n" * gap.count("\n") or " "


def runnable(sql: str, *, transform: str | None = None, file: str | None = None, line_offset: int = 0) -> str:
    """The text of ``sql`` to hand to Polars: exactly the tokens sqlglot read (and :func:`check_sql`
    checked), comments replaced by whitespace, strings as ``'...'`` and quoted names as ``"..."``.

    Call it on SQL that :func:`check_sql` accepted; the result means the same query.

    Raises
    ------
    SQLError: a string form the two parsers may read differently (``E'...'``, ``N'...'``,
        ``U&'...'``, raw strings), or text sqlglot cannot tokenize.

    >>> runnable("SELECT 1 AS a /*! , * FROM read_csv('x') */ FROM t -- note")
    'SELECT 1 AS a FROM t '
    >>> print(runnable("SELECT $$it's$$ AS x"))
    SELECT 'it''s' AS x
    """
    try:
        tokens = Polars().tokenize(sql)
    except Exception as exc:  # noqa: BLE001 - fail closed
        raise SQLError(f"SQL syntax error: {str(exc).splitlines()[0]}; nothing was run", transform=transform,
                       file=file) from None
    out: list[str] = []
    pos = 0
    for tok in tokens:
        gap = sql[pos:tok.start]
        if gap:
            out.append(_blank(gap))
        raw = sql[tok.start:tok.end + 1]
        kind = tok.token_type
        if kind in _PLAIN_STRINGS:
            out.append("'" + tok.text.replace("'", "''") + "'")
        elif kind == TokenType.IDENTIFIER:
            out.append('"' + tok.text.replace('"', '""') + '"')
        elif kind in _BINARY_STRINGS and _BINARY_STRINGS[kind].fullmatch(raw):
            out.append(raw)
        elif kind.name.endswith("STRING") or _ODD.search(raw):
            line, _ = line_col(sql, tok.start)
            raise SQLError(f"{raw[:40]!r} is a form of SQL text Polars may read differently; write strings as "
                           f"'...' and names as \"...\"", transform=transform, file=file, line=line + line_offset)
        else:
            out.append(raw)
        pos = tok.end + 1
    tail = sql[pos:]
    out.append(_blank(tail))
    return "".join(out)
