"""The ingest write: a materialization landing one ingest run in one Delta commit.

The commit also records the run's files (the ledger, ``ratatouille/ingest/_ledger.py``) and carries
the Delta app transaction ``ratatouille.ingest``, so a concurrent ingest that committed meanwhile
makes this one fail (``ConcurrentIngestError``) instead of ingesting the same files twice.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction

from .._errors_map import delta_writer, write_error
from ..errors import ConcurrentIngestError, RatatouilleError, StorageError
from ..ingest import APP_ID, SOURCE_FILE, IngestPlan, in_predicate
from ..ingest import _conform
from . import Target, WriteOutcome, _commit, fast_write, fast_write_eligible
from ._stage import Validate


class IngestWrite:
    """Write an ingest run in one Delta commit.

    * a first run creates the table, ``full_refresh`` overwrites it;
    * new files are appended (new columns added as nullable);
    * with changed files to re-ingest, one predicate overwrite replaces the rows of every file of
      the run (``_source_file IN (...)``): their old rows go, their new rows land, atomically.

    The commit is made against the very snapshot the ingested set was read from and carries a
    Delta app transaction, so a concurrent ingest that committed meanwhile makes this one fail
    (``IngestError``) instead of ingesting the same files twice.
    """

    mode = "append"

    def __init__(self, t: Any, plan: IngestPlan) -> None:
        self.t = t
        self.plan = plan
        self.validate: Validate | None = None  # the run's checks on the staged rows (write/_streamed.py)
        self.ordered = False

    def write(self, target: Target, data: pl.DataFrame | pl.LazyFrame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None) -> WriteOutcome:
        """Land ``data`` (the run's rows) in ``target`` in one commit recording the run's files.

        Raises
        ------
        ConcurrentIngestError
            Another ingest of the table committed meanwhile: nothing was written.
        """
        try:
            return self._attempt(target, data, full_refresh, metadata, retry=True)
        finally:
            self.plan.pins.close()  # the streamed landing files have been read

    def _attempt(self, target: Target, data: pl.DataFrame | pl.LazyFrame, full_refresh: bool,
                 metadata: Mapping[str, str] | None, *, retry: bool) -> WriteOutcome:
        """One write of ``data``; a landing file that turns out bad while it streams is taken out of the
        run (``IngestPlan.recover``: rejected with its line) and the others are written again."""
        lf = data.lazy()
        rows = data.height if isinstance(data, pl.DataFrame) else self.plan.rows_read
        table = self.plan.table
        meta = {k: str(v) for k, v in (metadata or {}).items()}
        meta.update(self.plan.commit_metadata())
        version = (table.version() + 1) if table is not None else 0
        commit = _commit.properties(meta, create=table is None, app_transactions=[  # race-free create
            Transaction(app_id=APP_ID, version=version, last_updated=int(time.time() * 1000))])
        landed = None
        try:
            widen = (_conform.widened(lf.collect_schema(), table) if table is not None and not full_refresh
                     and self.t.config.on_schema_change == "sync_all_columns" else {})
            staged = table is None or not (full_refresh or widen or self.plan.reingested)
            if self.validate is not None and not staged:  # delta-rs' writer: the checks stream over the rows first
                self.validate(lf)
            if table is None:
                landed = land(lf, target, None, "error", commit, validate=self.validate)
            elif full_refresh:
                landed = land(lf, target, table, "overwrite", commit, schema_mode="overwrite")
            elif widen:  # a wider type: one rewrite
                landed = land(_conform.rewrite(lf, table, widen, self.plan.reingested, SOURCE_FILE), target, table,
                              "overwrite", commit, schema_mode="overwrite",
                              partition_by=list(table.metadata().partition_columns or []) or None)
            elif self.plan.reingested:
                landed = land(lf, target, table, "overwrite", commit, schema_mode="merge",
                              predicate=in_predicate(SOURCE_FILE, self.plan.files))
            else:
                landed = land(lf, target, table, "append", commit, schema_mode="merge", validate=self.validate)
        except RatatouilleError:
            raise
        except Exception as exc:  # nothing was committed (the runner reruns a lost create on the new table)
            again = self.plan.recover() if retry and self.plan.recover is not None else None
            if again is not None and not self.plan.files and not full_refresh:  # every file was bad
                return WriteOutcome(version=table.version() if table is not None else None, rows_written=0,
                                    skipped=True)
            if again is not None:  # a bad landing file met while streaming: rejected, the others land
                return self._attempt(target, again, full_refresh, metadata, retry=False)
            if table is None and _commit.created_meanwhile(exc, target):
                raise _commit.created_error(target, exc).locate(transform=self.t.name, file=self.t.file) from None
            raise write_error(exc, action=f"writing {target.uri} failed (ingest)", uri=target.uri,
                              transform=self.t.name, file=self.t.file, concurrent=ConcurrentIngestError) from None
        if landed is not None:  # already at the new version
            return WriteOutcome(version=landed.version, rows_written=rows)
        since = version - 1 if table is not None else None  # the snapshot it was based on
        table = table if table is not None else target.open()
        if table is None:
            raise StorageError(f"{target.uri}: the table is missing after the ingest commit", transform=self.t.name)
        return WriteOutcome(version=_commit.landed(table, commit, since, target.storage_options)[0], rows_written=rows)


def land(data: pl.LazyFrame, target: Target, table: DeltaTable | None, mode: str, commit: CommitProperties, *,
         schema_mode: str | None = None, predicate: str | None = None,
         partition_by: list[str] | None = None, validate: Validate | None = None) -> WriteOutcome | None:
    """Land the lazy frame ``data`` in ``target`` in one commit (``commit``): the one function the ingest
    write calls to write data.

    A plain append to an existing local table that has the frame's schema, or the creation of a local
    table, goes through Polars' own parquet writer (:func:`ratatouille.write.fast_write`: streamed,
    staged, then committed by delta-rs; staged files of a failed write are deleted); anything else
    streams the plan through delta-rs' writer (``sink_delta``).

    Parameters
    ----------
    data : pl.LazyFrame
        The rows (read while they are written).
    target : Target
        The table's location.
    table : DeltaTable or None
        The snapshot the commit is made on (``None``: the table is created; ``mode="error"``).
    mode : str
        ``"error"``, ``"append"`` or ``"overwrite"``.
    commit : CommitProperties
        The commit's metadata and app transactions.
    schema_mode, predicate, partition_by
        delta-rs' write options.
    validate : callable, optional
        The run's checks, given a scan of the rows before the commit (raising commits nothing).

    Returns
    -------
    WriteOutcome or None
        The outcome when the writer knows the version it landed at, else ``None``.
    """
    if ((table is not None and mode == "append") or (table is None and mode == "error")) and predicate is None \
            and fast_write_eligible(data, target, table, mode):
        return fast_write(data, target, table, mode, commit, validate=validate)
    if validate is not None:  # delta-rs' writer: the checks stream over the plan first
        validate(data)
    options: dict[str, Any] = {"commit_properties": commit}
    if schema_mode is not None:
        options["schema_mode"] = schema_mode
    if predicate is not None:
        options["predicate"] = predicate
    if partition_by is not None:
        options["partition_by"] = partition_by
    if table is None:
        opts = dict(target.storage_options) if target.storage_options else None
        delta_writer(lambda: data.sink_delta(target.uri, mode="error", storage_options=opts,
                                             delta_write_options=options), target.uri)
    else:
        delta_writer(lambda: data.sink_delta(table, mode=mode, delta_write_options=options),  # type: ignore[call-overload]
                     target.uri)
    return None
