"""Table and workspace names: ``<layer>.<name>``, lowercase identifiers only."""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, NamedTuple

from .errors import ConfigError, TableNotFoundError, WorkspaceError

_IDENT = re.compile(r"[a-z_][a-z0-9_]*\Z")  # \Z, not $: "$" also matches before a final newline


class TableName(NamedTuple):
    """A parsed ``layer.name``."""

    layer: str
    name: str

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"


def check_identifier(value: str, what: str, *, file: str | None = None) -> str:
    """Return ``value`` if it is a lowercase identifier, else raise ConfigError."""
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ConfigError(
            f"invalid {what} {value!r}: use lowercase letters, digits and '_' "
            "(no dots, slashes or '..')",
            file=file,
        )
    return value


def parse_table_name(value: str, *, file: str | None = None) -> TableName:
    """Parse ``"silver.sales"`` into ``TableName("silver", "sales")``.

    >>> parse_table_name("silver.sales")
    TableName(layer='silver', name='sales')
    """
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2:
        raise ConfigError(f"invalid table name {value!r}: expected '<layer>.<name>'", file=file)
    return TableName(check_identifier(parts[0], "layer", file=file), check_identifier(parts[1], "name", file=file))


def table_name(value: str, *, file: str | None = None) -> str:
    """The one validator of a table name typed at an entry point (``run``, ``query``, ``read``,
    ``tools.*``, ``rat``, Dagster, ``diff``, ``promote``): ``value`` if it is ``layer.name`` with
    two lowercase identifiers, else ConfigError. Nothing else (``..``, ``/``, quotes) can reach
    a storage location.

    >>> table_name("silver.sales")
    'silver.sales'
    >>> table_name("bronze./../x")
    Traceback (most recent call last):
    ...
    ratatouille.errors.ConfigError: invalid table name 'bronze./../x': expected '<layer>.<name>'
    """
    return str(parse_table_name(value, file=file))


def check_workspace(value: str) -> str:
    """Validate a workspace name (a simple identifier)."""
    if not isinstance(value, str) or not _IDENT.match(value):
        raise WorkspaceError(f"invalid workspace name {value!r}: use a simple lowercase identifier")
    return value


_NOT_CHECK_CHAR = re.compile(r"[^A-Za-z0-9_]")


def check_slug(name: str) -> str:
    """A check name as Dagster accepts it (letters, digits and ``_``).

    >>> check_slug("no-negative totals"), check_slug("1st")
    ('no_negative_totals', 'check_1st')
    """
    clean = _NOT_CHECK_CHAR.sub("_", name).strip("_") or "check"
    return clean if not clean[0].isdigit() else f"check_{clean}"


def not_found(name: str, known: Iterable[str], *, what: str = "table", **where: Any) -> TableNotFoundError:
    """A TableNotFoundError for ``name`` that lists the closest known names."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else (
        f"; known: {', '.join(known[:20])}" if known else "; no tables are defined yet"
    )
    return TableNotFoundError(f"unknown {what} {name!r}{hint}", **where)
