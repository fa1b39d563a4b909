"""Sensors and schedules: ``triggers:`` of a transform, and one landing sensor per ingest transform.

A transform's YAML (or ``@transform(triggers=...)``) declares triggers::

    triggers:
      - schedule: "0 6 * * *"          # cron; optional timezone: Europe/Paris
      - sensor: landing/sales/         # a lake folder (or glob) to watch
        minimum_interval_seconds: 60
        status: running                # running or stopped (default: stopped)
        downstream: true               # also run what depends on it (default: false)

Every ingest transform also gets a sensor on its ``source:`` folder (unless
it declares one on that folder itself); it requests the ingest asset and the
transforms downstream of it. An ingest transform's sensor asks its table which
files it holds: a listed file the table does not hold and no earlier request
named (the cursor's ``pending`` files) is new, whatever its modification time.
Other folder sensors' cursor is the newest file seen (its path, ordered by
modification time then path). Either way each new file is covered by exactly
one run request: one request per evaluation for every file that arrived since
(an ingest run reads all new files at once). A sensor does not request a new
run while its previous run is still going (the cursor stays, so no file is lost).

**Retries** (ingest sensors). A requested file that the table still does not
hold once no run of the sensor is going was in a run that failed (or left it):
it is requested again, on its own, after a backoff (``minimum_interval_seconds``
times 2, 4, 8... up to an hour), at most :data:`MAX_ATTEMPTS` times; a file
changed in place (new modification time) is requested again at once with fresh
attempts. The cursor's ``retries`` entry shows, per file, the attempts made,
when the next one is due and whether the sensor gave up; the sensor's log says
so too. Runs of new files hold the failing files back (run tag
``ratatouille/hold_files``: the ingest leaves them for their own retry), so one
failing file never holds back the files that landed after it. Files not yet
complete (``settle_seconds``, ``ready_marker``) are not requested until they are.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import dagster as dg

from .._lake import fingerprint
from ..ingest._settle import mtime_of
from ..transforms import Transform
from ..transforms._orchestration import DEFAULT_INTERVAL, trigger_entries
from ._partitions import latest_keys

if TYPE_CHECKING:  # annotations only
    from .._lake import Lake

MAX_ATTEMPTS = 5  # requests of one file by an ingest sensor before it gives up (until the file changes)
MAX_BACKOFF = 3600.0
HOLD_TAG = "ratatouille/hold_files"
_BUSY = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
         dg.DagsterRunStatus.STARTED]


def parse_triggers(t: Transform) -> list[dict[str, Any]]:
    """``triggers:`` entries with their ``kind``, ``status`` and ``index`` (checked at discovery)."""
    return trigger_entries(t.config.triggers)


# -- landing sensors ----------------------------------------------------------------------------
def stamped_files(lake: Lake, files: Sequence[str], source: str,
                  fingerprints: dict[str, str] | None = None) -> list[tuple[float, str]]:
    """``(modification time, path)`` of each file, from one listing of the watched folder
    (``fingerprints``, if given, is filled with each path's fingerprint: ETag, else size and mtime)."""
    fs = lake.fs
    base = source.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    root = lake._strip(lake.path(base if base.endswith("/") or not any(c in source for c in "*?[")
                                 else base.rsplit("/", 1)[0]))
    try:
        infos = fs.find(root, detail=True) if fs.exists(root) else {}
    except (FileNotFoundError, OSError):
        infos = {}
    out = []
    for path in files:
        info = infos.get(lake._strip(path))
        if info is None:
            try:
                info = fs.info(lake._strip(path))
            except (FileNotFoundError, OSError):
                continue  # moved away meanwhile
        out.append((mtime_of(info) or 0.0, path))
        if fingerprints is not None:
            fingerprints[path] = fingerprint(info)
    return sorted(out)


def parse_cursor(cursor: str | None) -> tuple[float, str] | None:
    """The sensor cursor: ``{"path": newest path, "mtime": its modification time}``.

    A bare path (a cursor written by a hand-made sensor) compares by path only.
    """
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
        return float(data["mtime"]), str(data["path"])
    except (ValueError, KeyError, TypeError):
        return float("-inf"), cursor


def _pending(cursor: str | None) -> list[str]:
    """The files an earlier request named and the table did not hold yet (``pending`` in the cursor)."""
    try:
        return [str(p) for p in json.loads(cursor or "{}").get("pending", [])]
    except (ValueError, AttributeError):
        return []


#: seconds before the cursor's newest modification time in which files are remembered by path
#: (the cursor's ``recent``): a file whose time is not newer than the newest one seen still counts as
#: new there (S3 gives whole seconds; a multipart upload's LastModified is when it STARTED)
RECENT_WINDOW = 900.0


def _recent(cursor: str | None) -> set[str] | None:
    """The paths the cursor remembers near its newest modification time (``None``: an older cursor)."""
    try:
        raw = json.loads(cursor or "{}").get("recent")
    except (ValueError, AttributeError):
        return None
    return {str(p) for p in raw} if isinstance(raw, list) else None


def new_files(stamped: Sequence[tuple[float, str]], cursor: tuple[float, str] | None,
              recent: set[str] | None = None) -> list[tuple[float, str]]:
    """The files newer than ``cursor``, and those in :data:`RECENT_WINDOW` before it that ``recent``
    (the paths seen there) does not hold.

    >>> new_files([(10.0, "a"), (10.0, "b"), (9.0, "c")], (10.0, "b"), {"b"})
    [(10.0, 'a'), (9.0, 'c')]
    """
    if cursor is None:
        return list(stamped)
    if cursor[0] == float("-inf"):
        return [(m, p) for m, p in stamped if p > cursor[1]]
    if recent is not None:
        return [(m, p) for m, p in stamped
                if (m, p) > cursor or (m >= cursor[0] - RECENT_WINDOW and p not in recent)]
    return [(m, p) for m, p in stamped if (m, p) > cursor]


def _retries(cursor: str | None) -> dict[str, dict[str, Any]]:
    """Per pending file: ``attempts``, ``mtime`` when last requested, ``next`` (epoch seconds the
    next attempt is due), ``gave_up``."""
    try:
        raw = json.loads(cursor or "{}").get("retries", {})
        return {str(k): dict(v) for k, v in raw.items() if isinstance(v, Mapping)}
    except (ValueError, AttributeError, TypeError):
        return {}


def backoff(interval: int, attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1`` of a file.

    >>> [backoff(30, n) for n in (1, 2, 3)], backoff(30, 20)
    ([60.0, 120.0, 240.0], 3600.0)
    """
    return min(MAX_BACKOFF, float(interval) * 2 ** min(attempts, 30))


_ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _ended_batches(context: dg.SensorEvaluationContext, name: str, batches: set[str]) -> set[str]:
    """The batches (run tag ``ratatouille/batch``) whose run has ended (one query per batch)."""
    if not batches:
        return set()
    try:
        instance = context.instance
    except Exception:  # noqa: BLE001 - a test context without an instance: no verdict
        return set()
    out = set()
    for b in batches:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"ratatouille/sensor": name, "ratatouille/batch": b},
                                                       statuses=_ENDED), limit=1)
        if runs:
            out.add(b)
    return out


def _busy(context: dg.SensorEvaluationContext, name: str) -> bool:
    try:
        instance = context.instance
    except Exception:  # noqa: BLE001 - a test context without an instance
        return False
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"ratatouille/sensor": name}, statuses=_BUSY), limit=1)
    return bool(runs)


def landing_sensor(*, name: str, source: str, list_files: Callable[[], list[str]], lake: Lake,
                   keys: Sequence[dg.AssetKey], partitions: dg.PartitionsDefinition | None = None,
                   interval: int = DEFAULT_INTERVAL, running: bool = False,
                   description: str | None = None,
                   ingested: Callable[[], set[str]] | None = None,
                   not_ready: Callable[[Sequence[str]], Mapping[str, str]] | None = None) -> dg.SensorDefinition:
    """A sensor requesting ``keys`` when new files land under ``source``.

    With ``ingested`` (the landing files an ingest transform's table already holds, relative
    to the lake root), a file is new when the table does not hold it and no earlier request
    named it (the cursor's ``pending`` files, dropped once ingested or gone): a file that
    lands with an old modification time (``cp -p``, ``rsync -a``, an unzip) is not missed.
    Otherwise a file is new when it is newer than the cursor's newest file.
    ``not_ready`` (full paths -> reason) names the files still in flight: not requested yet.
    Files of a failed run are retried (see the module).
    """

    @dg.sensor(name=name, target=list(keys), minimum_interval_seconds=interval,
               default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
               description=description or f"New files under {source} -> materialize "
                                          f"{', '.join(k.to_user_string() for k in keys)}")
    def _sensor(context: dg.SensorEvaluationContext) -> Any:  # a RunRequest, a list of them, or a SkipReason
        fps: dict[str, str] = {}
        stamped = stamped_files(lake, list_files(), source, fps if ingested is not None else None)
        cursor = parse_cursor(context.cursor)
        if ingested is not None:
            return _ingest_tick(context, stamped, cursor, fps)
        fresh = new_files(stamped, cursor, _recent(context.cursor))
        if not fresh:
            return dg.SkipReason(f"no new file under {source}")
        if _busy(context, name):
            return dg.SkipReason(f"{len(fresh)} new file(s) wait: the previous run of {name} is still going")
        mtime, newest = max([*fresh, cursor] if cursor and cursor[0] != float("-inf") else fresh)
        recent = sorted(p for m, p in stamped if m >= mtime - RECENT_WINDOW)  # seen near the newest time
        context.update_cursor(json.dumps({"path": newest, "mtime": mtime, "recent": recent}))
        tags = {"ratatouille/sensor": name, "ratatouille/new_files": str(len(fresh)),
                "ratatouille/newest_file": newest.rsplit("/", 1)[-1][:200]}
        if partitions is None:
            return dg.RunRequest(run_key=f"{name}:{newest}:{mtime}", tags=tags)
        return [dg.RunRequest(run_key=f"{name}:{newest}:{mtime}:{key}", partition_key=key, tags=tags)
                for key in latest_keys(partitions)]

    def _ingest_tick(context: dg.SensorEvaluationContext, stamped: list[tuple[float, str]], cursor: Any,
                     fps: Mapping[str, str]) -> Any:
        """An ingest sensor's tick: new files, retries of failed ones, files in flight left alone."""
        if ingested is None:  # only ingest transforms' sensors tick here
            raise RuntimeError(f"sensor of {name} has no ingested-files reader")
        now = time.time()
        done, requested, retries = ingested(), set(_pending(context.cursor)), _retries(context.cursor)
        rel = {p: lake.relative(p) for _, p in stamped}
        listed = set(rel.values())
        candidates = [(m, p) for m, p in stamped if rel[p] not in done]
        in_flight = dict(not_ready([p for _, p in candidates])) if not_ready and candidates else {}
        # what became of the earlier requests: a batch whose run ended without landing a file failed it
        entries = {r: dict(retries.get(r) or {"attempts": 1, "mtime": None, "next": 0.0})
                   for r in requested if r in listed and r not in done}
        ended = _ended_batches(context, name, {e["batch"] for e in entries.values()
                                              if e.get("batch") and not e.get("failed")})
        for r, entry in entries.items():
            if entry.get("batch") in ended and not entry.get("failed"):
                entry["failed"] = True
                context.log.warning(f"{name}: the run with {r} ended without ingesting it (attempt "
                                    f"{entry.get('attempts', 1)} of {MAX_ATTEMPTS}); retried on its own from "
                                    f"{dt.datetime.fromtimestamp(float(entry.get('next', now)), dt.timezone.utc):%H:%M:%S} UTC")
        fresh, due, later, gave_up = [], [], [], []
        for m, p in candidates:
            r = rel[p]
            if p in in_flight:
                continue
            e = entries.get(r)
            if e is None:
                fresh.append((m, p))
            elif (e.get("fp") is not None and e["fp"] != fps.get(p)) or \
                    (e.get("fp") is None and e.get("mtime") is not None and float(e["mtime"]) != m):  # fixed in place
                context.log.info(f"{name}: {r} changed since it was requested: requested again")
                entries.pop(r)
                fresh.append((m, p))
            elif not e.get("failed") and now < float(e.get("next", 0.0)):
                later.append(r)  # its run may still come (or was never launched): not held back
            elif int(e.get("attempts", 1)) >= MAX_ATTEMPTS:
                gave_up.append(r)
            elif now >= float(e.get("next", 0.0)):
                due.append((float(e.get("next", 0.0)), m, p))
            else:
                later.append(r)
        notes = (f"; {len(in_flight)} file(s) still in flight (settle_seconds / ready_marker)" if in_flight else "") + \
            (f"; {len(later)} requested file(s) wait for their run or retry" if later else "") + \
            (f"; gave up on {len(gave_up)} file(s) after {MAX_ATTEMPTS} attempts, until they change: "
             f"{', '.join(sorted(gave_up)[:5])}" if gave_up else "")
        for r in gave_up:
            if not entries[r].get("gave_up"):
                context.log.warning(f"{name}: gave up on {r} after {MAX_ATTEMPTS} failed runs; "
                                    "it is requested again once the file changes")
                entries[r]["gave_up"] = True
        if not fresh and not due:
            if set(entries) != requested or any(e != retries.get(r) for r, e in entries.items()):
                context.update_cursor(json.dumps({**json.loads(context.cursor or "{}"), "pending": sorted(entries),
                                                  "retries": entries}))
            return dg.SkipReason(f"no new file under {source}" + notes)
        if _busy(context, name):
            return dg.SkipReason(f"{len(fresh) + len(due)} file(s) wait: the previous run of {name} is still going")
        batch_id = uuid.uuid4().hex[:12]
        if fresh:
            batch = list(fresh)
            tags_extra = {"ratatouille/new_files": str(len(batch))}
            if due:
                context.log.info(f"{name}: new files first; {len(due)} failed file(s) are retried on a later tick")
        else:  # the oldest due retry, on its own: it cannot hold back any other file
            _, m, p = min(due)
            batch = [(m, p)]
            r = rel[p]
            attempts = int(entries[r].get("attempts", 1)) + 1
            context.log.warning(f"{name}: retrying {r} (attempt {attempts} of {MAX_ATTEMPTS})")
            tags_extra = {"ratatouille/new_files": "0", "ratatouille/retry": r[-200:],
                          "ratatouille/attempt": str(attempts)}
        for m, p in batch:
            r = rel[p]
            attempts = int(entries[r].get("attempts", 1)) + 1 if r in entries else 1
            entries[r] = {"attempts": attempts, "mtime": m, "fp": fps.get(p), "next": now + backoff(interval, attempts),
                          "batch": batch_id}
        chosen = {rel[p] for _, p in batch}
        # files whose run failed wait for their own retry; requested ones with no verdict yet come along
        hold = sorted(r for r, e in entries.items() if r not in chosen and e.get("failed"))
        mtime, newest = max([*batch, cursor] if cursor and cursor[0] != float("-inf") else batch)
        context.update_cursor(json.dumps({"path": newest, "mtime": mtime, "pending": sorted(entries),
                                          "retries": entries}))
        top_m, top_p = max(batch)
        tags = {"ratatouille/sensor": name, "ratatouille/batch": batch_id,
                "ratatouille/newest_file": top_p.rsplit("/", 1)[-1][:200], **tags_extra}
        if hold:
            tags[HOLD_TAG] = json.dumps(hold)
        key = f"{name}:{top_p}:{top_m}:{tags.get('ratatouille/attempt', 1)}"
        if partitions is None:
            return dg.RunRequest(run_key=key, tags=tags)
        return [dg.RunRequest(run_key=f"{key}:{k}", partition_key=k, tags=tags) for k in latest_keys(partitions)]
    return _sensor


def trigger_schedule(*, name: str, cron: str, keys: Sequence[dg.AssetKey],
                     partitions: dg.PartitionsDefinition | None = None, timezone: str | None = None,
                     running: bool = False, description: str | None = None) -> dg.ScheduleDefinition:
    """A cron schedule requesting ``keys`` (the latest partition of a partitioned transform)."""

    @dg.schedule(cron_schedule=cron, name=name, target=list(keys), execution_timezone=timezone,
                 default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
                 description=description or f"{cron} -> materialize {', '.join(k.to_user_string() for k in keys)}")
    def _schedule(context: dg.ScheduleEvaluationContext) -> Any:  # a RunRequest or a list of them
        if partitions is None:
            return dg.RunRequest()
        now = context.scheduled_execution_time
        found = latest_keys(partitions, now)
        if not found:
            return dg.SkipReason("no partition has started yet")
        return [dg.RunRequest(run_key=f"{name}:{key}", partition_key=key) for key in found]

    return _schedule
