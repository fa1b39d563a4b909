"""dbt's YAML forms of a generic test, read as dbt reads them: the model-level form of a column test
(``- not_null: {column_name: id}``), dbt 1.10's ``arguments:``, ``enabled: false`` and the values of
``accepted_values`` written with ``quote: false``. :mod:`._generic_tests` parses the entries these
normalize."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from ..errors import ConfigError


def model_level_column(raw: Any, column: str | None) -> tuple[Any, str | None, bool]:
    """dbt's model-level form of a column test, ``- not_null: {column_name: id}`` in the table's
    ``tests:``: the entry without ``column_name``, the column, and whether it was written so."""
    if column is not None or not isinstance(raw, dict) or len(raw) != 1:
        return raw, column, False
    key, arg = next(iter(raw.items()))
    if not isinstance(arg, dict):
        return raw, column, False
    found = arg.get("arguments")
    inner: dict[str, Any] = found if isinstance(found, dict) else {}
    if "column_name" in arg:
        arg = dict(arg)
        named = arg.pop("column_name")
    elif "column_name" in inner:
        arg = {**arg, "arguments": {k: v for k, v in inner.items() if k != "column_name"}}
        named = inner["column_name"]
    else:
        return raw, column, False
    return {key: arg}, str(named), True


def dbt_arguments(arg: dict[str, Any], key: str, file: str | None, line: int | None) -> dict[str, Any]:
    """dbt 1.10's form: the test's arguments under ``arguments:`` (its settings beside them, or in ``config:``)."""
    if "arguments" not in arg:
        return arg
    inner = arg.pop("arguments")
    if not isinstance(inner, dict):
        raise ConfigError(f"arguments of test {key!r} must be a mapping", file=file, line=line)
    clash = sorted(set(inner) & set(arg))
    if clash:
        raise ConfigError(f"test {key!r} sets {clash} both in arguments: and beside it", file=file, line=line)
    return {**arg, **inner}


def enabled(raw: Any) -> bool:
    """False for a test written with ``enabled: false`` (beside its arguments or in its ``config:``), as
    dbt leaves such a test out.

    Parameters
    ----------
    raw : Any
        One entry of ``tests:`` / ``data_tests:`` as read from the YAML.

    Returns
    -------
    bool
        Whether the test runs.

    Examples
    --------
    >>> enabled("not_null"), enabled({"not_null": {"config": {"enabled": False}}})
    (True, False)
    >>> enabled({"name": "t", "sql": "SELECT 1", "enabled": False})
    False
    """
    if not isinstance(raw, dict):
        return True
    body = raw if "sql" in raw or len(raw) != 1 else next(iter(raw.values()))
    if not isinstance(body, dict):
        return True
    config = body.get("config")
    flags = [body.get("enabled"), config.get("enabled") if isinstance(config, dict) else None]
    return not any(flag is False or str(flag).lower() == "false" for flag in flags if flag is not None)


def unquoted_value(value: Any, key: Any, file: str | None, line: int | None) -> Any:
    """A value of ``accepted_values`` with ``quote: false``: the SQL literal it is (``'10'`` is the number 10,
    ``"true"`` the boolean), as dbt writes it into the query unquoted."""
    if not isinstance(value, str):
        return value
    try:
        node = sqlglot.parse_one(value)
    except sqlglot.errors.ParseError:
        node = None
    sign = 1
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        node, sign = node.this, -1
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else sign * (int(node.this) if node.is_int else float(node.this))
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    raise ConfigError(f"test {key!r}: with quote: false each value is a SQL literal (a number, true/false or "
                      f"'text'), got {value!r}", file=file, line=line)
