"""Dagster partitions from a transform's ``partitions:`` setting.

``partitions:`` turns a transform with ``partition_by`` into a partitioned
asset; materializing one partition runs ``run(name, partition=key)``, which
rebuilds exactly that partition (a Delta predicate overwrite). Accepted forms::

    partitions: {daily: 2024-01-01}                  # also hourly, weekly, monthly
    partitions: {daily: 2024-01-01, end: 2024-12-31, timezone: Europe/Paris}
    partitions: {type: daily, start: 2024-01-01}
    partitions: [north, south, east, west]           # a static list
    partitions: {static: [north, south]}

The key (``2024-01-02``, ``north``) is matched against ``partition_by[0]``,
a Date, string, integer or boolean column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import dagster as dg

from ..errors import ConfigError
from ..transforms import Transform

_TIME = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}
_STATIC = ("static", "values", "keys")
_KEYS = set(_TIME) | set(_STATIC) | {"type", "start", "end", "timezone"}


def partitions_def(t: Transform) -> dg.PartitionsDefinition | None:
    """The Dagster partitions of ``t`` (``None`` when it sets no ``partitions:``)."""
    raw = t.config.partitions
    if raw is None or raw == {} or raw == []:
        return None

    def fail(message: str) -> ConfigError:
        return ConfigError(f"partitions: {message}", transform=t.name, file=settings_file(t, "partitions"))

    if t.kind == "ingest":
        raise fail("an ingest transform appends new landing files and cannot be partitioned")
    if t.mode == "view":
        raise fail("a view is never written and cannot be partitioned")
    if not t.config.partition_by:
        raise fail("needs partition_by (the column holding the partition key)")
    if isinstance(raw, (list, tuple)):
        return _static(list(raw), fail)
    if not isinstance(raw, dict):
        raise fail(f"expected a list of keys or a mapping such as {{daily: 2024-01-01}}, got {raw!r}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(_KEYS))}")
    for key in _STATIC:
        if key in raw:
            return _static(raw[key], fail)
    kinds = [k for k in _TIME if k in raw]
    if "type" in raw:
        if raw["type"] in _STATIC:
            raise fail("a static list goes in static: [...]")
        if raw["type"] not in _TIME:
            raise fail(f"type must be one of {', '.join(_TIME)}, got {raw['type']!r}")
        kinds.append(raw["type"])
    if len(kinds) != 1:
        raise fail("set exactly one of " + ", ".join(_TIME) + " (with its start date), or a static list")
    kind = kinds[0]
    start = raw.get(kind) if kind in raw else raw.get("start")
    if start is None or start is True:
        raise fail(f"{kind} partitions need a start date, e.g. {{{kind}: 2024-01-01}}")
    options: dict[str, Any] = {"start_date": _date_text(start)}
    if raw.get("end") is not None:
        options["end_date"] = _date_text(raw["end"])
    if raw.get("timezone"):
        options["timezone"] = str(raw["timezone"])
    try:
        return _TIME[kind](**options)
    except Exception as exc:  # noqa: BLE001 - Dagster's own validation (dates, timezone)
        raise fail(f"{kind}: {str(exc).strip().splitlines()[0]}") from None


def settings_file(t: Transform, key: str) -> str | None:
    """The file that sets ``key`` for ``t``: the YAML beside its SQL/Python file when it holds the key."""
    if t.path is not None and t.path.suffix in (".sql", ".py"):
        for suffix in (".yaml", ".yml"):
            yaml_path = t.path.with_suffix(suffix)
            try:
                if yaml_path.is_file() and f"{key}:" in yaml_path.read_text():
                    return str(yaml_path)
            except OSError:
                pass
    return t.file


def _static(values: Any, fail: Callable[[str], Exception]) -> dg.StaticPartitionsDefinition:
    if not isinstance(values, (list, tuple)) or not values:
        raise fail("a static list needs at least one key")
    keys = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise fail(f"duplicate key(s) {dupes}")
    try:
        return dg.StaticPartitionsDefinition(keys)
    except Exception as exc:  # noqa: BLE001
        raise fail(str(exc).strip().splitlines()[0]) from None


def _date_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def label(pdef: dg.PartitionsDefinition) -> str:
    """A short name for a partitions definition (``daily``, ``static``...), used in job names."""
    for kind, cls in _TIME.items():
        if isinstance(pdef, cls):
            return kind
    if isinstance(pdef, dg.StaticPartitionsDefinition):
        return "static"
    return "partitioned"


def latest_keys(pdef: dg.PartitionsDefinition, now: dt.datetime | None = None) -> list[str]:
    """The partitions a trigger requests: the last complete time window, or every static key."""
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        keys = pdef.get_partition_keys(current_time=now) if now is not None else [pdef.get_last_partition_key()]
        return [k for k in keys[-1:] if k]
    return list(pdef.get_partition_keys())
