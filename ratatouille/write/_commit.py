"""Commits: creating a table race-free, the version THIS commit landed at, reruns after a lost create.

Creating a table
    delta-rs replays a commit that lost the race for a version on top of the
    winner's. For a write to a table that does not exist yet that replay is
    wrong: it has read nothing, so it either overwrites the other process'
    table or lands a second "first" commit (the same landing files twice).
    Every creating write therefore uses ``mode="error"`` (refused when the
    table exists when it starts) and ``max_commit_retries=0`` (refused when
    version 0 appeared while it ran: the log entry is written put-if-absent,
    on S3 with a conditional put). Of N concurrent creators exactly one
    creates the table; the others raise :class:`TableCreatedMeanwhile`, and
    the runner runs them again as the ordinary write on the now existing
    table (:func:`rerun_if_created_meanwhile`): an append appends, a merge
    merges, a partition overwrite replaces its partition, an ingest takes
    only the files not yet held.

Other commits
    go through delta-rs' own conflict resolution with a bounded number of
    attempts (:data:`MAX_COMMIT_RETRIES`): concurrent appends and overwrites of
    disjoint partitions both land; overlapping writes make delta-rs raise
    ``CommitFailedError``, which becomes a
    :class:`~ratatouille.errors.ConcurrentCommitError` ("concurrent commit, run
    again"). delta-rs retries at once; when a partition write still fails
    although no commit since it started touched its partitions (delta-rs ran
    out of attempts against commits to other partitions, e.g. a wide backfill),
    :func:`retry_disjoint` writes it again after an exponential backoff with
    jitter, a bounded number of times (:data:`DISJOINT_ROUNDS`).

The version of a commit
    Each commit carries a unique ``ratatouille.commit_id`` in its commit
    info; :func:`landed` finds that entry in the log, so the version reported
    is the one this process wrote, not the table's latest.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from typing import Any, Callable, Mapping, Sequence, TypeVar

from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError

from .._delta_scan import log_entries
from .._errors_map import CONCURRENT_HINT
from ..errors import ConcurrentCommitError, StorageError

log = logging.getLogger("ratatouille")

COMMIT_ID = "ratatouille.commit_id"
#: the operation a commit made through ``create_write_transaction`` performed (delta-rs records it as a WRITE)
OPERATION = "ratatouille.operation"
MAX_COMMIT_RETRIES = 15  # delta-rs' attempts to commit on top of concurrent commits (conflict-checked)
RERUNS = 8  # how often a run that lost the creation of its table (or the race of an append) is run again
DISJOINT_ROUNDS = 4  # how often a partition write that only lost races against other partitions is tried
T = TypeVar("T")


class TableCreatedMeanwhile(ConcurrentCommitError):
    """Another process created the table while this run was creating it: nothing was written.

    The runner runs the transform again, now as the ordinary write on the existing table."""


class TargetChangedMeanwhile(ConcurrentCommitError):
    """An incremental append lost the race with another append to the same table: it computed its
    rows from a snapshot (its watermark) that another run appended to meanwhile, so committing
    them could land the same rows twice. Nothing was written; the runner runs it again."""


APPEND_APP_ID = "ratatouille.append"


def guarded(commit: CommitProperties, table: DeltaTable) -> CommitProperties:
    """``commit`` plus a Delta app transaction that makes it conflict with any other guarded commit
    to ``table`` since the snapshot it was computed from.

    Appends are blind in Delta: two runs that both read the same watermark and append the same
    new rows both commit. With the same app id in each commit, delta-rs' conflict check refuses
    the later one (``CommitFailedError``), which :class:`TargetChangedMeanwhile` reports. Whole-table
    overwrites (``table``, a full refresh of an append) carry it too, so an append computed before
    such an overwrite is refused rather than landing rows the overwrite already holds.
    The commit id (and so the version reported) stays the same."""
    txn = Transaction(app_id=APPEND_APP_ID, version=table.version() + 1, last_updated=int(time.time() * 1000))
    return CommitProperties(custom_metadata=dict(commit.custom_metadata or {}),
                            max_commit_retries=commit.max_commit_retries,
                            app_transactions=list(commit.app_transactions or []) + [txn])


def appended_meanwhile(target: Any, name: str = "") -> TargetChangedMeanwhile:
    return TargetChangedMeanwhile(f"another run appended to {target.uri} while this one computed its rows from "
                                  f"the table; nothing was written by this run: {CONCURRENT_HINT}",
                                  transform=name or target.name or None)


def rewritten_meanwhile(target: Any, name: str = "") -> TargetChangedMeanwhile:
    """The error of a commit that rewrites files of a snapshot another commit changed meanwhile."""
    return TargetChangedMeanwhile(f"another commit changed {target.uri} while this run rewrote files of it (an "
                                  f"optimize, another run); nothing was written by this run: {CONCURRENT_HINT}",
                                  transform=name or target.name or None)


def properties(metadata: Mapping[str, Any] | None = None, *, create: bool = False,
               app_transactions: Sequence[Any] | None = None) -> CommitProperties:
    """Commit properties carrying ``metadata`` and a fresh commit id.

    ``create``: the commit creates the table, so it is never retried on top of another one.

    >>> props = properties({"ratatouille.mode": "append"}, create=True)
    >>> props.max_commit_retries, len(props.custom_metadata[COMMIT_ID])
    (0, 32)
    """
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    meta[COMMIT_ID] = uuid.uuid4().hex
    return CommitProperties(custom_metadata=meta, max_commit_retries=0 if create else MAX_COMMIT_RETRIES,
                            app_transactions=list(app_transactions) if app_transactions else None)


def commit_id(commit: CommitProperties) -> str | None:
    return (commit.custom_metadata or {}).get(COMMIT_ID)


def landed(table: DeltaTable, commit: CommitProperties | str, since: int | None = None,
           storage_options: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The version this commit landed at and its commit info, found by its commit id in the log.

    ``commit`` is the commit's properties or its id; ``since`` the version the write was based
    on (``None`` for a creating write): only the log entries after it are read, newest first,
    each by its own file name (``_delta_log/<version>.json``), so the version is exact even
    while other processes keep committing. Raises :class:`~ratatouille.errors.StorageError`
    when the commit is not in the log."""
    ident = commit if isinstance(commit, str) else commit_id(commit)
    table.update_incremental()
    latest = table.version()
    for version, actions in log_entries(table.table_uri, storage_options, latest, since):
        info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        if ident is not None and info.get(COMMIT_ID) == ident:
            return version, info
    raise StorageError(f"the commit {ident} is not in the log of {table.table_uri} (versions after "
                       f"{since if since is not None else 'none'} up to {latest})")


def _partition_text(value: Any) -> str | None:
    """A partition value as the Delta log writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def touched(target: Any, since: int, partitions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a commit after version ``since`` added or removed files in one of ``partitions``
    (``{column: value}`` each) or changed the table's metadata; an action without partition
    values counts as touching everything."""
    table = target.open()
    if table is None:
        return True
    wanted = [{k: _partition_text(v) for k, v in p.items()} for p in partitions]
    for _, actions in log_entries(table.table_uri, target.storage_options, table.version(), since):
        for action in actions:
            if "metaData" in action or "protocol" in action:
                return True
            change = action.get("add") or action.get("remove")
            if change is None:
                continue
            values = change.get("partitionValues")
            if not values or any(all(values.get(k) == v for k, v in p.items()) for p in wanted):
                return True
    return False


def retry_partition_overwrite(write: Callable[[], T], *, target: Any, table: DeltaTable | None, data: Any,
                              overwrite: bool = True) -> T:
    """Call ``write``; for a predicate ``overwrite`` of a partitioned table (``replace_partitions``,
    a partition run) through :func:`retry_disjoint`, with the partitions present in ``data`` and the
    version of ``table`` (the snapshot the data was fitted to; the table as it is now when ``None``)."""
    if not overwrite:
        return write()
    table = table if table is not None else target.open()
    columns = list(table.metadata().partition_columns or []) if table is not None else []
    if not columns or any(c not in data.columns for c in columns):
        return write()  # not partitioned: delta-rs' own conflict check and retries decide
    partitions = data.select(columns).unique().to_dicts()
    return retry_disjoint(write, target=target, since=table.version(), partitions=partitions)


def retry_disjoint(write: Callable[[], T], *, target: Any, since: int, partitions: Sequence[Mapping[str, Any]],
                   rounds: int | None = None) -> T:
    """Call ``write`` (a partition overwrite based on version ``since``); when delta-rs refused it
    with ``CommitFailedError`` although no commit since touched ``partitions`` (it ran out of
    attempts against commits to other partitions), wait (exponential backoff with jitter) and
    call it again, at most ``rounds`` times. A real overlap is re-raised at once."""
    rounds = rounds or DISJOINT_ROUNDS
    for attempt in range(1, rounds + 1):
        try:
            return write()
        except CommitFailedError:
            if attempt == rounds or touched(target, since, partitions):
                raise
            pause = min(5.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret
            log.info("%s: commits to other partitions kept winning; writing again in %.1fs (round %d of %d)",
                     target.name or target.uri, pause, attempt + 1, rounds)
            time.sleep(pause)
    raise AssertionError("unreachable")


def created_meanwhile(exc: BaseException, target: Any) -> bool:
    """Whether a creating write failed because another process created the table meanwhile
    (delta-rs refused it, and the table exists now)."""
    if not isinstance(exc, DeltaError):
        return False
    try:
        return target.open() is not None
    except Exception:  # noqa: BLE001 - cannot tell: report the original failure
        return False


def created_error(target: Any, exc: BaseException | None = None) -> TableCreatedMeanwhile:
    return TableCreatedMeanwhile(f"another run created {target.uri} while this one was creating it; nothing was "
                                 f"written by this run: {CONCURRENT_HINT}", transform=target.name or None)


def rerun_if_created_meanwhile(fn: Callable[[], T], *, name: str = "", attempts: int = RERUNS) -> T:
    """Call ``fn`` (one transform's build and write) and call it again, after a short random
    pause, while it lost the creation of its table, or the race of an incremental append
    (:class:`TargetChangedMeanwhile`), to another process (bounded)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (TableCreatedMeanwhile, TargetChangedMeanwhile) as exc:
            if attempt == attempts:
                raise
            log.info("%s: %s; running again on the table as it is now (attempt %d of %d)", name,
                     "another run created the table meanwhile" if isinstance(exc, TableCreatedMeanwhile)
                     else "another run appended meanwhile", attempt + 1, attempts)
            time.sleep(random.uniform(0.05, 0.2) * min(attempt, 4))  # noqa: S311 - backoff jitter, not a secret
    raise AssertionError("unreachable")


def record_only(target: Any, table: DeltaTable, metadata: Mapping[str, Any]) -> int | None:
    """Commit ``metadata`` alone (no data file added or removed) and return the version it landed at.

    A run whose fingerprint changed but that had nothing to write (a merge of no new rows) records
    its fingerprint this way, so the next run with the same code and inputs is ``unchanged`` instead
    of building the plan again (``execute/_fingerprint.py``). The commit is guarded like an append:
    if another guarded commit landed since ``table`` was read, nothing is recorded (None) and the
    next run simply builds again.
    """
    commit = guarded(properties(metadata), table)
    since = table.version()
    try:
        table.create_write_transaction([], mode="append", schema=table.schema(),
                                       partition_by=table.metadata().partition_columns or None,
                                       commit_properties=commit)
    except DeltaError as exc:  # lost a race: the other commit decides; nothing to undo
        log.info("fingerprint not recorded (%s): the next run builds again", type(exc).__name__)
        return None
    return landed(table, commit, since, target.storage_options)[0]
