"""Staged files: parquet files a run wrote into a table's folder that no commit references yet.

A :class:`Stage` sinks a plan (or writes a frame) into the table folder, one
folder per partition value as Delta lays tables out, reads each file's Delta
statistics from its parquet footer, scans the files back (checks validate
them before the commit), turns them into the add actions of one commit, and
deletes them when the run fails before that commit (:meth:`Stage.discard`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import polars as pl
from deltalake.transaction import AddAction

from ._commit import _partition_text
from ._stats import delta_stats, footer_stats

#: rows per parquet row group: a reader decodes a row group at a time (a few at once), so this bounds the
#: memory of every later scan of the table (and lets readers skip row groups by their statistics)
ROW_GROUP_ROWS = 128 * 1024
#: a discarded stage waits for late files of a failed sink: until none appeared for DISCARD_QUIET seconds
DISCARD_QUIET, DISCARD_WAIT = 0.1, 2.0
NULL_FOLDER = "__HIVE_DEFAULT_PARTITION__"  # the folder of the NULL partition, as Spark and delta-rs name it


@dataclass
class StagedFile:
    """One staged file: its path relative to the table root, statistics and partition values."""

    path: str
    stats: dict[str, Any]
    partition_values: dict[str, str | None] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)  # the partition values as Python values


class Stage:
    """Files written into ``root`` for one commit (see the module docstring)."""

    def __init__(self, root: str, partition_by: tuple[str, ...] = (), bytes_per_file: int = 512 << 20,
                 rows_per_file: int | None = None, split_by: str | None = None) -> None:
        self.root = root
        self.partition_by = partition_by
        self.bytes_per_file = bytes_per_file
        self.rows_per_file = rows_per_file
        self.split_by = split_by  # a column (not written) whose values go to separate files
        self._split = tuple(partition_by) + ((split_by,) if split_by else ())
        self.run = uuid.uuid4().hex
        self.files: list[StagedFile] = []
        self._written: list[str] = []  # every path handed to the writer, committed or not
        self._sink_failed = False  # a sink raised: its writers may still create files (see discard)
        self._keys: dict[str, dict[str, Any]] = {}
        self._ordinals: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()
        self._calls = 0  # write() may be called several times: each call's files get their own names

    @property
    def rows(self) -> int:
        return sum(int(f.stats["numRecords"]) for f in self.files)

    def write(self, data: pl.DataFrame | pl.LazyFrame) -> None:
        """Write ``data`` (the table's columns, in order) as parquet files into the table folder."""
        os.makedirs(self.root, exist_ok=True)
        self._calls += 1
        if isinstance(data, pl.DataFrame) and not self._split and self.rows_per_file is None:
            parts = max(1, -(-int(data.estimated_size()) // self.bytes_per_file))
            step = max(1, -(-data.height // parts))
            for i in range(parts):
                chunk = data.slice(i * step, step)
                if chunk.is_empty():
                    continue
                name = self._name(i, "", self._calls - 1)
                self._written.append(name)
                chunk.write_parquet(os.path.join(self.root, name), compression="snappy", statistics=True,
                                    row_group_size=ROW_GROUP_ROWS)
                self.files.append(StagedFile(name, delta_stats(chunk)))
            return
        sunk: list[Any] = []
        keys: dict[str, Any] = {"key": list(self._split), "include_key": False} if self._split else {}
        if self.rows_per_file:
            keys["max_rows_per_file"] = self.rows_per_file
        try:
            data.lazy().sink_parquet(
                pl.PartitionBy(self.root, file_path_provider=self._provide,
                               approximate_bytes_per_file=self.bytes_per_file, **keys),
                compression="snappy", statistics=True, row_group_size=ROW_GROUP_ROWS, maintain_order=True,
                sinked_paths_callback=sunk.append)
        except BaseException:
            self._sink_failed = True
            raise
        for group in sunk:
            for sp in getattr(group, "paths", [group]):
                name = os.path.relpath(str(sp.path), self.root)
                stats = footer_stats(os.path.join(self.root, name))
                if not stats["numRecords"]:  # an empty result: commit no file, as delta-rs does
                    os.remove(os.path.join(self.root, name))
                    continue
                keys = self._keys.get(name, {})
                self.files.append(StagedFile(name, stats, {k: _partition_text(v) for k, v in keys.items()}, keys))

    def _name(self, index: int, folder: str = "", ordinal: int = 0) -> str:
        tail = f"-{ordinal}" if ordinal else ""
        return f"{folder}part-{index:05d}-{self.run}{tail}-c000.snappy.parquet"

    def _provide(self, args: Any) -> str:
        """The path (relative to the root) of the next file Polars writes."""
        if not self._split:
            name = self._name(args.index_in_partition, "", self._calls - 1)
        else:
            values = dict(zip(self._split, args.partition_keys.row(0)))
            keys = {c: values[c] for c in self.partition_by}
            with self._lock:
                ident = tuple(_partition_text(v) for v in values.values())
                ordinal = self._ordinals.setdefault(ident, len(self._ordinals))
            folder = "".join(f"{c}={_folder_text(v)}/" for c, v in keys.items())
            name = self._name(args.index_in_partition, folder, ordinal + 1)
            self._keys[name] = keys
        with self._lock:
            self._written.append(name)
        return name

    def disjoint(self, column: str, dtype: Any = None) -> bool:
        """Whether no two files share a value of ``column`` (strictly disjoint ranges, no NULL bound;
        ``dtype``: the column's Polars type, so its statistics compare as its values do)."""
        ranges = []
        for f in self.files:
            lo, hi = f.stats["minValues"].get(column), f.stats["maxValues"].get(column)
            if lo is None or hi is None or f.stats["nullCount"].get(column, 1):
                return False
            ranges.append((_ordered(lo, dtype), _ordered(hi, dtype)))
        ranges.sort()
        return all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))

    def clustered(self, column: str, dtype: Any = None) -> bool:
        """Whether the files hold disjoint ranges of ``column`` (by their statistics; ``dtype`` as in
        :meth:`disjoint`)."""
        ranges = []
        for f in self.files:
            lo, hi = f.stats["minValues"].get(column), f.stats["maxValues"].get(column)
            if lo is None or hi is None:
                return len(self.files) <= 1
            ranges.append((_ordered(lo, dtype), _ordered(hi, dtype)))
        ranges.sort()
        return all(hi <= lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))

    def scan(self, schema: pl.Schema) -> pl.LazyFrame:
        """The staged rows (``schema``: the written data's schema, partition columns included)."""
        if not self.files:
            return pl.LazyFrame(schema=schema)
        paths = [os.path.join(self.root, f.path) for f in self.files]
        if not self.partition_by:
            return pl.scan_parquet(paths, glob=False)  # paths, not patterns: the lake's folder may hold [ or *
        frames = [pl.scan_parquet(path, glob=False).with_columns(
            *(pl.lit(f.keys.get(c), dtype=schema[c]).alias(c) for c in self.partition_by))
            for path, f in zip(paths, self.files)]
        return pl.concat(frames, how="vertical").select(list(schema))

    def actions(self) -> list[Any]:
        """One Delta add action per staged file."""
        out = []
        for f in self.files:
            path = os.path.join(self.root, f.path)
            out.append(AddAction(path=f.path,  # delta-rs percent-encodes it in the log
                                  size=os.path.getsize(path), partition_values=f.partition_values,
                                 modification_time=int(os.path.getmtime(path) * 1000), data_change=True,
                                 stats=json.dumps(f.stats, separators=(",", ":"))))
        return out

    def partitions(self) -> list[dict[str, str | None]]:
        """The distinct partition values of the staged files."""
        seen: dict[tuple[Any, ...], dict[str, str | None]] = {}
        for f in self.files:
            seen.setdefault(tuple(f.partition_values.items()), f.partition_values)
        return list(seen.values())

    def partition_filters(self) -> list[tuple[str, str, Any]] | None:
        """delta-rs partition filters matching exactly the staged partitions, or ``None`` when they
        cannot be written as one (delta-rs takes one conjunction; its overwrite never matches the
        NULL partition)."""
        if len(self.partition_by) != 1:
            return None
        (column,) = self.partition_by
        values = {p[column] for p in self.partitions()}
        if None in values or "" in values:
            return None
        return [(column, "in", sorted(v for v in values if v is not None))]

    def discard(self) -> None:
        """Delete every file this stage wrote (none of them is referenced by a commit).

        A failed ``sink_parquet`` raises before all of its file writers are done: files it named
        can still appear a few milliseconds later (Polars 2.1). After a failed sink they are deleted
        until none has appeared for :data:`DISCARD_QUIET` seconds (at most :data:`DISCARD_WAIT`);
        otherwise (a check failed on the staged files) one pass deletes them."""
        started = last = time.monotonic()
        while self._written:
            for name in self._written:
                try:
                    os.remove(os.path.join(self.root, name))
                    last = time.monotonic()
                except OSError:
                    pass
            now = time.monotonic()
            if not self._sink_failed or now - last >= DISCARD_QUIET or now - started >= DISCARD_WAIT:
                break
            time.sleep(0.01)
        self.files.clear()


def _ordered(value: Any, dtype: Any) -> Any:
    """A statistic as a value that orders like the column's values. A timestamp's statistic is text
    without its zero milliseconds, and a zone-aware one ends in ``Z``: ``2020-01-01T00:00:00Z`` sorts
    after ``2020-01-01T00:00:00.500Z`` as text, so it is compared as the instant it names.

    >>> _ordered("2020-01-01T00:00:00Z", pl.Datetime("us", "UTC")) < _ordered("2020-01-01T00:00:00.500Z",
    ...                                                                   pl.Datetime("us", "UTC"))
    True
    """
    if isinstance(dtype, pl.Datetime) and isinstance(value, str):
        return dt.datetime.fromisoformat(value.removesuffix("Z") + ("+00:00" if value.endswith("Z") else ""))
    return value


def _folder_text(value: Any) -> str:
    """A partition value as its folder name, percent-encoded as delta-rs names it (readers that
    take partition values from the path, as Polars does, decode it)."""
    text = _partition_text(value)
    return NULL_FOLDER if text is None else quote(text, safe="")
