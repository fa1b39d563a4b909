"""The SQL layer's parser: the Polars dialect, one parse per SQL text, one read per SQL file version.

Every SQL text Ratatouille handles (a transform's rendered SQL, a SQL test, a
:func:`ratatouille.query`) is parsed by :func:`parse_sql` with sqlglot's :class:`Polars`
dialect, once: the trees are cached by text, so discovery (which finds a transform's
inputs), the guard (:mod:`ratatouille._sql_guard`), the type rewrite
(:mod:`ratatouille._sql_semantics`) and execution reuse one parse. A SQL *file* is read
once per version by :func:`sql_file` (cached by path, modification time and size).

Line numbers come from sqlglot's own token positions (:func:`line_of`), and the tables a
query reads from sqlglot's scopes (:func:`lake_tables`): a CTE name or a subquery alias is
never taken for a table.

>>> tree = parse_sql("WITH a AS (SELECT * FROM bronze.x)\\nSELECT * FROM a JOIN silver.y USING (id)")[0]
>>> [(t.sql(), line_of(t)) for t in lake_tables(tree)]
[('bronze.x', 1), ('silver.y', 2)]
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Hashable, NamedTuple, TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import NormalizationStrategy
from sqlglot.dialects.postgres import Postgres
from sqlglot.generators.postgres import PostgresGenerator
from sqlglot.parsers.postgres import PostgresParser
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from .errors import SQLError

__all__ = ["CacheInfo", "Polars", "SQLFile", "cache_info", "clear_caches", "lake_tables", "line_col", "line_of",
           "parse_sql", "sql_file"]


class Polars(Postgres):
    """sqlglot dialect for Polars SQL: Postgres plus the operators Polars adds.

    Postgres already knows ``~``, ``~*``, ``!~``, ``!~*``, ``~~``, ``~~*``, ``!~~``,
    ``!~~*``, ``^@``, ``<=>``, ``ILIKE``, ``REGEXP``/``RLIKE`` and ``::`` casts;
    Polars adds ``//`` (integer division). Identifiers are case-sensitive, as in Polars.
    """

    NORMALIZATION_STRATEGY = NormalizationStrategy.CASE_SENSITIVE

    class Tokenizer(Postgres.Tokenizer):
        KEYWORDS = {**Postgres.Tokenizer.KEYWORDS, "//": TokenType.DIV}

    class Parser(PostgresParser):
        FACTOR = {**PostgresParser.FACTOR, TokenType.DIV: exp.IntDiv}
        # Polars' LOG(x, base) is not Postgres' LOG(base, x): LOG10/LOG2 stay themselves
        FUNCTIONS = {**PostgresParser.FUNCTIONS,
                     "LOG10": lambda args: exp.Anonymous(this="LOG10", expressions=args),
                     "LOG2": lambda args: exp.Anonymous(this="LOG2", expressions=args)}

    class Generator(PostgresGenerator):
        """SQL written back (after a rewrite, :mod:`ratatouille._sql_semantics`) as Polars reads
        it, where Postgres' spelling would mean something else to Polars."""

        TYPE_MAPPING = {**PostgresGenerator.TYPE_MAPPING, exp.DataType.Type.TINYINT: "TINYINT"}
        TRANSFORMS = {
            **PostgresGenerator.TRANSFORMS,
            exp.TryCast: lambda self, e: f"TRY_CAST({self.sql(e, 'this')} AS {self.sql(e, 'to')})",
            exp.Median: lambda self, e: self.func("MEDIAN", e.this),
            exp.ArraySize: lambda self, e: self.func("ARRAY_LENGTH", e.this, e.expression),
        }


class CacheInfo(NamedTuple):
    """Hits, misses and entries of one cache (as :func:`functools.lru_cache` reports them)."""

    hits: int
    misses: int
    size: int


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A small thread-safe least-recently-used map that counts its hits and misses."""

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize, self.hits, self.misses = maxsize, 0, 0

    def get(self, key: K) -> V | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, len(self._data))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


_PARSED: _LRU[str, tuple[exp.Expr, ...]] = _LRU(1024)
_FILES: _LRU[tuple[str, int, int], "SQLFile"] = _LRU(4096)


def parse_sql(sql: str, *, transform: str | None = None, file: str | None = None,
              line_offset: int = 0) -> tuple[exp.Expr, ...]:
    """Parse ``sql`` with the :class:`Polars` dialect, once per text (the trees are cached).

    The trees are shared by every caller: read them, or ``.copy()`` one before changing it.

    Parameters
    ----------
    sql : str
        The SQL text (already rendered, if it was a Jinja template).
    transform, file : str, optional
        Where the SQL comes from, named by the error.
    line_offset : int
        Added to the line of an error (the SQL starts at this line of ``file``).

    Returns
    -------
    tuple of sqlglot.exp.Expr
        One tree per statement.

    Raises
    ------
    SQLError
        A syntax error (with its line and column), empty SQL, or SQL nested too deeply.

    Examples
    --------
    >>> [type(t).__name__ for t in parse_sql("SELECT sku FROM bronze.items WHERE sku ~ '^A'")]
    ['Select']
    >>> parse_sql("SELECT 1") is parse_sql("SELECT 1")
    True
    """
    cached = _PARSED.get(sql)
    if cached is not None:
        return cached
    try:
        trees = tuple(t for t in sqlglot.parse(sql, read=Polars) if t is not None)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = first.get("line"), first.get("col")
        msg = first.get("description") or str(exc).splitlines()[0]
        where = f" (column {col})" if col else ""
        raise SQLError(f"SQL syntax error{where}: {msg}; nothing was run", transform=transform, file=file,
                       line=(line + line_offset) if line else None) from None
    except sqlglot.errors.TokenError as exc:  # the tokenizer reports where it stopped as an offset
        end = getattr(exc, "end", None)
        line = line_col(sql, min(end, len(sql)))[0] if isinstance(end, int) else None
        raise SQLError(f"SQL syntax error: {str(exc).splitlines()[0]}; nothing was run", transform=transform,
                       file=file, line=(line + line_offset) if line else None) from None
    except sqlglot.errors.SqlglotError as exc:  # anything else the parser raises
        raise SQLError(f"SQL syntax error: {str(exc).splitlines()[0]}; nothing was run", transform=transform,
                       file=file) from None
    except RecursionError:
        raise SQLError("SQL is nested too deeply to be checked; nothing was run", transform=transform,
                       file=file) from None
    if not trees:
        raise SQLError("empty SQL", transform=transform, file=file)
    _PARSED.put(sql, trees)
    return trees


@dataclass(frozen=True)
class SQLFile:
    """One version of a SQL file: its path, text, and the stat fields that identify the version."""

    path: Path
    text: str
    mtime_ns: int
    size: int
    racy: bool = False  # modified just before it was read: checked again on use (see _racy)


def sql_file(path: str | os.PathLike[str]) -> SQLFile:
    """The text of the SQL file at ``path``, read once per version.

    The cache is keyed by the resolved path, the modification time and the size, so an
    edited file is read again and an unchanged one never is: discovery and every later step
    share one read, and through :func:`parse_sql` one parse of what it renders to. A file
    modified in the two seconds before it was read is read again on each use until it is older
    (a quick second edit of the same size may keep its timestamp).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.sql`` file.

    Returns
    -------
    SQLFile
        The file's text and version.

    Raises
    ------
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.sql"
    >>> _ = p.write_text("SELECT 1")
    >>> sql_file(p) is sql_file(p), sql_file(p).text
    (True, 'SELECT 1')
    """
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_mtime_ns, st.st_size)
    cached = _FILES.get(key)
    if cached is not None and not cached.racy:
        return cached
    read_at = time.time_ns()
    text = resolved.read_text()
    if cached is not None and cached.text == text:  # racy, yet unchanged
        entry = SQLFile(resolved, text, st.st_mtime_ns, st.st_size, racy=_racy(st.st_mtime_ns, read_at))
        if not entry.racy:
            _FILES.put(key, entry)
        return cached if entry.racy else entry
    entry = SQLFile(resolved, text, st.st_mtime_ns, st.st_size, racy=_racy(st.st_mtime_ns, read_at))
    _FILES.put(key, entry)
    return entry


# A file modified this close to its read may be written again within the same timestamp tick (file
# systems keep modification times at a coarse granularity) with the same size: its key would not
# change. As git does for its index ("racy clean" entries), such a version is read again on every use
# until its modification time is older than this.
_RACY_NS = 2_000_000_000


def _racy(mtime_ns: int, read_at_ns: int) -> bool:
    return mtime_ns >= read_at_ns - _RACY_NS


def cache_info() -> dict[str, CacheInfo]:
    """Hits and misses of the parse cache (``"parse"``) and the file cache (``"files"``).

    Returns
    -------
    dict of str to CacheInfo

    Examples
    --------
    >>> sorted(cache_info())
    ['files', 'parse']
    """
    return {"parse": _PARSED.info(), "files": _FILES.info()}


def clear_caches() -> None:
    """Forget every cached parse and file (and reset the counters).

    Examples
    --------
    >>> clear_caches(); cache_info()["parse"].size
    0
    """
    _PARSED.clear()
    _FILES.clear()


def lake_tables(tree: exp.Expr) -> list[exp.Table]:
    """The table nodes of ``tree`` that name real tables, in the order they are written.

    sqlglot's scopes decide: a name that refers to a CTE visible where it is used, or the
    alias of a subquery, is not a table; a CTE name used outside the CTE's scope is.

    Parameters
    ----------
    tree : sqlglot.exp.Expr
        A parsed query (:func:`parse_sql`).

    Returns
    -------
    list of sqlglot.exp.Table

    Raises
    ------
    sqlglot.errors.OptimizeError
        sqlglot cannot build the query's scopes (the guard refuses such SQL).

    Examples
    --------
    >>> q = "WITH s AS (SELECT 1 AS id) SELECT * FROM s JOIN (SELECT * FROM bronze.b) AS s2 USING (id)"
    >>> [t.sql() for t in lake_tables(parse_sql(q)[0])]
    ['bronze.b']
    """
    found: dict[int, exp.Table] = {}
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and not isinstance(source, Scope):
                found[id(source)] = source
    return sorted(found.values(), key=_start)


def _start(node: exp.Expr) -> int:
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta, dict) and "start" in n.meta]
    return min(starts) if starts else 0


def line_of(node: exp.Expr) -> int | None:
    """The 1-based line where ``node`` starts in the SQL it was parsed from (sqlglot's token positions).

    Comments and blank lines count, as in the text: the line is the text's.

    Parameters
    ----------
    node : sqlglot.exp.Expr

    Returns
    -------
    int or None
        ``None`` for a node built rather than parsed.

    Examples
    --------
    >>> tree = parse_sql("SELECT a\\n-- a comment\\n, b FROM t")[0]
    >>> [line_of(c) for c in tree.expressions]
    [1, 3]
    """
    lines = [n.meta["line"] for n in node.walk() if isinstance(n.meta, dict) and "line" in n.meta]
    return min(lines) if lines else None


def line_col(sql: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of character ``offset`` of ``sql``.

    Examples
    --------
    >>> line_col("SELECT 1\\nFROM t", 9)
    (2, 1)
    """
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1) + 1
