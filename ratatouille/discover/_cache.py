"""The discovery cache: a workspace's transforms, reused while its files are unchanged.

``query()`` and every command load the project; in a project of 1,000
transforms, reading and parsing every file each time costs more than the
query. The transforms found under ``workspaces/<ws>/pipelines/`` are kept in
memory, keyed by the folder and its *signature*: name, size and modification
time (nanoseconds) of every file and folder discovery looks at. A changed,
added or removed file changes the signature, so the next load discovers again.

As git does for its index ("racy git"), a signature holding a file modified
less than :data:`RACY_SECONDS` before it was taken is not cached: a file
rewritten within the file system's timestamp granularity, keeping its size,
would otherwise look unchanged.

Example
-------
>>> import os, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> os.utime(folder, (1e9, 1e9))    # last changed long ago (a fresh change is not cached: see above)
>>> calls = []
>>> def load():
...     calls.append(1)
...     return {}, []
>>> cached_discovery(folder, "default", load) == ({}, []) and cached_discovery(folder, "default", load) == ({}, [])
True
>>> len(calls)            # an empty folder: cached after the first call
1
"""

from __future__ import annotations

import copy
import os
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["RACY_SECONDS", "cached_discovery", "clear", "signature"]

#: files modified this recently are not trusted to show a later change in their modification time
RACY_SECONDS = 1.0

Entry = tuple[str, bool, int, int]
Signature = tuple[Entry, ...]
T = TypeVar("T")
P = TypeVar("P")

_cache: dict[tuple[str, str], tuple[Signature, object]] = {}
_lock = threading.Lock()


def signature(folder: Path) -> tuple[Signature, int]:
    """The (name, is folder, size, mtime_ns) of ``folder``'s entries and of the entries of its
    sub-folders (one level down, as discovery reads), and the newest modification time seen."""
    entries: list[Entry] = []
    newest = 0

    def scan(path: Path, prefix: str, depth: int) -> None:
        nonlocal newest
        try:
            with os.scandir(path) as it:
                items = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in items:
            try:
                st = e.stat()
            except FileNotFoundError:  # removed while listing: the next call sees it gone
                continue
            is_dir = e.is_dir()
            entries.append((prefix + e.name, is_dir, st.st_size, st.st_mtime_ns))
            newest = max(newest, st.st_mtime_ns)
            if is_dir and depth == 0:
                scan(Path(e.path), prefix + e.name + "/", 1)

    try:
        st = folder.stat()
    except FileNotFoundError:
        return (), 0
    entries.append((".", True, 0, st.st_mtime_ns))
    newest = st.st_mtime_ns
    scan(folder, "", 0)
    return tuple(entries), newest


def cached_discovery(folder: Path, workspace: str,
                     load: Callable[[], tuple[dict[str, T], list[P]]],
                     also: tuple[Path, ...] = ()) -> tuple[dict[str, T], list[P]]:
    """``load()`` (the transforms and problems found under ``folder``), or the cached result
    while ``folder``'s :func:`signature` is unchanged. Returns a new dict and list each call
    (callers add to them), the problems copied (callers attach results to them). ``also``: other
    folders whose files discovery reads (the project's ``tests/generic/``): a change there
    discovers again too."""
    key = (str(folder.resolve()), workspace)
    taken = time.time_ns()
    sig, newest = signature(folder)
    for other in also:  # a custom generic test's SQL is read into its transform's config
        other_sig, other_newest = signature(other)
        sig += ((f"@{other}", True, 0, 0), *other_sig)
        newest = max(newest, other_newest)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == sig:
        found, problems = hit[1]  # type: ignore[misc]
    else:
        found, problems = load()
        if taken - newest > RACY_SECONDS * 1e9:
            with _lock:
                _cache[key] = (sig, (found, problems))
        else:
            with _lock:
                _cache.pop(key, None)
    return dict(found), [_copy(p) for p in problems]


def _copy(problem: P) -> P:
    try:
        return copy.copy(problem)
    except Exception:  # noqa: BLE001 - an error that cannot be copied is handed out as it is
        return problem


def clear() -> None:
    """Forget every cached discovery (tests; a long-lived process that wants a fresh read)."""
    with _lock:
        _cache.clear()
