"""Files in flight: a landing file is ingested only once it is complete.

A file is *settled* when it has not changed for ``settle_seconds`` (judged by
its modification time in the listing, and by its size and modification time /
ETag being the same after it was read as when it was listed) and, with
``ready_marker``, once its marker exists:

* ``ready_marker: _SUCCESS`` (a plain file name): the file's folder holds that
  file (what Spark, Hadoop and many exporters write last);
* ``ready_marker: .done`` (a suffix, starting with ``.``): a per-file marker
  ``x.csv.done`` lies beside ``x.csv``.

A file that is not settled is *waiting*: it is not read, not recorded and not
failed; a later run (or sensor tick) picks it up. ``settle_seconds`` comes from
the ingest YAML, else from the ``RAT_SETTLE_SECONDS`` environment variable (how
test suites and CI make freshly written files ingestible at once: ``0``), else
:data:`DEFAULT_SETTLE_SECONDS`.

Example
-------
>>> describe_change("size=3;mtime=1700000000.000000", "size=5;mtime=1700000060.000000")
'size 3 -> 5, mtime 2023-11-14T22:13:20.000Z -> 2023-11-14T22:14:20.000Z'
>>> describe_change("size=3;etag=aa", "size=3;etag=bb")
'fingerprint (etag) aa -> bb'
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .._lake import LandingFile, fingerprint
from ..errors import ConfigError

DEFAULT_SETTLE_SECONDS = 5.0
ENV_SETTLE = "RAT_SETTLE_SECONDS"

#: landing files (lake-relative) an ingest run must leave for later: set by the Dagster landing
#: sensor's run (tag ``ratatouille/hold_files``) so that files whose earlier run failed and wait
#: for a retry never hold back the files that landed after them
HELD_FILES: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("ratatouille_held_files",
                                                                             default=frozenset())


def check_settle_config(settle: Any, marker: Any, *, file: str | None = None) -> None:
    """Validate ``settle_seconds`` / ``ready_marker`` of an ingest YAML (ConfigError naming the file)."""
    if settle is not None and (isinstance(settle, bool) or not isinstance(settle, (int, float)) or settle < 0):
        raise ConfigError(f"settle_seconds must be a number of seconds >= 0, got {settle!r}", file=file)
    if marker is not None:
        if not isinstance(marker, str) or not marker.strip() or "/" in marker or "\\" in marker \
                or marker in (".", ".."):
            raise ConfigError("ready_marker is a file name such as _SUCCESS (a folder marker) or a suffix "
                              f"such as .done (x.csv.done beside x.csv), got {marker!r}", file=file)


def settle_seconds(config: Any) -> float:
    """The settle time of an ingest transform: its YAML, else ``RAT_SETTLE_SECONDS``, else the default."""
    value = getattr(config, "settle_seconds", None)
    if value is not None:
        return float(value)
    env = os.environ.get(ENV_SETTLE)
    if env not in (None, ""):
        try:
            return max(0.0, float(env))
        except ValueError:
            raise ConfigError(f"{ENV_SETTLE} must be a number of seconds, got {env!r}") from None
    return DEFAULT_SETTLE_SECONDS


@dataclass
class Waiting:
    """A landing file not ingested yet because it may still be being written."""

    file: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


def mtime_of(info: Mapping[str, Any]) -> float | None:
    """The modification time (epoch seconds) in an fsspec ``info`` mapping, local or object storage."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
        try:
            return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return None


def _parts(fp: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in fp.split(";") if "=" in p)


def _stamp(value: str) -> str:
    try:
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    except (TypeError, ValueError, OverflowError):
        return value


def describe_change(old: str | Iterable[str], new: str) -> str:
    """What changed between the fingerprint a file was ingested with and its fingerprint now."""
    olds = [old] if isinstance(old, str) else sorted(old)
    if not olds:
        return "fingerprint changed"
    a, b = _parts(olds[-1]), _parts(new)
    out = []
    if a.get("size") != b.get("size"):
        out.append(f"size {a.get('size')} -> {b.get('size')}")
    if "mtime" in a and "mtime" in b and a["mtime"] != b["mtime"]:
        out.append(f"mtime {_stamp(a['mtime'])} -> {_stamp(b['mtime'])}")
    if a.get("etag") != b.get("etag") and ("etag" in a or "etag" in b):
        out.append(f"fingerprint (etag) {a.get('etag')} -> {b.get('etag')}")
    if not out:
        out.append(f"fingerprint {olds[-1]} -> {new}")
    return ", ".join(out)


class Gate:
    """Decides which listed landing files of one ingest run are complete.

    ``waiting(f)`` gives the reason a file must wait (``None``: it may be read);
    ``moved(f)`` re-checks a file after it was read (``None``: same size and
    modification time / ETag as listed, so what was read is what was listed).
    """

    def __init__(self, config: Any, lake: Any, *, now: float | None = None) -> None:
        self.lake = lake
        self.settle = settle_seconds(config)
        self.marker = getattr(config, "ready_marker", None)
        self.source = str(getattr(config, "source", "") or "")
        self.now = time.time() if now is None else now
        self._listing: dict[str, Mapping[str, Any]] | None = None

    @property
    def active(self) -> bool:
        return self.settle > 0 or bool(self.marker) or bool(HELD_FILES.get())

    def _listed(self) -> dict[str, Mapping[str, Any]]:
        """Every object under the source's folder, markers included, from ONE listing (made the
        first time a modification time or a marker is needed: object stores give both in it)."""
        if self._listing is None:
            base = self.source.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
            if any(c in self.source for c in "*?[") or not base.endswith("/"):
                base = base.rsplit("/", 1)[0] if "/" in base else ""
            root = self.lake._strip(self.lake.path(base))
            try:
                self._listing = dict(self.lake.fs.find(root, detail=True)) if self.lake.fs.exists(root) else {}
            except (FileNotFoundError, OSError):
                self._listing = {}
        return self._listing

    def _info(self, path: str, *, fresh: bool = False) -> Mapping[str, Any] | None:
        key = self.lake._strip(path)
        if not fresh:
            found = self._listed().get(key)
            if found is not None:
                return found
        try:
            return self.lake.fs.info(key)
        except (FileNotFoundError, OSError):
            return None

    def _has(self, path: str) -> bool:
        return self.lake._strip(path) in self._listed()

    def waiting(self, f: Any) -> str | None:
        """Why landing file ``f`` (a ``LandingFile``) is not ready yet, or ``None``."""
        if f.rel in HELD_FILES.get():
            return "held back by the landing sensor: an earlier run with it failed, it is retried on its own later"
        if self.marker:
            if self.marker.startswith("."):
                marker = f.path + self.marker
                if not self._has(marker):
                    return f"no ready marker {f.rel}{self.marker} yet (ready_marker: {self.marker})"
            else:
                marker = f.path.rsplit("/", 1)[0] + "/" + self.marker
                if not self._has(marker):
                    folder = f.rel.rsplit("/", 1)[0] if "/" in f.rel else "."
                    return f"no ready marker {folder}/{self.marker} yet (ready_marker: {self.marker})"
            late = self._after_marker(f, marker)
            if late:
                return late
        if self.settle > 0:
            mtime = None
            parts = _parts(f.fingerprint)
            if "mtime" in parts:
                try:
                    mtime = float(parts["mtime"])
                except ValueError:
                    mtime = None
            if mtime is None:
                info = self._info(f.path)
                if info is None:
                    return "gone since it was listed"
                mtime = mtime_of(info)
            if mtime is not None and mtime == int(mtime):
                mtime += 1.0  # whole seconds (S3's LastModified): modified up to the end of that second
            if mtime is not None and self.now - mtime < self.settle:
                age = max(0.0, self.now - mtime)
                return (f"still settling: modified {age:.1f}s ago, settle_seconds: {self.settle:g} "
                        "(it may still be being written)")
        return None

    def _mtime(self, f: Any) -> float | None:
        """``f``'s modification time from the same listing as its marker's (the same precision)."""
        info = self._info(f.path)
        return mtime_of(info) if info is not None else None

    def _after_marker(self, f: Any, marker: str) -> str | None:
        """Why ``f`` is not covered by its ready marker: it was modified after the marker was written
        (a new batch written into a folder whose marker is an earlier batch's). Equal times (S3's
        whole seconds) count as covered."""
        info = self._listed().get(self.lake._strip(marker))
        written = mtime_of(info) if info is not None else None
        modified = self._mtime(f)
        if written is None or modified is None or modified <= written:
            return None
        name = marker.rsplit("/", 1)[-1]
        return (f"modified after its ready marker {name} ({modified - written:.1f}s later): it may still be "
                "being written; it is taken once the marker is written again after it")

    def landing_file(self, path: str) -> Any:
        """A ``LandingFile`` for one full path (one ``info`` request), or ``None`` if it is gone."""
        info = self._info(path)
        if info is None:
            return None
        return LandingFile(path, self.lake.relative(path), int(info.get("size") or 0), fingerprint(info))

    def moved(self, f: Any) -> str | None:
        """After reading ``f``: why what was read may not be the whole file (``None``: it is)."""
        if self.settle <= 0:
            return None
        info = self._info(f.path, fresh=True)
        if info is None:
            return "gone while it was being read"
        now = fingerprint(info)
        if now != f.fingerprint:
            return f"changed while it was being read ({describe_change(f.fingerprint, now)}): still being written"
        return None


class Gone(Exception):
    """A landing file that disappeared between the listing and the read: not bad input (never
    rejected nor moved, never a failed run), it waits like a file in flight."""


def gone(exc: BaseException) -> Gone | None:
    """A :class:`Gone` when reading a listed file failed because it no longer exists (Polars raises
    ``FileNotFoundError`` for a local file and for a missing object alike), else ``None``.

    >>> gone(FileNotFoundError("No such file")) is not None, gone(ValueError("bad quoting"))
    (True, None)
    """
    if isinstance(exc, FileNotFoundError):
        return Gone("gone since it was listed (deleted, moved or being replaced): not read; "
                    "a later run takes it if it comes back")
    return None


def not_ready(config: Any, lake: Any, paths: Iterable[str]) -> dict[str, str]:
    """``{full path: reason}`` for the landing files among ``paths`` that are not complete yet
    (what a landing sensor leaves out of its run requests). One ``info`` per path."""
    gate = Gate(config, lake)
    if not (gate.settle > 0 or gate.marker):
        return {}
    out = {}
    for path in paths:
        f = gate.landing_file(path)
        if f is None:
            continue
        why = gate.waiting(f)
        if why:
            out[path] = why
    return out
