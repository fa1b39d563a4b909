"""Orchestration settings: ``group``, ``tags``, ``owner``, ``partitions`` and ``triggers``.

They are checked once, when the project is discovered (errors name the file
and line of the key); the Dagster adapter only converts them into Dagster
objects. Accepted ``partitions:`` forms::

    partitions: {daily: 2024-01-01}                  # also hourly, weekly, monthly
    partitions: {daily: 2024-01-01, end: 2024-12-31, timezone: Europe/Paris}
    partitions: {type: daily, start: 2024-01-01}
    partitions: [north, south, east, west]           # a static list
    partitions: {static: [north, south]}

and ``triggers:`` entries::

    - schedule: "0 6 * * *"          # cron; optional timezone: Europe/Paris
    - sensor: landing/sales/         # a lake folder (or glob) to watch
      minimum_interval_seconds: 60
      status: running                # running or stopped (default: stopped)
      downstream: true               # also run what depends on it (default: false)

>>> partition_spec({"daily": "2024-01-01", "end": "2024-02-01"})
PartitionSpec(kind='daily', start=datetime.datetime(2024, 1, 1, 0, 0), end=datetime.datetime(2024, 2, 1, 0, 0), timezone=None, keys=())
>>> partition_spec(["north", "south"]).keys
('north', 'south')
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from ..kinds import Kind
from ._where import Where

TIME_KINDS = ("hourly", "daily", "weekly", "monthly")
_STATIC = ("static", "values", "keys")
_PARTITION_KEYS = set(TIME_KINDS) | set(_STATIC) | {"type", "start", "end", "timezone"}
TRIGGER_KEYS = {"schedule", "sensor", "name", "status", "timezone", "minimum_interval_seconds", "upstream",
                "downstream", "description"}
DEFAULT_INTERVAL = 30


@dataclass(frozen=True)
class Orchestration:
    """How a transform is scheduled and shown: ``group``, ``tags``, ``owner``, ``partitions``, ``triggers``."""

    group: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    partitions: Any = None  # as written; :func:`partition_spec` gives its checked form
    triggers: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class PartitionSpec:
    """A checked ``partitions:`` setting: a time window (``kind`` hourly/daily/...) or ``static`` keys."""

    kind: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    timezone: str | None = None
    keys: tuple[str, ...] = ()


Fail = Callable[[str], ConfigError]


def _plain(message: str) -> ConfigError:
    return ConfigError(message)


def partition_spec(raw: Any, fail: Fail = _plain) -> PartitionSpec | None:
    """The checked form of a ``partitions:`` setting (``None`` when it sets none).

    Parameters
    ----------
    raw
        The setting as written.
    fail
        Builds the error for a message (it names the file and line of ``partitions:``).

    Returns
    -------
    PartitionSpec or None

    Raises
    ------
    ConfigError
        An unknown form, a missing or bad start date, an unknown timezone, duplicate keys.
    """
    if raw is None or raw == {} or raw == []:
        return None
    if isinstance(raw, (list, tuple)):
        return _static(raw, fail)
    if not isinstance(raw, dict):
        raise fail(f"expected a list of keys or a mapping such as {{daily: 2024-01-01}}, got {raw!r}")
    unknown = set(raw) - _PARTITION_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(_PARTITION_KEYS))}")
    for key in _STATIC:
        if key in raw:
            return _static(raw[key], fail)
    kinds = [k for k in TIME_KINDS if k in raw]
    if "type" in raw:
        if raw["type"] in _STATIC:
            raise fail("a static list goes in static: [...]")
        if raw["type"] not in TIME_KINDS:
            raise fail(f"type must be one of {', '.join(TIME_KINDS)}, got {raw['type']!r}")
        kinds.append(raw["type"])
    if len(kinds) != 1:
        raise fail("set exactly one of " + ", ".join(TIME_KINDS) + " (with its start date), or a static list")
    kind = kinds[0]
    start = raw.get(kind) if kind in raw else raw.get("start")
    if start is None or start is True:
        raise fail(f"{kind} partitions need a start date, e.g. {{{kind}: 2024-01-01}}")
    end = None if raw.get("end") is None else _moment(raw["end"], "end", fail)
    timezone = str(raw["timezone"]) if raw.get("timezone") else None
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise fail(f"timezone: unknown time zone {timezone!r}") from None
    spec = PartitionSpec(kind=kind, start=_moment(start, kind, fail), end=end, timezone=timezone)
    if spec.end is not None and spec.start is not None and spec.end < spec.start:
        raise fail(f"end {spec.end:%Y-%m-%d %H:%M} is before the start {spec.start:%Y-%m-%d %H:%M}")
    return spec


def _static(values: Any, fail: Fail) -> PartitionSpec:
    if not isinstance(values, (list, tuple)) or not values:
        raise fail("a static list needs at least one key")
    keys = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise fail(f"duplicate key(s) {dupes}")
    bad = [k for k in keys if not k or any(c in k for c in ",[]") or k != k.strip()]
    if bad:
        raise fail(f"key {bad[0]!r} must not be empty, hold ',', '[' or ']', or start or end with a space")
    return PartitionSpec(kind="static", keys=tuple(keys))


def _moment(value: Any, what: str, fail: Fail) -> dt.datetime:
    """A date (``2024-01-01``) or date and time (``2024-01-01 06:00``) as a naive datetime, checked."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        raise fail(f"{what}: {str(value)!r} is not a date such as 2024-01-01 (or 2024-01-01 06:00)") from None


# -- triggers ---------------------------------------------------------------------------------------
_CRON_ALIASES = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "sun|mon|tue|wed|thu|fri|sat"
_CRON_FIELDS = ((0, 59, ""), (0, 23, ""), (1, 31, ""), (1, 12, _MONTHS), (0, 7, _DAYS))


def valid_cron(text: Any) -> bool:
    """A five-field cron string (or an alias such as ``@daily``) with every value in range.

    >>> valid_cron("0 6 * * *"), valid_cron("*/15 8-18 * * mon-fri"), valid_cron("every morning")
    (True, True, False)
    >>> valid_cron("61 * * * *")
    False
    """
    if not isinstance(text, str):
        return False
    if text.strip().lower() in _CRON_ALIASES:
        return True
    parts = text.split()
    if len(parts) != 5:
        return False
    return all(_cron_field(p.lower(), lo, hi, names) for p, (lo, hi, names) in zip(parts, _CRON_FIELDS))


def _cron_field(text: str, lo: int, hi: int, names: str) -> bool:
    atom = rf"\d+|{names}" if names else r"\d+"
    item = re.compile(rf"^(?P<range>\*|(?:{atom})(?:-(?:{atom}))?)(?:/(?P<step>\d+))?$")
    for piece in text.split(","):
        m = item.match(piece)
        if not m or (m["step"] is not None and int(m["step"]) < 1):
            return False
        if any(not lo <= int(v) <= hi for v in re.findall(r"\d+", m["range"])):
            return False
    return True


def trigger_entries(triggers: tuple[Mapping[str, Any], ...], fail: Callable[[int, str], ConfigError] | None = None
                    ) -> list[dict[str, Any]]:
    """The checked ``triggers:`` entries, each with ``kind`` (schedule/sensor), ``status`` and ``index``.

    Parameters
    ----------
    triggers
        The entries as written.
    fail
        Builds the error for entry ``i`` and a message (naming the file and line of ``triggers:``).

    Returns
    -------
    list of dict

    Raises
    ------
    ConfigError
        An entry that is not a mapping, has unknown keys, not exactly one of schedule/sensor,
        a bad cron string, status, interval or name.
    """
    def error(i: int, message: str) -> ConfigError:
        return fail(i, message) if fail is not None else ConfigError(f"triggers[{i}]: {message}")

    out = []
    for i, raw in enumerate(triggers):
        if not isinstance(raw, Mapping):
            raise error(i, f"expected a mapping such as {{schedule: '0 6 * * *'}} or {{sensor: landing/x/}}, "
                           f"got {raw!r}")
        unknown = set(raw) - TRIGGER_KEYS
        if unknown:
            raise error(i, f"unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(TRIGGER_KEYS))}")
        kinds = [k for k in ("schedule", "sensor") if raw.get(k)]
        if len(kinds) != 1:
            raise error(i, "set exactly one of schedule: (a cron string) or sensor: (a lake folder)")
        status = str(raw.get("status", "stopped")).lower()
        if status not in ("running", "stopped"):
            raise error(i, f"status must be running or stopped, got {raw.get('status')!r}")
        if kinds[0] == "schedule":
            if not valid_cron(raw["schedule"]):
                raise error(i, f"schedule must be a cron string such as '0 6 * * *', got {raw['schedule']!r}")
        else:
            interval = raw.get("minimum_interval_seconds", DEFAULT_INTERVAL)
            if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
                raise error(i, f"minimum_interval_seconds must be a positive integer, got {interval!r}")
        if raw.get("name") is not None and not str(raw["name"]).replace("_", "a").isalnum():
            raise error(i, f"name must use letters, digits and _, got {raw['name']!r}")
        if raw.get("timezone"):
            try:
                zoneinfo.ZoneInfo(str(raw["timezone"]))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise error(i, f"timezone: unknown time zone {raw['timezone']!r}") from None
        out.append(dict(raw, kind=kinds[0], status=status, index=i))
    return out


def check_orchestration(orch: Orchestration, where: Where, *, kind: Kind, ingest: bool) -> None:
    """Check ``orch`` for a transform of ``kind`` (``ingest``: an ingest transform), once, at discovery.

    Raises
    ------
    ConfigError
        A bad group name, ``partitions:`` or ``triggers:``, naming the file and line of the key.
    """
    if orch.group is not None and not valid_group(orch.group):
        raise where.error("group", f"group {orch.group!r} must use letters, digits and _ only")

    def fail(message: str) -> ConfigError:
        return where.error("partitions", f"partitions: {message}")

    if orch.partitions not in (None, {}, []):
        if ingest:
            raise fail("an ingest transform appends new landing files and cannot be partitioned")
        if kind.mode == "view":
            raise fail("a view is never written and cannot be partitioned")
        if not kind.partition_by:
            raise fail("needs partition_by (the column holding the partition key)")
    partition_spec(orch.partitions, fail)
    trigger_entries(orch.triggers, lambda i, message: where.error("triggers", f"triggers[{i}]: {message}"))


def valid_group(name: str) -> bool:
    """A Dagster group name: ASCII letters, digits and ``_``."""
    return bool(name) and name.isascii() and name.replace("_", "a").isalnum()
