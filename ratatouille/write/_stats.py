"""Delta file statistics (``numRecords``, ``minValues``, ``maxValues``, ``nullCount``) of staged files.

Computed from a frame (:func:`delta_stats`) or read from a parquet footer
(:func:`footer_stats`), formatted as delta-rs writes them, so that data
skipping (partition pruning, a merge's file pruning by min/max) keeps working
for files Polars wrote.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

_STATS_MAX_BYTES = 64  # strings this long get no min/max (always safe: the file is just not skipped)


def _stat_values(name: str, lo: Any, hi: Any) -> tuple[Any, Any] | None:
    """Min and max as Delta statistics, or None when they are not sound bounds."""
    if lo is None or hi is None:
        return None
    if isinstance(lo, float) and (math.isinf(lo) or math.isinf(hi) or math.isnan(lo) or math.isnan(hi)):
        return None
    if isinstance(lo, (str, bytes)):
        if not isinstance(lo, str) or not isinstance(hi, str):
            return None
        # Polars truncates string statistics at 64 bytes: a string that long may be a prefix
        if len(lo.encode()) >= _STATS_MAX_BYTES or len(hi.encode()) >= _STATS_MAX_BYTES:
            return None
    if isinstance(lo, dt.datetime):
        try:  # the max rounded up past 9999-12-31 23:59:59.999 has no bound Delta can write: none
            return _stats_timestamp(lo, up=False), _stats_timestamp(hi, up=True)
        except (OverflowError, ValueError):
            return None
    if isinstance(lo, dt.date):
        return lo.isoformat(), hi.isoformat()
    return lo, hi


def delta_stats(data: pl.DataFrame) -> dict[str, Any]:
    """Delta file statistics (``numRecords``, ``minValues``, ``maxValues``, ``nullCount``) of a frame,
    formatted as delta-rs writes them. Timestamps are rounded outwards to milliseconds (the
    precision of Delta statistics), so the bounds always hold; NaN is ignored like delta-rs does;
    a column without a sound bound (all null, infinities, long strings) gets no min/max.

    >>> delta_stats(pl.DataFrame({"a": [3, None, 1]}))
    {'numRecords': 3, 'minValues': {'a': 1}, 'maxValues': {'a': 3}, 'nullCount': {'a': 1}}
    """
    exprs: list[pl.Expr] = []
    for i, (name, dtype) in enumerate(data.schema.items()):
        col = pl.col(name).fill_nan(None) if dtype.is_float() else pl.col(name)
        exprs += [col.min().alias(f"{i}:min"), col.max().alias(f"{i}:max"),
                  pl.col(name).null_count().alias(f"{i}:nulls")]  # NaN is not null
    try:
        row = data.select(exprs).row(0, named=True) if exprs else {}
    except Exception:  # noqa: BLE001 - e.g. a date Python cannot represent: that column keeps its counts only
        row = {}
        for i in range(data.width):
            try:
                row.update(data.select(exprs[3 * i:3 * i + 3]).row(0, named=True))
            except Exception:  # noqa: BLE001
                row.update({f"{i}:min": None, f"{i}:max": None, f"{i}:nulls": data[:, i].null_count()})
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for i, name in enumerate(data.schema):
        nulls[name] = int(row[f"{i}:nulls"])
        bounds = _stat_values(name, row[f"{i}:min"], row[f"{i}:max"])
        if bounds is not None:
            mins[name], maxs[name] = bounds
    return {"numRecords": data.height, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def footer_stats(path: str) -> dict[str, Any]:
    """The same statistics as :func:`delta_stats`, read from a parquet file's footer (flat columns)."""
    import pyarrow.parquet as pq  # lazy: pyarrow only when a staged file's footer is read

    meta = pq.read_metadata(path)
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for j in range(meta.num_columns):
        name = meta.schema.column(j).path
        lo = hi = None
        count: int | None = 0
        sound = True
        for i in range(meta.num_row_groups):
            chunk = meta.row_group(i).column(j)
            st = chunk.statistics
            if st is None or not st.has_null_count:
                count, sound = None, False
                break
            count = None if count is None else count + st.null_count
            if st.null_count == chunk.num_values:
                continue  # only nulls in this row group
            try:
                if not st.has_min_max:
                    raise ValueError
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
            except Exception:  # noqa: BLE001 - no usable bounds (or not representable in Python)
                sound = False
        if count is not None:
            nulls[name] = count
        bounds = _stat_values(name, lo, hi) if sound else None
        if bounds is not None:
            mins[name], maxs[name] = bounds
    return {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def _stats_timestamp(value: dt.datetime, *, up: bool) -> str:
    """A timestamp statistic at millisecond precision, rounded down (min) or up (max)."""
    if up and value.microsecond % 1000:
        value = value + dt.timedelta(microseconds=1000 - value.microsecond % 1000)
    value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    if value.tzinfo is not None:  # delta-rs: RFC 3339 in UTC
        text = value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds")
        return (text[:-4] if text.endswith(".000") else text) + "Z"
    text = value.isoformat(sep=" ", timespec="milliseconds")  # delta-rs: timestamp_ntz
    return text[:-4] if text.endswith(".000") else text
