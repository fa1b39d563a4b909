"""dbt-style generic tests: the YAML forms dbt users write, compiled to SQL tests.

A column test is either *plain* (``not_null``, ``unique``, ``accepted_values``, ``positive``,
``min``, ``max``, ``regex`` without settings: compiled into the Pandera ``schema`` check as
before) or *configured* (a severity, ``where:``, ``warn_if``/``error_if``) or a kind Pandera
cannot express (``relationships``, ``expression_is_true``): those become SQL tests of their
own, run like ``tests:`` (one Dagster check each), exactly as dbt compiles generic tests.

Forms accepted as dbt writes them::

    - not_null
    - not_null: {config: {severity: warn}}
    - accepted_values: {values: [a, b], config: {where: "day > '2024-01-01'"}}
    - accepted_values: [a, b]                  # Ratatouille's short form
    - relationships: {to: ref('silver.customers'), field: id}
    - expression_is_true: {expression: ">= 0"}  # on a column: "<column> >= 0"
    - dbt_utils.unique_combination_of_columns: {combination_of_columns: [a, b]}   # table level

Thresholds: ``warn_if`` / ``error_if`` compare the failing-row count (``">10"``) or its share of
the (filtered) rows (``">5%"``); both default to ``"!=0"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import sqlglot
from sqlglot import exp

from .._settings import find_project_dir
from .._sql_parse import sql_file
from ..errors import ConfigError
from ._dbt_forms import dbt_arguments, model_level_column, unquoted_value

PANDERA_KINDS = ("not_null", "unique", "accepted_values", "positive", "min", "max", "regex")
COLUMN_KINDS = PANDERA_KINDS + ("relationships", "expression_is_true")
TABLE_KINDS = ("expression_is_true", "unique_combination_of_columns")
SETTINGS = ("severity", "where", "warn_if", "error_if", "on_fail", "store_failures")
# dbt config keys that document or switch a test and change nothing in its verdict: accepted as dbt users
# write them (``enabled: false`` leaves the test out: ``_dbt_forms.enabled``)
IGNORED = ("tags", "meta", "enabled", "description")
ON_FAIL = ("error", "warn", "drop", "quarantine")
# generic tests that judge each row on its own (their SQL is ``SELECT * FROM {{ this }} WHERE ...``): they
# may drop or quarantine failing rows; the others (unique...) judge groups of rows and can only error or warn
ROW_LEVEL_KINDS = ("not_null", "accepted_values", "positive", "min", "max", "regex", "relationships",
                   "expression_is_true")
_THRESHOLD = re.compile(r"^\s*(>=|<=|!=|<>|==|=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$")
_REF = re.compile(r"""^\s*(?:\{\{\s*)?ref\(\s*['"]([^'"]+)['"]\s*\)(?:\s*\}\})?\s*$""")


@dataclass(frozen=True)
class GenericTest:
    """One parsed generic test: its kind, column (None at table level), arguments and settings."""

    kind: str
    column: str | None
    args: Mapping[str, Any]
    severity: str = "error"
    where: str | None = None
    warn_if: str | None = None
    error_if: str | None = None
    name: str | None = None
    line: int | None = None
    configured: bool = False  # written with settings (config:, severity:, where:...)
    source: str | None = None  # a custom generic test: its tests/generic/<kind>.sql
    on_fail: str | None = None  # error | warn | drop | quarantine (check/_on_fail.py)
    store_failures: bool | None = None  # keep the failing rows in audit.<table>__<test> (check/_store_failures.py)

    def custom_sql(self) -> str:
        """The template text of a custom generic test (read when parsed: it is part of the code version)."""
        return sql_file(str(self.source)).text  # read once per version of the file (path, mtime, size)

    @property
    def plain(self) -> bool:
        """True when the Pandera schema check can run it (written without settings, a Pandera kind)."""
        return self.kind in PANDERA_KINDS and not self.configured and self.name is None

    def pandera_form(self) -> Any:
        """The entry ``compile_columns`` understands (``"unique"``, ``{"min": 0}``...)."""
        if self.kind in ("not_null", "unique", "positive"):
            return self.kind
        if self.kind == "accepted_values":
            return {self.kind: list(self.args["values"])}
        return {self.kind: self.args["value"]}

    @property
    def test_name(self) -> str:
        """The check's name: given with ``name:``, else ``<kind>_<column>`` as dbt names it."""
        if self.name:
            return self.name
        if self.kind == "unique_combination_of_columns":
            return "unique_combination_of_" + "_".join(self.args["columns"])
        return f"{self.kind}_{self.column}" if self.column else self.kind


def yaml_line(file: str | None, *needles: str) -> int | None:
    """The 1-based line of ``file`` where ``needles`` appear in order (each searched from the
    previous hit), for errors that name the line; None when unknown."""
    if not file or not str(file).endswith((".yaml", ".yml")):
        return None
    try:
        lines = Path(file).read_text().splitlines()
    except OSError:
        return None
    at, found = 0, None
    for needle in needles:
        pattern = re.compile(needle)
        hit = next((i for i in range(at, len(lines)) if pattern.search(lines[i])), None)
        if hit is None:
            break
        found, at = hit, hit
    return None if found is None else found + 1


def _column_line(file: str | None, column: str | None, kind: str | None = None) -> int | None:
    needles = []
    if column is not None:
        needles.append(rf"""name\s*:\s*['"]?{re.escape(column)}['"]?\s*$""")
    if kind:
        needles.append(rf"\b{re.escape(kind)}\b")
    return yaml_line(file, *needles)


def is_generic(raw: Any) -> bool:
    """True for a ``tests:`` entry written as a generic test rather than ``{name, sql}``."""
    if isinstance(raw, str):
        return True
    return isinstance(raw, dict) and "sql" not in raw and len(raw) == 1


def parse(raw: Any, column: str | None, *, file: str | None) -> GenericTest:
    """Parse one generic test entry (on ``column``, or at table level when None).

    Raises:
        ConfigError: an unknown test, a missing argument or a bad threshold, naming the YAML
            file and line.
    """
    raw, column, at_table = model_level_column(raw, column)
    kinds = COLUMN_KINDS if column is not None else TABLE_KINDS
    if isinstance(raw, str):
        key, arg = raw, None
    elif isinstance(raw, dict) and len(raw) == 1:
        key, arg = next(iter(raw.items()))
    else:
        raise ConfigError(f"a test is a name or a mapping of one test to its arguments, got {raw!r}",
                          file=file, line=_column_line(file, column))
    kind = str(key).split(".", 1)[1] if str(key).startswith("dbt_utils.") else str(key)
    line = _column_line(file, None if at_table else column, str(key))
    what = f"unknown column test {key!r} on column {column!r}" if column is not None else f"unknown test {key!r} in tests:"
    source = None if kind in kinds else custom_generic(str(key), file)
    if kind not in kinds and source is None:
        raise ConfigError(f"{what}; known: {', '.join(kinds)}"
                          + ("" if column is not None else " (or a {name, sql} SQL test)")
                          + f", or a SQL file tests/generic/{key}.sql in the project", file=file, line=line)
    settings: dict[str, Any] = {}
    args: dict[str, Any] = {}
    if isinstance(arg, dict):
        arg = dbt_arguments(dict(arg), str(key), file, line)
        config = arg.pop("config", None) or {}
        if not isinstance(config, dict):
            raise ConfigError(f"config of test {key!r} must be a mapping", file=file, line=line)
        for k in SETTINGS:
            if k in arg:
                settings[k] = arg.pop(k)
        for k in IGNORED:
            arg.pop(k, None)
        for k, v in config.items():
            if k not in SETTINGS and k not in IGNORED:
                raise ConfigError(f"unknown config key {k!r} in test {key!r}; known: {', '.join(SETTINGS)}",
                                  file=file, line=line)
            if k in SETTINGS:
                settings[k] = v
        name = arg.pop("name", None)
        args = dict(arg) if source else _args(kind, arg, column, key, file, line)
    else:
        name = None
        args = ({} if arg is None else {"value": arg}) if source else _args(kind, arg, column, key, file, line)
    severity = str(settings.get("severity", "error")).lower()
    if severity not in ("error", "warn"):
        raise ConfigError(f"severity of test {key!r} must be error or warn, got {settings['severity']!r}",
                          file=file, line=line)
    for k in ("warn_if", "error_if"):
        if k in settings and not _THRESHOLD.match(str(settings[k])):
            raise ConfigError(f"{k} of test {key!r} must be a comparison like '>10' or '>5%', got {settings[k]!r}",
                              file=file, line=line)
    on_fail = check_on_fail(settings.get("on_fail"), str(key), file=file, line=line,
                            row_level=kind in ROW_LEVEL_KINDS or source is not None)
    return GenericTest(kind, column, args, severity, settings.get("where"),
                       None if settings.get("warn_if") is None else str(settings["warn_if"]),
                       None if settings.get("error_if") is None else str(settings["error_if"]),
                       None if name is None else str(name), line, bool(settings), source, on_fail,
                       check_store_failures(settings.get("store_failures"), str(key), file=file, line=line))


def check_on_fail(value: Any, test: str, *, file: str | None, line: int | None, row_level: bool = True) -> str | None:
    """A test's ``on_fail`` (None when unset), validated.

    Parameters
    ----------
    value : Any
        The YAML value (``error``, ``warn``, ``drop`` or ``quarantine``), or None.
    test : str
        The test's name or kind, for the error.
    file, line : str, int
        Where the test is written, for the error.
    row_level : bool
        Whether the test judges each row on its own (``drop`` and ``quarantine`` need that).

    Returns
    -------
    str or None
        The validated value.

    Raises
    ------
    ConfigError
        An unknown value, or ``drop``/``quarantine`` on an aggregate test such as ``unique``.

    Examples
    --------
    >>> check_on_fail("drop", "not_null", file=None, line=None)
    'drop'
    """
    if value is None:
        return None
    text = str(value).lower()
    if text not in ON_FAIL:
        raise ConfigError(f"on_fail of test {test!r} must be one of {', '.join(ON_FAIL)}, got {value!r}",
                          file=file, line=line)
    if text in ("drop", "quarantine") and not row_level:
        raise ConfigError(f"test {test!r} is an aggregate test (it judges groups of rows, not each row), so it "  # noqa: S608 - an error message, not SQL
                          f"cannot {text} rows: use on_fail: error or warn; drop and quarantine apply to row-level "
                          f"tests ({', '.join(ROW_LEVEL_KINDS)} and SQL tests of the form "
                          "SELECT * FROM {{ this }} WHERE ...)", file=file, line=line)
    return text


def check_store_failures(value: Any, test: str, *, file: str | None, line: int | None) -> bool | None:
    """A test's ``store_failures`` (None when unset): a boolean, else a :class:`ConfigError` naming the place.

    >>> check_store_failures(True, "not_null", file=None, line=None)
    True
    """
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigError(f"store_failures of test {test!r} must be true or false, got {value!r}",
                          file=file, line=line)
    return value


def custom_generic(name: str, file: str | None) -> str | None:
    """The project's ``tests/generic/<name>.sql`` (a custom generic test, as in dbt), if it exists."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return None
    try:
        root = find_project_dir(Path(file).parent if file else None)
    except Exception:  # no project: no custom tests
        return None
    path = root / "tests" / "generic" / f"{name}.sql"
    return str(path) if path.is_file() else None


def _args(kind: str, arg: Any, column: str | None, key: Any, file: str | None, line: int | None) -> dict[str, Any]:
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ConfigError(f"test {key!r}{'' if column is None else f' on column {column!r}'} needs {what}",
                              file=file, line=line)

    def no_more(rest: Mapping[str, Any]) -> None:
        if rest:
            raise ConfigError(f"unknown argument(s) {sorted(rest)} of test {key!r}", file=file, line=line)

    rest = dict(arg) if isinstance(arg, dict) else {}
    if kind in ("not_null", "unique", "positive"):
        need(arg is None or isinstance(arg, (dict, bool)), "no arguments")
        no_more(rest)
        return {}
    if kind == "accepted_values":
        values = rest.pop("values", None) if isinstance(arg, dict) else arg
        quote = rest.pop("quote", True)
        need(isinstance(values, (list, tuple)) and len(values) > 0, "values: [a, b, ...]")
        no_more(rest)
        if quote is False or str(quote).lower() == "false":  # dbt: the values are SQL, written unquoted
            values = [unquoted_value(v, key, file, line) for v in values]
        return {"values": tuple(values)}
    if kind in ("min", "max", "regex"):
        value = rest.pop("value", None) if isinstance(arg, dict) else arg
        need(value is not None, "a value (e.g. {%s: 0})" % kind)
        no_more(rest)
        return {"value": value}
    if kind == "relationships":
        need(bool(isinstance(arg, dict) and rest.get("to") and rest.get("field")), "to: <layer>.<name> and field: <column>")
        to, fld = str(rest.pop("to")), str(rest.pop("field"))
        m = _REF.match(to)
        no_more(rest)
        return {"to": m.group(1) if m else to.strip(), "field": fld}
    if kind == "expression_is_true":
        expr = rest.pop("expression", None) if isinstance(arg, dict) else arg
        need(isinstance(expr, str) and expr.strip() != "", "expression: <SQL condition>")
        no_more(rest)
        return {"expression": expr}
    if kind == "unique_combination_of_columns":
        cols = rest.pop("combination_of_columns", None) if isinstance(arg, dict) else arg
        need(isinstance(cols, (list, tuple)) and len(cols) > 0, "combination_of_columns: [a, b, ...]")
        no_more(rest)
        return {"columns": tuple(str(c) for c in cols)}
    raise AssertionError(kind)  # pragma: no cover


_MODEL, _OTHER = "__rat_model__", "__rat_other__"  # placeholders, then {{ this }} / {{ ref('...') }}


def _condition(text: str, test: GenericTest) -> Any:
    """A SQL condition from the YAML (``where:``, ``expression:``), parsed by sqlglot: one
    condition, never a statement (``x) UNION SELECT ...`` is refused)."""
    try:
        return sqlglot.condition(text)
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"test {test.test_name!r}: {text!r} is not a SQL condition ({str(exc).splitlines()[0]})",
                          line=test.line) from None


def where_condition(text: str, *, file: str | None = None, line: int | None = None) -> Any:
    """A ``where:`` filter parsed as one SQL condition (a :class:`ConfigError` naming the place otherwise)."""
    try:
        return sqlglot.condition(text)
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"where: {text!r} is not a SQL condition ({str(exc).splitlines()[0]})",
                          file=file, line=line) from None


def to_sql(test: GenericTest) -> str:
    """The SQL (with ``{{ this }}`` / ``{{ ref(...) }}``) returning the test's failing rows, built
    with sqlglot (identifiers quoted, values as literals)."""
    if test.source:
        return test.custom_sql()
    kind, a = test.kind, test.args
    c: Any = exp.column(test.column, quoted=True) if test.column is not None else None  # None: a table-level test
    rows = exp.select("*").from_(_MODEL)
    if kind == "not_null":
        q = rows.where(c.is_(exp.null()))
    elif kind == "unique":
        count = exp.Count(this=exp.Star())
        q = (exp.select(c, exp.alias_(count, "n_records")).from_(_MODEL).where(exp.not_(c.is_(exp.null())))
             .group_by(c).having(count > 1))
    elif kind == "accepted_values":
        q = rows.where(exp.and_(exp.not_(c.is_(exp.null())), exp.not_(c.isin(*[exp.convert(v) for v in a["values"]]))))
    elif kind == "positive":
        q = rows.where(c <= 0)
    elif kind == "min":
        q = rows.where(c < exp.convert(a["value"]))
    elif kind == "max":
        q = rows.where(c > exp.convert(a["value"]))
    elif kind == "regex":
        q = rows.where(exp.not_(exp.RegexpLike(this=c, expression=exp.convert("^(?:" + str(a["value"]) + ")"))))
    elif kind == "relationships":
        parent = exp.select(exp.column(a["field"], quoted=True)).from_(_OTHER)
        q = rows.where(exp.and_(exp.not_(c.is_(exp.null())), exp.not_(c.isin(query=parent))))
    elif kind == "expression_is_true":
        text = a["expression"] if c is None else c.sql() + " " + a["expression"]
        q = rows.where(exp.not_(exp.paren(_condition(text, test))))
    elif kind == "unique_combination_of_columns":
        cols = [exp.column(x, quoted=True) for x in a["columns"]]
        count = exp.Count(this=exp.Star())
        q = exp.select(*cols, exp.alias_(count, "n_records")).from_(_MODEL).group_by(*cols).having(count > 1)
    else:  # pragma: no cover
        raise AssertionError(kind)
    sql = q.sql().replace(_MODEL, "{{ this }}")
    if kind == "relationships":
        sql = sql.replace(_OTHER, "{{ ref(" + exp.convert(a["to"]).sql() + ") }}")
    return sql


def columns_used(test: GenericTest) -> tuple[str, ...]:
    """Columns of the model the test needs (a missing one is a clear error, not a SQL one)."""
    cols = () if test.column is None else (test.column,)
    if test.kind == "unique_combination_of_columns":
        cols += tuple(test.args["columns"])
    return cols


def exceeds(threshold: str | None, count: int, total: int | None) -> bool:
    """Whether ``count`` failing rows (of ``total``) meet a ``warn_if``/``error_if`` condition."""
    m = _THRESHOLD.match(threshold or "!=0")
    if m is None:  # thresholds are checked when the YAML is read (parse_threshold)
        raise ConfigError(f"invalid threshold {threshold!r}")
    op, num, pct = m.group(1), float(m.group(2)), m.group(3) == "%"
    value = (100.0 * count / total if total else 0.0) if pct else float(count)
    return {">": value > num, ">=": value >= num, "<": value < num, "<=": value <= num,
            "=": value == num, "==": value == num, "!=": value != num, "<>": value != num}[op]


def needs_total(*thresholds: str | None) -> bool:
    return any(t is not None and t.strip().endswith("%") for t in thresholds)
