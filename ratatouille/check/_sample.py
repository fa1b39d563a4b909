"""Failing-row samples kept small: the rows a check reports (:meth:`CheckResult.to_dict`) (in the ``RunResult``, ``rat test --json``
and Dagster's check metadata) are clipped, a long text or binary value to its first characters and a
wide row to its first columns, so one row of megabyte strings cannot blow up a result or Dagster's
event log. The stored failures (``store_failures``) and quarantine tables keep the rows whole."""

from __future__ import annotations

from typing import Any, Mapping

MAX_CHARS = 200  # per text value
MAX_ITEMS = 20  # per list value
MAX_COLUMNS = 50  # per row


def clip_value(value: Any, max_chars: int = MAX_CHARS) -> Any:
    """``value`` with long texts, bytes and lists cut (nested values too).

    Parameters
    ----------
    value : Any
        One value of a failing row.
    max_chars : int
        The longest text kept.

    Returns
    -------
    Any
        The value, or a shortened copy.

    Examples
    --------
    >>> clip_value("x" * 500, 20)
    'xxxxxxx… (500 chars)'
    >>> clip_value(clip_value("x" * 500, 20), 20) == clip_value("x" * 500, 20)
    True
    >>> clip_value([1, "abcdefghijklmnopqrstuvwxyz"], 16), clip_value(7)
    ([1, 'abcd… (26 chars)'], 7)
    """
    if isinstance(value, str):  # clipped to at most max_chars, so clipping twice changes nothing
        if len(value) <= max_chars:
            return value
        suffix = f"… ({len(value)} chars)"
        return value[:max(max_chars - len(suffix), 0)] + suffix
    if isinstance(value, (bytes, bytearray)):
        return value if len(value) <= max_chars else f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        items = [clip_value(v, max_chars) for v in value[:MAX_ITEMS]]
        return items + ([f"… ({len(value)} items)"] if len(value) > MAX_ITEMS else [])
    if isinstance(value, Mapping):
        return clip_row(value, max_chars)
    return value


def clip_row(row: Mapping[str, Any], max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """A failing row with its values clipped (:func:`clip_value`) and at most ``MAX_COLUMNS`` columns.

    Parameters
    ----------
    row : mapping
        The row, column name to value.
    max_chars : int
        The longest text kept.

    Returns
    -------
    dict
        The clipped row; a wider row ends with a ``"…"`` entry counting the columns left out.

    Examples
    --------
    >>> clip_row({"id": 1, "blob": "y" * 300}, 18)
    {'id': 1, 'blob': 'yyyyy… (300 chars)'}
    """
    items = list(row.items())
    out = {str(k): clip_value(v, max_chars) for k, v in items[:MAX_COLUMNS]}
    if len(items) > MAX_COLUMNS:
        out["…"] = f"{len(items) - MAX_COLUMNS} more columns"
    return out
