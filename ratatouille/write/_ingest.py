"""The ingest write: a materialization landing one ingest run in one Delta commit.

The commit also records the run's files (the ledger, ``ratatouille/ingest/_ledger.py``) and carries
the Delta app transaction ``ratatouille.ingest``, so a concurrent ingest that committed meanwhile
makes this one fail (``ConcurrentIngestError``) instead of ingesting the same files twice.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import polars as pl
from deltalake import Transaction

from .._errors_map import write_error
from ..errors import ConcurrentIngestError, RatatouilleError, StorageError
from ..ingest import APP_ID, SOURCE_FILE, IngestPlan, in_predicate
from ..ingest import _conform
from . import Target, WriteOutcome, _commit, fast_write, fast_write_eligible


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

    def write(self, target: Target, data: pl.DataFrame | pl.LazyFrame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None) -> WriteOutcome:
        """Land ``data`` (the run's rows) in ``target`` in one commit recording the run's files.

        Raises
        ------
        ConcurrentIngestError
            Another ingest of the table committed meanwhile: nothing was written.
        """
        df = data.collect() if isinstance(data, pl.LazyFrame) else data
        table = self.plan.table
        meta = {k: str(v) for k, v in (metadata or {}).items()}
        meta.update(self.plan.commit_metadata())
        version = (table.version() + 1) if table is not None else 0
        commit = _commit.properties(meta, create=table is None, app_transactions=[  # race-free create
            Transaction(app_id=APP_ID, version=version, last_updated=int(time.time() * 1000))])
        opts = dict(target.storage_options) if target.storage_options else None
        fast = None
        try:
            if table is None:
                df.write_delta(target.uri, mode="error", storage_options=opts,
                               delta_write_options={"commit_properties": commit})
            elif full_refresh:
                df.write_delta(table, mode="overwrite", delta_write_options={
                    "commit_properties": commit, "schema_mode": "overwrite"})
            elif self.t.config.on_schema_change == "sync_all_columns" and (
                    widen := _conform.widened(df.schema, table)):  # a wider type: one rewrite
                _conform.rewrite(df, table, widen, self.plan.reingested, SOURCE_FILE).sink_delta(
                    table, mode="overwrite", delta_write_options={
                        "commit_properties": commit, "schema_mode": "overwrite",
                        "partition_by": list(table.metadata().partition_columns or []) or None})
            elif self.plan.reingested:
                df.write_delta(table, mode="overwrite", delta_write_options={
                    "commit_properties": commit, "schema_mode": "merge",
                    "predicate": in_predicate(SOURCE_FILE, self.plan.files)})
            elif (fast := _fast_append(df, target, table, commit)) is None:
                df.write_delta(table, mode="append", delta_write_options={
                    "commit_properties": commit, "schema_mode": "merge"})
        except RatatouilleError:
            raise
        except Exception as exc:  # nothing was committed (the runner reruns a lost create on the new table)
            if table is None and _commit.created_meanwhile(exc, target):
                raise _commit.created_error(target, exc).locate(transform=self.t.name, file=self.t.file) from None
            raise write_error(exc, action=f"writing {target.uri} failed (ingest)", uri=target.uri,
                              transform=self.t.name, file=self.t.file, concurrent=ConcurrentIngestError) from None
        if fast is not None:  # already at the new version
            return WriteOutcome(version=fast.version, rows_written=df.height)
        since = version - 1 if table is not None else None  # the snapshot it was based on
        table = table if table is not None else target.open()
        if table is None:
            raise StorageError(f"{target.uri}: the table is missing after the ingest commit", transform=self.t.name)
        return WriteOutcome(version=_commit.landed(table, commit, since, target.storage_options)[0],
                            rows_written=df.height)


def _fast_append(df: pl.DataFrame, target: Target, table: Any, commit: Any) -> Any:
    """Polars-encoded parquet committed by delta-rs (``ratatouille.write.fast_write``) when eligible."""
    if not fast_write_eligible(df, target, table, "append"):
        return None
    return fast_write(df, target, table, "append", commit)
