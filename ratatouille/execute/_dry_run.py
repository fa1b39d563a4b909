"""Dry run (``rat check``, ``run(..., dry_run=True)``): build, check, write nothing.

A dry run builds the selection together with its upstream exactly as a run would; each table's
would-be content (what a reader would see after this run's commit: the stored rows merged with
the new ones by the table's materialization) feeds its downstream as a lazy frame, in place of
the stored table. So a downstream check sees this run's new rows, and a fresh lake (landing files
only) is checked end to end without any table being created.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .._delta_scan import scan_delta
from ..check import jsonable

__all__ = ["would_be", "dry_run_result"]


def would_be(mode: str, new: pl.LazyFrame, stored: pl.LazyFrame | None, *, unique_key: tuple[str, ...] = (),
             partition_by: tuple[str, ...] = (), delete_missing: bool = False,
             full_refresh: bool = False) -> pl.LazyFrame:
    """The table as a reader would see it after writing ``new`` with ``mode`` over ``stored``.

    Parameters
    ----------
    mode : str
        ``table``, ``append``, ``merge`` or ``replace_partitions`` (a view is never written).
    new : pl.LazyFrame
        The rows this run would write.
    stored : pl.LazyFrame or None
        The table as stored (None: no table yet).
    unique_key, partition_by, delete_missing, full_refresh
        The transform's settings that decide how ``new`` lands.

    Returns
    -------
    pl.LazyFrame
        A lazy plan of the would-be table (nothing collected here).

    Examples
    --------
    >>> old = pl.LazyFrame({"k": [1, 2], "v": ["a", "b"]})
    >>> new = pl.LazyFrame({"k": [2, 3], "v": ["B", "c"]})
    >>> would_be("merge", new, old, unique_key=("k",)).sort("k").collect()["v"].to_list()
    ['a', 'B', 'c']
    """
    if stored is None or full_refresh or mode == "table" or (mode == "merge" and delete_missing):
        return new
    if mode == "merge" and unique_key:
        kept = stored.join(new.select(list(unique_key)).unique(), on=list(unique_key), how="anti", nulls_equal=True)
    elif mode == "replace_partitions" and partition_by:
        kept = stored.join(new.select(list(partition_by)).unique(), on=list(partition_by), how="anti",
                           nulls_equal=True)
    else:  # append (and an ingest's append of its new files)
        kept = stored
    return pl.concat([kept, new], how="diagonal_relaxed")


def dry_run_result(runner: Any, t: Any, data: pl.DataFrame | pl.LazyFrame, table: Any, started: float,
                   checks: list[Any], ingest_info: dict[str, Any]) -> Any:
    """Record ``t``'s would-be table for its downstream and return its dry-run result (nothing written).

    Parameters
    ----------
    runner : Runner
        The dry-run runner (its ``fresh`` frames feed the downstream transforms).
    t : Transform
        The transform just built and checked.
    data : pl.DataFrame or pl.LazyFrame
        The rows this run would write.
    table : deltalake.DeltaTable or None
        The stored table (None: not built yet).
    started : float
        ``time.perf_counter()`` when ``t`` started.
    checks : list of CheckResult
        The checks run on ``data``.
    ingest_info : dict
        An ingest's report (files, rejected...), passed through.

    Returns
    -------
    RunResult
        ``status="success"``, ``dry_run=True``, ``rows_written=0`` and ``rows_checked``.
    """
    rows = len(data) if isinstance(data, pl.DataFrame) else int(data.select(pl.len()).collect().item())
    if runner.partition is None:
        stored = scan_delta(table) if table is not None and table.file_uris() else None
        cfg = t.config
        runner.fresh[t.name] = would_be(t.mode, data.lazy(), stored, unique_key=cfg.unique_key,
                                        partition_by=cfg.partition_by, delete_missing=cfg.delete_missing,
                                        full_refresh=runner.full_refresh)
        # resolve the plan's schema here, once: transforms reading it run in other threads, and two
        # threads resolving a shared Delta scan (a Python IO source) at once deadlock in Polars
        runner.fresh[t.name].collect_schema()
    previous = table.version() if table is not None else None
    return runner._result(t, started, status="success", rows=0, version=previous, checks=jsonable(checks),
                          rows_checked=rows, dry_run=True, **ingest_info)

