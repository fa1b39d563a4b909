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
    again").

The version of a commit
    Each commit carries a unique ``ratatouille.commit_id`` in its commit
    info; :func:`landed` finds that entry in the log, so the version reported
    is the one this process wrote, not the table's latest.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from typing import Any, Callable, Mapping, Sequence, TypeVar

from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from .._errors_map import CONCURRENT_HINT
from ..errors import ConcurrentCommitError, StorageError

log = logging.getLogger("ratatouille")

COMMIT_ID = "ratatouille.commit_id"
MAX_COMMIT_RETRIES = 15  # delta-rs' attempts to commit on top of concurrent commits (conflict-checked)
RERUNS = 3  # how often a run that lost the creation of its table is run again
T = TypeVar("T")


class TableCreatedMeanwhile(ConcurrentCommitError):
    """Another process created the table while this run was creating it: nothing was written.

    The runner runs the transform again, now as the ordinary write on the existing table."""


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
    each by its own file name (``_delta_log/<version>.json``, through delta-rs' object store), so
    the version is exact even while other processes keep committing. Raises
    :class:`~ratatouille.errors.StorageError` when the commit is not in the log."""
    from deltalake.fs import DeltaStorageHandler

    ident = commit if isinstance(commit, str) else commit_id(commit)
    table.update_incremental()
    latest = table.version()
    store = DeltaStorageHandler(table.table_uri, options=dict(storage_options) if storage_options else None)
    for version in range(latest, -1 if since is None else since, -1):
        try:
            raw = store.open_input_file(f"_delta_log/{version:020d}.json").read()
        except FileNotFoundError:  # cleaned up by a checkpoint: older than this write
            break
        for line in raw.splitlines():
            if b'"commitInfo"' in line:
                info = json.loads(line).get("commitInfo") or {}
                if ident is not None and info.get(COMMIT_ID) == ident:
                    return version, info
                break
    raise StorageError(f"the commit {ident} is not in the log of {table.table_uri} (versions after "
                       f"{since if since is not None else 'none'} up to {latest})")


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
    pause, while it lost the creation of its table to another process (bounded)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TableCreatedMeanwhile:
            if attempt == attempts:
                raise
            log.info("%s: another run created the table meanwhile; running again on the existing table "
                     "(attempt %d of %d)", name, attempt + 1, attempts)
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # noqa: S311 - backoff jitter, not a secret
    raise AssertionError("unreachable")
