"""The :class:`Runner`: builds, checks and writes one transform after another (``run()`` drives it)."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import polars as pl

from .._delta_scan import scan_delta
from .._names import not_found
from .._types import declared_types, type_nulls
from ..check import RUN_VARS, jsonable, run_checks
from ..check._on_fail import attempt_key, drop_failing_rows, has_row_level
from ..check._store_failures import failure_store
from ..discover import Project
from ..errors import CheckError, RatatouilleError, SQLError, TableNotFoundError, TransformError
from ..plan import DAG
from ..transforms import BrokenTransform, BuildContext, IngestTransform, Transform
from ..write import Materialization, OverwritePartition, Target
from ..write._dispatch import writer_for
from ..write._commit import record_only, rerun_if_created_meanwhile
from ..write._streamed import streamed_checks
from ._book import Book
from ._dry_run import dry_run_result
from ._fingerprint import Fingerprints, fingerprinted
from ._partition import check_partitionable, restrict_to_partition
from ._result import RunResult, combine
from ._schedule import run_graph, workers_for

if TYPE_CHECKING:  # annotations only
    from ..ingest import IngestPlan

log = logging.getLogger("ratatouille")
Event = Callable[[str, str, "RunResult | None"], None]
INCREMENTAL_MODES = ("append", "merge", "replace_partitions")


class Runner:
    """Runs transforms of one project (workspace) in topological order."""

    def __init__(self, project: Project, *, full_refresh: bool = False, vars: Mapping[str, Any] | None = None,
                 on_event: Event | None = None, dry_run: bool = False, partition: str | None = None,
                 threads: int | None = None) -> None:
        self.project = project
        self.dry_run = dry_run
        self.full_refresh = full_refresh
        self.vars = {**project.settings.vars, **(vars or {})}
        RUN_VARS.set(self.vars)  # var() in the checks' SQL (check/__init__.py)
        self.partition = partition  # run one partition only (execute/_partition.py)
        if partition is not None:
            self.vars["partition"] = partition
        self.on_event = on_event
        self.run_id = uuid.uuid4().hex[:12]
        self.fresh: dict[str, pl.LazyFrame] = {}
        self._found: dict[str, Target] = {}  # tables found in storage this run (validation and reads share it)
        self.dag = DAG(project.transforms)
        self.workers = workers_for(project.settings.lake, threads, project.settings.threads)  # _schedule.py
        self.fingerprints = Fingerprints(project.transforms, self._read_target, self.vars,  # _fingerprint.py
                                         project.settings)

    # -- resolution -----------------------------------------------------------
    def frame(self, name: str, *, reader: str | None = None) -> pl.LazyFrame:
        """A LazyFrame for table ``name``: fresh from this run, a view's plan, or the Delta table."""
        if name in self.fresh:
            return self.fresh[name]
        t = self.project.transforms.get(name)
        if t is not None and t.mode == "view":
            lf = self._build(t, self._inputs(t), target=None, incremental=False)
            # resolve the plan's schema here, once, before other threads share it: two threads resolving
            # one Delta scan (a Python IO source) at the same time can deadlock in Polars (see _dry_run.py)
            with contextlib.suppress(pl.exceptions.PolarsError):  # a broken view fails where it is read
                lf.collect_schema()
            self.fresh[name] = lf
            return lf
        target = self._read_target(name)
        if target is None:
            hint = "run it first (e.g. rat run +" + (reader or name) + ")" if t else "no transform builds it"
            known = self.project.known_tables()
            if t is None:

                err = not_found(name, known)
                raise TableNotFoundError(f"reads {err.message}" if reader else err.message,
                                         transform=reader, file=self._file(reader))
            raise TableNotFoundError(f"table {name} has not been built yet: {hint}", transform=reader,
                                     file=self._file(reader))
        return target.scan()

    def _read_target(self, name: str) -> Target | None:
        """``project.read_target`` remembered for the run once found (a table does not vanish mid-run)."""
        if name not in self._found:
            target = self.project.read_target(name)
            if target is None:
                return None
            self._found[name] = target
        return self._found[name]

    def _file(self, name: str | None) -> str | None:
        t = self.project.transforms.get(name) if name else None
        return t.file if t else None

    def _inputs(self, t: Transform) -> dict[str, pl.LazyFrame]:
        return {inp: self.frame(inp, reader=t.name) for inp in t.inputs}

    def _build(self, t: Transform, inputs: Mapping[str, pl.LazyFrame], *, target: Target | None,
               incremental: bool, extra: dict[str, Any] | None = None, table: Any = None) -> pl.LazyFrame:
        # scanning the already opened table saves loading its Delta log once more
        current = (scan_delta(table) if table is not None else target.scan()) if target is not None else None
        ctx = BuildContext(inputs=inputs, is_incremental=incremental, target=current, vars=self.vars,
                           watermark=(lambda col: watermark(current, col)) if current is not None else None,
                           extra=extra if extra is not None else {})
        try:
            return t.build(ctx)
        except RatatouilleError as exc:
            raise exc.locate(transform=t.name, file=t.file)
        except pl.exceptions.PolarsError as exc:
            raise SQLError(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}", transform=t.name,
                           file=t.file) from exc

    # -- running --------------------------------------------------------------
    def run(self, selectors: list[str] | None, *, upstream: bool = False, downstream: bool = False,
            single: bool = False) -> RunResult:
        started = time.perf_counter()
        order = self.dag.order(selectors, upstream=upstream, downstream=downstream)
        invalid = self._validate(order)  # a transform reading an unknown table fails alone, not the run
        self._consumers = {n: [d for d in self.dag.downstream[n] if d in order] for n in order}
        book = Book(self.dag.upstream, {n: self.project.transforms[n].mode for n in order})  # _book.py

        def execute(name: str) -> RunResult:  # in a worker thread (execute/_schedule.py)
            try:
                if name in invalid:
                    raise invalid[name]
                t = self.project.transforms[name]
                result = rerun_if_created_meanwhile(functools.partial(self.run_one, t), name=name)
            except RatatouilleError as exc:
                return book.failed(name, exc)
            if result.get("status") == "skipped" and result.get("version") is None \
                    and name not in self.fresh and self._read_target(name) is None:
                book.unbuilt.add(name)
            return result

        def finish(name: str, result: RunResult) -> None:
            book.finish(name, result)
            self._emit("end", name, result)

        results = list(run_graph(order, self.dag.upstream, decide=book.decide, execute=execute, finish=finish,
                                 workers=self.workers, start=lambda name: self._emit("start", name, None)).values())
        out = results[0] if single and len(results) == 1 else combine(results, time.perf_counter() - started)
        book.raise_errors(order, out)
        return out

    def _check(self, t: Transform, data: pl.DataFrame | pl.LazyFrame) -> list:
        """Run ``t``'s checks on ``data``; a failed ``error`` check raises :class:`CheckError`."""
        checks = run_checks(t, data, resolve=lambda n: self.frame(n, reader=t.name), store=failure_store(self))
        failed = [c for c in checks if c.blocking]
        if failed:
            raise CheckError("check(s) failed, nothing written: " + "; ".join(
                f"{c.name}: {c.message}" for c in failed), transform=t.name, file=t.file, checks=jsonable(checks))
        for c in checks:
            if not c.passed:
                log.warning("%s: warn check %s failed: %s", t.name, c.name, c.message)
        return checks

    def _set_aside_rejected(self, t: Transform, ingest: IngestPlan) -> None:
        """Move an ingest run's rejected files aside (after its commit, if any)."""
        if not isinstance(t, IngestTransform):  # only an ingest run rejects files
            return
        from ..ingest import handle_rejected  # lazy: the ingest stage only for a project with an ingest transform

        others = [o for o in self.project.transforms.values() if isinstance(o, IngestTransform)]
        handle_rejected(t, self.project.lake, ingest.rejected, workspace=self.project.workspace, others=others)

    def _emit(self, event: str, name: str, result: RunResult | None) -> None:
        if self.on_event is not None:
            self.on_event(event, name, result)

    def _validate(self, order: Iterable[str]) -> dict[str, TableNotFoundError]:
        """The transforms of ``order`` that read a table nobody builds and that is not in the lake."""
        invalid: dict[str, TableNotFoundError] = {}
        for name in order:
            t = self.project.transforms[name]
            if isinstance(t, BrokenTransform):
                continue  # raises its own error when it runs
            for dep in t.inputs:
                if dep not in self.project.transforms and self._read_target(dep) is None:
                    err = not_found(dep, self.project.known_tables())
                    invalid[name] = TableNotFoundError(f"reads {err.message}", transform=t.name, file=t.file,
                                                       line=t.line_of(dep))
                    break
        return invalid

    def run_one(self, t: Transform) -> RunResult:
        """Build, check and write one transform."""
        started = time.perf_counter()
        if isinstance(t, BrokenTransform):
            raise t.error
        mode = t.mode
        if self.partition is not None:
            check_partitionable(t, self.partition)
        target = self.project.target(t.name)
        if mode == "view":  # never written; its checks (if any) run on what it reads as now
            lf = self.frame(t.name)
            lf.collect_schema()
            checks = self._check(t, self._collect(t, lf)) if t.has_schema_checks or t.config.tests else []
            return self._result(t, started, status="success", rows=0, version=None, checks=jsonable(checks))
        table = target.open()
        previous = table.version() if table is not None else None
        current = (self.fingerprints.current(t) if fingerprinted(t, dry_run=self.dry_run, partition=self.partition)
                   else None)  # recorded in its commit, even on a full refresh
        if (table is not None and not self.full_refresh
                and self.fingerprints.unchanged(current, table)):  # code and inputs as at its last commit
            self.fingerprints.kept(t.name, table, target.uri)
            return self._result(t, started, status="unchanged", rows=0, version=previous, checks=[],
                                previous_version=previous, reason=f"code and inputs unchanged since version {previous}")
        # an empty table has no watermark: build it as a first run would
        incremental = (mode in INCREMENTAL_MODES and table is not None and not self.full_refresh
                       and bool(table.file_uris()) and self.partition is None)
        extra: dict[str, Any] = {}
        if isinstance(t, IngestTransform):
            extra["lake"] = self.project.lake
            extra["table"] = table  # the ingested set is read from this snapshot, and the commit made on it
            extra["full_refresh"] = self.full_refresh
            if t.has_schema_checks or t.config.tests:  # each landing file is checked on its own (ingest/_check.py)
                extra["check"] = lambda df, t=t: run_checks(t, df, resolve=lambda n: self.frame(n, reader=t.name))
        lf = self._build(t, self._inputs(t), target=target if table is not None else None,
                         incremental=incremental, extra=extra, table=table)
        if self.partition is not None:
            lf, part = restrict_to_partition(t, lf, self.partition)
        lf = type_nulls(lf, declared_types(t.config.columns))  # an all-NULL column takes its declared type
        ingest = extra.get("ingest")
        ingest_info = ingest.info() if ingest else {}
        if ingest is not None and not ingest.files and not self.full_refresh:
            if ingest.rejected and not self.dry_run:
                self._set_aside_rejected(t, ingest)
            if table is not None:  # no new landing file settled: the table stays as it is
                self.fingerprints.kept(t.name, table, target.uri)
            return self._result(t, started, status="skipped" if table is None else "unchanged", rows=0,
                                version=previous, checks=[], **ingest.info())

        # a real run streams: the writer stages the files, the checks see them, then it commits (write/_stage.py)
        needs_frame = self.dry_run or has_row_level(t)  # on_fail drop / quarantine judges the rows first
        data: pl.DataFrame | pl.LazyFrame = lf
        checks = []
        on_fail = None
        if needs_frame:
            data = self._collect(t, lf)
            data, on_fail = drop_failing_rows(self, t, data)  # on_fail drop / quarantine (check/_on_fail.py)
            checks = (on_fail.results if on_fail else []) + self._check(t, data)
        counts = on_fail.counts() if on_fail else {}
        if self.dry_run:  # nothing written; the would-be table feeds the downstream (_dry_run.py)
            return dry_run_result(self, t, data, table, started, checks, {**ingest_info, **counts})
        metadata = {"ratatouille.transform": t.name, "ratatouille.run_id": self.run_id,
                    "ratatouille.code_version": t.code_version, "ratatouille.mode": mode}
        if self.partition is not None:
            metadata["ratatouille.partition"] = self.partition
        if current is not None:
            metadata.update(current.metadata())
        if ingest is not None:
            metadata.update(ingest.commit_metadata())
        declared = declared_types(t.config.columns)
        writer = (t.writer(ingest) if isinstance(t, IngestTransform) and ingest is not None else
                  writer_for(t.materialization, declared=declared))
        if isinstance(writer, Materialization):  # computed from `table`: concurrent appends conflict
            writer.guard_target = True
        elif isinstance(t, IngestTransform) and not needs_frame and self.partition is None:  # on the staged files
            streamed_checks(writer, lf, t, lambda staged: checks.extend(self._check(t, staged)))  # type: ignore[arg-type]
        if self.partition is not None:  # replace exactly this partition, never the whole table
            writer = OverwritePartition(part.column, part.value, partition_by=t.config.partition_by,
                                        on_schema_change=t.config.on_schema_change, declared=declared)
        if isinstance(writer, Materialization) and not needs_frame:
            streamed_checks(writer, lf, t, lambda staged: checks.extend(self._check(t, staged)))  # streamed (check/_streaming.py)
        if on_fail is not None:  # the quarantined rows land first, once per run id and per attempt
            fp = current or (self.fingerprints.current(t)  # also under full_refresh: a retry redoes the same work
                             if fingerprinted(t, dry_run=False, partition=None) else None)
            on_fail.write_quarantine(self.project, attempt_key(fp.hash if fp else None, table,
                                                               full_refresh=self.full_refresh, partition=self.partition))
        try:
            # a table that is missing is created race-free by the writer (write/_commit.py): never an
            # overwrite of one another process created meanwhile
            outcome = writer.write(target, data, full_refresh=self.full_refresh, metadata=metadata,
                                   **({"table": table} if isinstance(writer, Materialization) else {}))
        except RatatouilleError as exc:
            raise exc.locate(transform=t.name, file=t.file)
        if not outcome.skipped:
            self.fingerprints.wrote(t.name, outcome.version)
        elif current is not None and table is not None and self.partition is None:
            # nothing to write, but the fingerprint changed (e.g. a merge of no new rows): record it, so
            # the next run with the same code and inputs is `unchanged` instead of building again
            recorded = record_only(target, table, metadata)
            if recorded is not None:
                self.fingerprints.wrote(t.name, recorded)
                outcome = replace(outcome, version=recorded)
        if (isinstance(data, pl.DataFrame) and mode == "table" and self._consumers.get(t.name)
                and self.partition is None):
            self.fresh[t.name] = data.lazy()
        if ingest is not None and ingest.rejected:
            self._set_aside_rejected(t, ingest)
            ingest_info = ingest.info()
        if outcome.skipped and ingest is not None and not ingest.files and table is not None:
            status = "unchanged"  # every new landing file turned out bad while it streamed (ingest/_stage.py)
        else:
            status = "skipped" if outcome.skipped else "success"
        return self._result(t, started, status=status,
                            rows=outcome.rows_written, version=outcome.version, checks=jsonable(checks),
                            previous_version=previous, **ingest_info, **counts,
                            **({"partition": self.partition} if self.partition is not None else {}))

    def _collect(self, t: Transform, lf: pl.LazyFrame) -> pl.DataFrame:
        try:
            return lf.collect(engine="streaming")
        except pl.exceptions.PolarsError as exc:
            kind = SQLError if t.kind == "sql" else TransformError
            raise kind(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}", transform=t.name,
                       file=t.file) from exc

    def _result(self, t: Transform, started: float, *, status: str, rows: int, version: int | None,
                checks: list, **extra: Any) -> RunResult:
        return RunResult(status=status, table=t.name, mode=t.mode, rows_written=int(rows), version=version,
                         duration_s=round(time.perf_counter() - started, 4), checks=checks,
                         workspace=self.project.workspace, run_id=self.run_id, **extra)


def watermark(target: pl.LazyFrame | None, column: str) -> Any:
    """Max of ``column`` in the current table (``None`` if the table is empty or missing)."""
    if target is None:
        return None
    if column not in target.collect_schema().names():
        raise SQLError(f"watermark column {column!r} is not in the target table (its columns: "
                       f"{', '.join(target.collect_schema().names())})")
    return target.select(pl.col(column).max()).collect().item()
