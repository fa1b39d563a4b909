"""The data-quality settings of a transform: ``columns:`` and SQL ``tests:``, checked once.

:class:`Checks` holds :class:`ColumnSpec` entries (a Pandera schema) and :class:`SqlTestSpec`
entries (queries that pass when they return no rows); dbt's generic tests become either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from .._names import check_slug
from .._types import parse_type
from ..errors import ConfigError
from ._dbt_forms import enabled
from ._generic_tests import (IGNORED, SETTINGS, _THRESHOLD, _column_line, check_on_fail, check_store_failures,
                             columns_used, is_generic, parse, to_sql, yaml_line)


@dataclass(frozen=True)
class ColumnSpec:
    """One entry of ``columns:``: a name, an optional type and column tests."""

    name: str
    type: str | None = None
    tests: tuple[Any, ...] = ()
    description: str | None = None
    nullable: bool = True
    line: int | None = None  # the YAML line of its ``name:``, for errors


@dataclass(frozen=True)
class SqlTestSpec:
    """One entry of ``tests:``: a SQL query that passes when it returns no rows."""

    name: str
    sql: str
    severity: Literal["error", "warn"] = "error"
    where: str | None = None  # a filter on {{ this }} before the test
    warn_if: str | None = None  # thresholds on the failing rows: ">10", ">5%"
    error_if: str | None = None
    columns: tuple[str, ...] = ()  # columns of {{ this }} a generic test needs
    line: int | None = None  # the YAML line that declares it
    source: str | None = None  # a custom generic test's tests/generic/<name>.sql
    context: tuple[tuple[str, Any], ...] = ()  # its Jinja names: column_name and the YAML arguments
    generated: bool = False  # a generic test (its SQL is not in the YAML)
    on_fail: str | None = None  # error | warn | drop | quarantine (check/_on_fail.py)
    store_failures: bool | None = None  # None: the project's store_failures setting


@dataclass(frozen=True)
class Checks:
    """The data-quality settings: ``columns:`` (a Pandera schema) and SQL ``tests:``."""

    columns: tuple[ColumnSpec, ...] = ()
    tests: tuple[SqlTestSpec, ...] = ()


def _dbt_aliases(raw: Mapping[str, Any], file: str | None) -> Mapping[str, Any]:
    """dbt's ``data_tests:`` is ``tests:`` (not both)."""
    if "data_tests" not in raw:
        return raw
    if "tests" in raw:
        raise ConfigError("both tests: and data_tests: are set; use one", file=file)
    return {("tests" if k == "data_tests" else k): v for k, v in raw.items()}


def _column(raw: Any, file: str | None, generated: list[SqlTestSpec] | None = None) -> ColumnSpec:
    if isinstance(raw, str):
        return ColumnSpec(name=raw)
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"each entry of columns: needs a name, got {raw!r}", file=file)
    raw = dict(_dbt_aliases(raw, file))
    unknown = set(raw) - {"name", "type", "tests", "description", "nullable"}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in column {raw['name']!r}", file=file)
    if raw.get("type") is not None:
        try:
            parse_type(raw["type"])
        except ConfigError as exc:
            raise ConfigError(f"column {raw['name']!r}: {exc.message}", file=file) from None
    tests = raw.get("tests") or []
    plain = []
    for entry in (tests if isinstance(tests, list) else [tests]):
        if not enabled(entry):  # dbt's enabled: false
            continue
        test = parse(entry, str(raw["name"]), file=file)
        if test.plain:
            plain.append(test.pandera_form())
        elif generated is not None:
            generated.append(_generic_sql_test(test, _located(to_sql, test, file)))
    return ColumnSpec(name=str(raw["name"]), type=raw.get("type"), tests=tuple(plain),
                      description=raw.get("description"), nullable=raw.get("nullable", True),
                      line=_column_line(file, str(raw["name"])))


def _located(fn: Any, test: Any, file: str | None) -> str:
    """``fn(test)``, its ConfigError naming ``file``."""
    try:
        return fn(test)
    except ConfigError as exc:
        raise exc.locate(file=file) from None


def _generic_sql_test(test: Any, sql: str) -> SqlTestSpec:
    context = tuple(test.args.items()) + ((("column_name", test.column),) if test.column is not None else ())
    return SqlTestSpec(name=test.test_name, sql=sql, severity=test.severity, where=test.where,
                       warn_if=test.warn_if, error_if=test.error_if, columns=columns_used(test), line=test.line,
                       source=test.source, context=context if test.source else (), generated=True,
                       on_fail=test.on_fail, store_failures=test.store_failures)


def _check_test_names(tests: tuple[SqlTestSpec, ...], file: str | None) -> None:
    """Test names are unique (also as Dagster check names, and case-insensitively: the name of a
    test's ``store_failures`` table, like any table name, ignores case) and ``schema`` is the
    columns' check."""
    seen: dict[str, str] = {}
    for test in tests:
        slug = check_slug(test.name)
        if slug.lower() == "schema":
            raise ConfigError(f"test name {test.name!r} is reserved for the columns: check; rename the test", file=file)
        other = seen.get(slug.lower())
        if other is not None:
            raise ConfigError(f"tests {other!r} and {test.name!r} have the same name"
                              + ("" if other == test.name else f" as checks and tables ({slug.lower()!r})"),
                              file=file)
        seen[slug.lower()] = test.name


def _sql_test(raw: Any, index: int, file: str | None) -> SqlTestSpec:
    if is_generic(raw):  # dbt's table-level generic tests (unique_combination_of_columns...)
        test = parse(raw, None, file=file)
        return _generic_sql_test(test, _located(to_sql, test, file))
    if not isinstance(raw, dict) or "sql" not in raw:
        raise ConfigError(f"each entry of tests: needs sql (and a name), got {raw!r}", file=file)
    raw = dict(raw)
    config = raw.pop("config", None) or {}
    if not isinstance(config, dict) or set(config) - set(SETTINGS) - set(IGNORED):
        raise ConfigError(f"config of test {raw.get('name', index)!r} takes {', '.join(SETTINGS)}", file=file)
    raw = {**raw, **config}
    unknown = set(raw) - {"name", "sql", *SETTINGS, *IGNORED}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in test {raw.get('name', index)!r}", file=file)
    written = str(raw.get("severity", "error")).lower()  # dbt writes warn or WARN
    if written not in ("error", "warn"):
        raise ConfigError(f"severity must be error or warn, got {raw.get('severity')!r}", file=file)
    severity: Literal["error", "warn"] = "warn" if written == "warn" else "error"
    for k in ("warn_if", "error_if"):
        if raw.get(k) is not None and not _THRESHOLD.match(str(raw[k])):
            raise ConfigError(f"{k} must be a comparison like '>10' or '>5%', got {raw[k]!r}", file=file)
    name = str(raw.get("name") or f"test_{index}")
    line = yaml_line(file, rf"name\s*:\s*['\"]?{re.escape(name)}")
    return SqlTestSpec(name=name, sql=str(raw["sql"]), severity=severity, where=raw.get("where"),
                       warn_if=None if raw.get("warn_if") is None else str(raw["warn_if"]),
                       error_if=None if raw.get("error_if") is None else str(raw["error_if"]),
                       line=line, on_fail=check_on_fail(raw.get("on_fail"), name, file=file, line=line),
                       store_failures=check_store_failures(raw.get("store_failures"), name, file=file, line=line))
