"""Scheduling: run a selection in dependency order, independent branches overlapping.

A transform starts once every transform it reads that is part of the run has
finished; up to ``workers`` run at the same time in a small thread pool (the
work is in Polars and delta-rs, which release the GIL: on object storage the
latency of one table's reads and commits overlaps another's). The results come
back in the run's topological order whatever the order they finished in, and a
failure does not stop the independent branches: the caller decides, when a
transform becomes ready, whether it runs at all (an upstream failed) and raises
once everything has finished.

How many workers: ``run(..., threads=N)``, else ``RAT_THREADS`` or
``threads`` in ``[tool.ratatouille]``, else :data:`REMOTE_THREADS` on object
storage and :data:`LOCAL_THREADS` on a local disk. With one worker every
transform runs in the calling thread, one after the other.

>>> done = []
>>> out = run_graph(["a", "b", "c"], {"a": [], "b": ["a"], "c": []}, decide=lambda n: None,
...                 execute=lambda n: done.append(n) or n.upper(), finish=lambda n, r: None, workers=2)
>>> out
{'a': 'A', 'b': 'B', 'c': 'C'}
"""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Mapping, Sequence, TypeVar

from ..errors import ConfigError

R = TypeVar("R")
REMOTE_THREADS = 4  # object storage: each transform mostly waits on requests
LOCAL_THREADS = 2  # a local disk: the work is CPU-bound, and Polars already uses every core


def workers_for(lake: str, threads: int | None = None, setting: int | None = None) -> int:
    """How many transforms may run at once: ``threads`` (the run's), else ``RAT_THREADS``, else the
    ``threads`` setting, else a default by where the lake is.

    >>> workers_for("s3://bucket/lake"), workers_for("/data/lake"), workers_for("/data/lake", threads=1)
    (4, 2, 1)

    Raises
    ------
    ConfigError
        When ``RAT_THREADS`` or ``threads`` is not a positive integer.
    """
    raw: object = threads
    source = "threads"
    if raw is None and os.environ.get("RAT_THREADS"):
        raw, source = os.environ["RAT_THREADS"], "RAT_THREADS"
    if raw is None:
        raw = setting
    if raw is None:
        remote = "://" in lake and not lake.startswith("file://")
        return REMOTE_THREADS if remote else LOCAL_THREADS
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if value < 1 or isinstance(raw, bool):
        raise ConfigError(f"{source} must be a positive integer, got {raw!r}")
    return value


def run_graph(order: Sequence[str], deps: Mapping[str, Sequence[str]], *, decide: Callable[[str], R | None],
              execute: Callable[[str], R], finish: Callable[[str, R], None], workers: int = 1,
              start: Callable[[str], None] | None = None) -> dict[str, R]:
    """Run every name of ``order`` (topological) once the names it depends on (``deps``, within
    ``order``) have finished, at most ``workers`` at a time; return ``{name: result}`` in ``order``.

    ``decide(name)`` (in the calling thread, when ``name`` is ready) returns a result to take
    without running it, or ``None`` to run ``execute(name)`` (in a worker thread, with a copy of
    the caller's context variables). ``start(name)`` is called before it runs, ``finish(name,
    result)`` after (both in the calling thread), so callbacks never run concurrently.
    An exception other than a result (a crash) propagates once the running ones finished.
    """
    results: dict[str, R] = {}
    if workers <= 1 or len(order) <= 1:
        for name in order:
            decided = decide(name)
            if decided is None:
                if start is not None:
                    start(name)
                decided = execute(name)
                finish(name, decided)
            results[name] = decided
        return {name: results[name] for name in order}
    rank = {name: i for i, name in enumerate(order)}
    waiting = {name: {d for d in deps.get(name, ()) if d in rank} for name in order}
    pending = list(order)
    running: dict[Future[R], str] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ratatouille") as pool:
        while pending or running:
            progressed = True
            while progressed:  # submit what is ready, in the run's order; decided ones may free others
                progressed = False
                for name in [n for n in pending if not waiting[n] - results.keys()]:
                    if len(running) >= workers:
                        break
                    pending.remove(name)
                    decided = decide(name)
                    if decided is not None:
                        results[name] = decided
                        progressed = True
                        continue
                    if start is not None:
                        start(name)
                    running[pool.submit(contextvars.copy_context().run, execute, name)] = name
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: rank[running[f]]):
                name = running.pop(future)
                result = future.result()  # a crash propagates (the pool waits for the others first)
                results[name] = result
                finish(name, result)
    return {name: results[name] for name in order}
