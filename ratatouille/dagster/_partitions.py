"""Dagster partitions from a transform's ``partitions:`` setting (checked at discovery).

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
from typing import Any

import dagster as dg

from ..transforms import Transform
from ..transforms._orchestration import partition_spec

_TIME = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def partitions_def(t: Transform) -> dg.PartitionsDefinition | None:
    """The Dagster partitions of ``t`` (``None`` when it sets no ``partitions:``).

    The setting was checked when the project was discovered
    (:mod:`ratatouille.transforms._orchestration`); this only converts it.
    """
    spec = partition_spec(t.config.partitions)
    if spec is None:
        return None
    if spec.kind == "static":
        return dg.StaticPartitionsDefinition(list(spec.keys))
    options: dict[str, Any] = {"start_date": spec.start}
    if spec.end is not None:
        options["end_date"] = spec.end
    if spec.timezone:
        options["timezone"] = spec.timezone
    return _TIME[spec.kind](**options)


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
