"""Transform configuration: the keys a transform's YAML or SQL header may set.

Header annotations (``-- @key: value``) and the YAML beside a file carry the
same keys; the YAML wins. Unknown keys are errors naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import AbstractSet as Set
from typing import Any, Literal, Mapping

import yaml

from .._names import check_slug
from ..errors import ConfigError

Materialized = Literal["table", "view", "incremental"]
Strategy = Literal["append", "merge", "replace_partitions"]

_LIST_KEYS = {"unique_key", "partition_by", "tags"}
READER_OPTION_KEYS = {"separator", "encoding", "header", "has_header", "sheet", "sheet_name", "dtypes",
                      "schema_overrides", "skip_rows", "quote_char", "null_values", "infer_schema_length",
                      "comment_prefix", "decimal_comma", "try_parse_dates"}


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


@dataclass(frozen=True)
class TransformConfig:
    """Every setting a transform may carry, with its default."""

    materialized: Materialized = "table"
    strategy: Strategy | None = None
    unique_key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    delete_missing: bool = False
    on_schema_change: Literal["append_new_columns", "sync_all_columns", "fail"] | None = None
    description: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    columns: tuple[ColumnSpec, ...] = ()
    tests: tuple[SqlTestSpec, ...] = ()
    partitions: Any = None
    triggers: tuple[Mapping[str, Any], ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    # ingest transforms
    source: str | None = None
    format: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: Literal["evolve", "strict"] = "evolve"
    on_error: Literal["reject", "skip", "fail"] = "reject"
    on_change: Literal["ignore", "reingest"] = "ignore"
    settle_seconds: float | None = None  # None: RAT_SETTLE_SECONDS, else transforms/_settle.py's default
    ready_marker: str | None = None  # "_SUCCESS" (folder marker) or ".done" (x.csv.done)

    @property
    def mode(self) -> str:
        """The write mode: ``table``, ``view``, ``append``, ``merge`` or ``replace_partitions``."""
        if self.materialized == "incremental":
            return self.strategy or "append"
        return self.materialized


KNOWN_KEYS = {f.name for f in fields(TransformConfig)}
_CHOICES = {
    "materialized": ("table", "view", "incremental"),
    "strategy": ("append", "merge", "replace_partitions"),
    "schema": ("evolve", "strict"),
    "on_error": ("reject", "skip", "fail"),
    "on_change": ("ignore", "reingest"),
    "on_schema_change": ("append_new_columns", "sync_all_columns", "fail"),
    "format": ("csv", "json", "ndjson", "parquet", "excel", "xlsx"),
}

_ANNOTATION = re.compile(r"^\s*--\s*@([A-Za-z_][\w-]*)\s*:?\s*(.*?)\s*$")


def parse_annotations(sql: str, *, file: str | None = None) -> dict[str, Any]:
    """Read ``-- @key: value`` lines from the SQL text (values parsed as YAML scalars).

    >>> parse_annotations("-- @materialized: incremental\\n-- @unique_key: a, b\\nSELECT 1")
    {'materialized': 'incremental', 'unique_key': 'a, b'}
    """
    out: dict[str, Any] = {}
    for lineno, line in enumerate(sql.splitlines(), start=1):
        m = _ANNOTATION.match(line)
        if not m:
            continue
        key, raw = m.group(1), m.group(2)
        try:
            value = yaml.safe_load(raw) if raw else True
        except yaml.YAMLError:
            value = raw
        if key not in KNOWN_KEYS:
            raise ConfigError(_unknown_key_message(key), file=file, line=lineno)
        if key in _CHOICES and value is not None and value not in _CHOICES[key]:
            raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, got {value!r}", file=file, line=lineno)
        out[key] = value
    return out


def load_yaml(path: Path, *, text: str | None = None) -> dict[str, Any]:
    """Parse a transform YAML file into a mapping (errors name the file and line)."""
    try:
        data = yaml.safe_load(text if text is not None else path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError("a transform YAML must be a mapping of keys", file=str(path))
    return data


def _unknown_key_message(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint}"


def build_config(raw: Mapping[str, Any], *, file: str | None = None, ignore: Set[str] = frozenset()) -> TransformConfig:
    """Validate a raw mapping of settings into a :class:`TransformConfig`."""
    values: dict[str, Any] = {}
    options = dict(raw.get("options") or {})
    generated: list[SqlTestSpec] = []
    raw = _dbt_aliases(raw, file)
    for key, value in raw.items():
        if key in ignore:
            continue
        if key in READER_OPTION_KEYS:
            options[key] = value
            continue
        if key not in KNOWN_KEYS:
            raise ConfigError(_unknown_key_message(key), file=file)
        if key in _CHOICES and value is not None and value not in _CHOICES[key]:
            raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, got {value!r}", file=file)
        if key in _LIST_KEYS:
            value = _as_list(value)
        elif key == "columns":
            value = tuple(_column(c, file, generated) for c in (value or []))
        elif key == "tests":
            value = tuple(_sql_test(t, i, file) for i, t in enumerate(value or []))
        elif key == "triggers":
            value = tuple(value if isinstance(value, list) else [value]) if value else ()
        elif key == "delete_missing":
            value = bool(value)
        values[key] = value
    if generated or "tests" in values:
        values["tests"] = tuple(values.get("tests", ())) + tuple(generated)
        _check_test_names(values["tests"], file)
    if options:
        values["options"] = options
    if values.get("format") == "xlsx":
        values["format"] = "excel"
    cfg = TransformConfig(**values)
    _validate(cfg, file)
    return cfg


def _validate(cfg: TransformConfig, file: str | None) -> None:
    if cfg.strategy and cfg.materialized != "incremental":
        raise ConfigError(f"strategy {cfg.strategy!r} needs materialized: incremental", file=file)
    if cfg.mode == "merge" and not cfg.unique_key:
        raise ConfigError("strategy 'merge' needs unique_key", file=file)
    if cfg.mode == "replace_partitions" and not cfg.partition_by:
        raise ConfigError("strategy 'replace_partitions' needs partition_by", file=file)
    if cfg.delete_missing and cfg.mode != "merge":
        raise ConfigError("delete_missing only applies to strategy 'merge'", file=file)


def merge_config(base: TransformConfig, **overrides: Any) -> TransformConfig:
    return replace(base, **overrides)


def _as_list(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.strip("[]").split(",") if v.strip())
    return tuple(str(v) for v in value)


def _dbt_aliases(raw: Mapping[str, Any], file: str | None) -> Mapping[str, Any]:
    """dbt's ``data_tests:`` is ``tests:`` (not both)."""
    if "data_tests" not in raw:
        return raw
    if "tests" in raw:
        raise ConfigError("both tests: and data_tests: are set; use one", file=file)
    return {("tests" if k == "data_tests" else k): v for k, v in raw.items()}


def _column(raw: Any, file: str | None, generated: list[SqlTestSpec] | None = None) -> ColumnSpec:
    from ._generic_tests import _column_line, parse, to_sql

    if isinstance(raw, str):
        return ColumnSpec(name=raw)
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"each entry of columns: needs a name, got {raw!r}", file=file)
    raw = dict(_dbt_aliases(raw, file))
    unknown = set(raw) - {"name", "type", "tests", "description", "nullable"}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in column {raw['name']!r}", file=file)
    if raw.get("type") is not None:
        from .._types import parse_type

        try:
            parse_type(raw["type"])
        except ConfigError as exc:
            raise ConfigError(f"column {raw['name']!r}: {exc.message}", file=file) from None
    tests = raw.get("tests") or []
    plain = []
    for entry in (tests if isinstance(tests, list) else [tests]):
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
    from ._generic_tests import columns_used

    context = tuple(test.args.items()) + ((("column_name", test.column),) if test.column is not None else ())
    return SqlTestSpec(name=test.test_name, sql=sql, severity=test.severity, where=test.where,
                       warn_if=test.warn_if, error_if=test.error_if, columns=columns_used(test), line=test.line,
                       source=test.source, context=context if test.source else (), generated=True)


def _check_test_names(tests: tuple[SqlTestSpec, ...], file: str | None) -> None:
    """Test names are unique (also as Dagster check names) and ``schema`` is the columns' check."""
    seen: dict[str, str] = {}
    for test in tests:
        slug = check_slug(test.name)
        if slug == "schema":
            raise ConfigError(f"test name {test.name!r} is reserved for the columns: check; rename the test", file=file)
        if slug in seen:
            raise ConfigError(f"tests {seen[slug]!r} and {test.name!r} have the same name"
                              + ("" if seen[slug] == test.name else f" as checks ({slug!r})"), file=file)
        seen[slug] = test.name


def _sql_test(raw: Any, index: int, file: str | None) -> SqlTestSpec:
    from ._generic_tests import SETTINGS, _THRESHOLD, is_generic, parse, to_sql, yaml_line

    if is_generic(raw):  # dbt's table-level generic tests (unique_combination_of_columns...)
        test = parse(raw, None, file=file)
        return _generic_sql_test(test, _located(to_sql, test, file))
    if not isinstance(raw, dict) or "sql" not in raw:
        raise ConfigError(f"each entry of tests: needs sql (and a name), got {raw!r}", file=file)
    raw = dict(raw)
    config = raw.pop("config", None) or {}
    if not isinstance(config, dict) or set(config) - set(SETTINGS):
        raise ConfigError(f"config of test {raw.get('name', index)!r} takes {', '.join(SETTINGS)}", file=file)
    raw = {**raw, **config}
    unknown = set(raw) - {"name", "sql", *SETTINGS}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in test {raw.get('name', index)!r}", file=file)
    severity = raw.get("severity", "error")
    if severity not in ("error", "warn"):
        raise ConfigError(f"severity must be error or warn, got {severity!r}", file=file)
    for k in ("warn_if", "error_if"):
        if raw.get(k) is not None and not _THRESHOLD.match(str(raw[k])):
            raise ConfigError(f"{k} must be a comparison like '>10' or '>5%', got {raw[k]!r}", file=file)
    name = str(raw.get("name") or f"test_{index}")
    return SqlTestSpec(name=name, sql=str(raw["sql"]), severity=severity, where=raw.get("where"),
                       warn_if=None if raw.get("warn_if") is None else str(raw["warn_if"]),
                       error_if=None if raw.get("error_if") is None else str(raw["error_if"]),
                       line=yaml_line(file, rf"name\s*:\s*['\"]?{re.escape(name)}"))
