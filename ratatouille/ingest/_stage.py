"""The ingest stage: list the landing files, keep the new ones, read and conform each, check each.

:func:`build` is what an ingest transform's ``build`` does: one listing of the
landing folder (no file opened), the ingested set from the ledger
(:mod:`._ledger`: from the Delta log, not the rows), then each new file read (:mod:`._readers`), conformed to the
table's types (:mod:`._conform`) and checked (:mod:`._check`). A bad file is
recorded as rejected with its reason (:mod:`._bad`); the good files are
concatenated into the run's frame, which the ingest write lands in one commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import polars as pl
from polars._typing import PolarsDataType

from .._lake import LandingFile
from .._types import parse_type
from ..errors import CheckError, IngestError, RatatouilleError, SchemaError, StorageError
from . import _conform
from ._bad import BadFile, Rejected, is_storage_error, reason
from ._check import Checker, FailedChecks, check_file
from ._landing import list_landing
from ._ledger import read_state, source_version
from ._plan import IngestPlan
from ._readers import locate_csv_error, place, read_checked
from ._record_line import row_place
from ._stream import scan, streamed_values, streams
from ._settle import Gate, Gone, Waiting, describe_change, gone
from ._spec import INGESTED_AT, META_COLUMNS, SOURCE_FILE, SOURCE_FINGERPRINT

log = logging.getLogger("ratatouille")

_Todo = tuple[LandingFile, "set[str] | None"]


def build(t: Any, extra: dict[str, Any]) -> pl.LazyFrame:
    """Read the new (or changed, with ``on_change: reingest``) landing files of ingest transform ``t``
    into one frame with ``_source_file``, ``_source_fingerprint`` and ``_ingested_at``.

    Parameters
    ----------
    t : IngestTransform
        The transform.
    extra : dict
        The build context's ``extra``: ``lake``, ``table`` (the snapshot the ingested set is read
        from and the commit made on), ``full_refresh``, ``check`` (the runner's checker,
        :mod:`._check`); the run's :class:`IngestPlan` is stored under ``ingest``.

    Returns
    -------
    pl.LazyFrame
        The rows of the run's good files (an empty frame when there are none).

    Raises
    ------
    IngestError
        A bad file with ``on_error: fail`` (nothing is written).
    CheckError
        A file failing an ``error``-severity check with ``on_error: fail`` (nothing is written).
    StorageError
        The store failed while reading a file (nothing is written or moved).
    """
    lake = extra["lake"]
    plan: IngestPlan = extra.setdefault("ingest", IngestPlan())
    table = extra.get("table")
    plan.table = table
    plan.full_refresh = bool(extra.get("full_refresh"))
    need_state = not plan.full_refresh and table is not None
    with ThreadPoolExecutor(max_workers=1) as pool:  # the table's ingested set while listing
        pending = pool.submit(read_state, table) if need_state else None
        listed, refused = list_landing(t, lake)
        plan.state = pending.result() if pending is not None else None
    state = plan.state.files if plan.state is not None else {}
    table_types = {} if table is None or plan.full_refresh else _conform.table_types(table)
    declared = {c.name: parse_type(c.type).cast_target(table_types.get(c.name))  # a bare decimal: the table's
                for c in t.config.columns if c.type}
    # schema: strict freezes the table's columns once it exists (the first good file sets them)
    expected: list[str] | None = list(table_types) if t.config.schema == "strict" and table_types else None
    targets: dict[str, pl.DataType] = {**table_types, **declared}  # type: ignore[dict-item]
    for link in refused:  # a symbolic link out of the lake: never read, reported like a bad file
        _reject(t, plan, link.rel, BadFile(link.reason))
    gate = Gate(t.config, lake)  # files in flight wait (ingest/_settle.py)
    todo = _select(t, gate, plan, listed, state)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    table_names = _conform.canonical_names(targets)
    seen = dict(table_names)  # names of this run's files so far (two files spelling one column alike)

    check = extra.get("check")
    stream = streams(t)

    def meta_of(f: LandingFile) -> list[pl.Expr]:
        return [pl.lit(f.rel, pl.String).alias(SOURCE_FILE),
                pl.lit(source_version(f.rel, f.fingerprint), pl.String).alias(SOURCE_FINGERPRINT),
                pl.lit(now, pl.Datetime("us")).alias(INGESTED_AT)]

    def streamed(f: LandingFile, meta: list[pl.Expr]) -> tuple[pl.LazyFrame, int] | None:
        """The file as a scan whose rows pass the checks (streamed), else ``None`` (read into memory:
        the line of a value that does not fit or of a failing row is named there)."""
        try:
            return scan(t, lake, f, targets, table_names, meta, plan.pins, check)
        except (BadFile, RatatouilleError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bad value while streaming: read into memory
            if is_storage_error(exc) or gone(exc) is not None:
                raise
            return None

    def load(f: LandingFile) -> pl.DataFrame | pl.LazyFrame | Exception:
        try:
            meta = meta_of(f)
            scanned = streamed(f, meta) if stream else None
            if scanned is not None:  # streamed from the file by the write (ingest/_stream.py)
                plan.rows[f.rel] = scanned[1]
                return scanned[0]
            df = _load(t, lake, f, targets, table_types, table_names, meta, check)
            plan.rows[f.rel] = df.height
            return df
        except RatatouilleError:
            raise
        except Exception as exc:  # a bad file never stops the good ones
            if (missing := gone(exc)) is not None:  # deleted since it was listed: it waits, not rejected
                return missing
            if is_storage_error(exc):  # but the store failing is not the file's fault: fail, move nothing
                raise StorageError(f"reading {f.rel} failed: {reason(exc)}; nothing was written or moved",
                                   transform=t.name, file=t.file) from None
            return locate_csv_error(t, lake, f, exc)

    parallel = not (lake.is_local or len(todo) < 2)
    reader_pool = ThreadPoolExecutor(max_workers=min(8, len(todo))) if parallel else None
    loaded: Any = reader_pool.map(load, (f for f, _ in todo)) if reader_pool else map(load, (f for f, _ in todo))
    frames: list[pl.DataFrame | pl.LazyFrame] = []
    kept: list[LandingFile] = []  # the file of each frame
    try:
        for (f, known), df in zip(todo, loaded):
            if isinstance(df, Gone):
                plan.waiting.append(Waiting(f.rel, str(df)))
                continue
            if gate.active and (why := gate.moved(f)):  # read while being written: never land a cut
                plan.waiting.append(Waiting(f.rel, why))
                continue
            if not isinstance(df, Exception):
                df = _fits(df, seen, expected, table_types)
            if isinstance(df, Exception):
                _reject(t, plan, f.rel, df)
                continue
            names = df.collect_schema().names()
            if expected is None and t.config.schema == "strict":
                expected = [c for c in names if c not in META_COLUMNS]  # the first good file sets them
            if known is not None:
                plan.reingested.append(f.rel)
            seen.update((_conform._fold(c), c) for c in names if _conform._fold(c) not in seen)
            plan.files.append(f.rel)
            plan.fingerprints[f.rel] = f.fingerprint
            frames.append(df)
            kept.append(f)
    except BaseException:  # nothing is written: the streamed files are released now
        plan.pins.close()
        raise
    finally:
        if reader_pool is not None:
            reader_pool.shutdown(wait=True, cancel_futures=True)
    if not any(isinstance(fr, pl.LazyFrame) for fr in frames):
        plan.pins.close()  # no streamed file in the run (rejected, or waiting)
    _log(t, plan)

    def recover() -> pl.LazyFrame | None:
        """After the write of the streamed files failed (nothing committed): each streamed file read
        once more in a streaming pass; one that fails is read into memory (its line named) and
        rejected, or kept as conformed there (a wider type). The run's frame without the bad files,
        or ``None`` when no streamed file is bad (the write's error stands)."""
        bad = False
        for i, (f, frame) in enumerate(zip(kept, frames)):
            if not isinstance(frame, pl.LazyFrame):
                continue
            try:
                streamed_values(frame)
                continue
            except Exception as exc:  # noqa: BLE001 - a bad value while streaming: located below
                if is_storage_error(exc):
                    return None
            bad = True
            try:
                fitted = _fits(_load(t, lake, f, targets, table_types, table_names, meta_of(f), check), seen,
                               expected, table_types)
            except RatatouilleError:
                raise
            except Exception as exc:  # noqa: BLE001 - the file is rejected with its line
                fitted = locate_csv_error(t, lake, f, exc)
            if isinstance(fitted, Exception):
                _forget(plan, f.rel)
                _reject(t, plan, f.rel, fitted)
                log.warning("%s: rejected %s: %s", t.name, f.rel, reason(fitted))
                frames[i] = pl.DataFrame()
            else:
                plan.rows[f.rel] = fitted.height if isinstance(fitted, pl.DataFrame) else plan.rows[f.rel]
                frames[i] = fitted
        if not bad:
            return None
        good = [(f, fr) for f, fr in zip(kept, frames) if f.rel in plan.files]
        kept[:], frames[:] = [f for f, _ in good], [fr for _, fr in good]
        return _combine(t, frames, targets)

    plan.recover = recover
    return _combine(t, frames, targets)


def _forget(plan: IngestPlan, rel: str) -> None:
    """Take file ``rel`` out of the run (it turned out bad while its rows were written)."""
    plan.files.remove(rel)
    plan.fingerprints.pop(rel, None)
    plan.rows.pop(rel, None)
    if rel in plan.reingested:
        plan.reingested.remove(rel)


def _select(t: Any, gate: Gate, plan: IngestPlan, listed: list[LandingFile],
            state: dict[str, set[str]]) -> list[_Todo]:
    """The listed files to read: not ingested yet (or changed, with ``on_change: reingest``) and settled."""
    changed: list[str] = []
    todo: list[_Todo] = []
    for f in listed:
        known = state.get(f.rel) if f.rel in state else state.get(f.path)
        if known is not None and (not known or f.fingerprint in known):
            plan.already += 1
            continue
        if gate.active and (why := gate.waiting(f)):
            plan.waiting.append(Waiting(f.rel, why))
            continue
        if known is not None:
            plan.changes[f.rel] = describe_change(known, f.fingerprint)
            if t.config.on_change == "ignore":
                changed.append(f.rel)
                continue
        todo.append((f, known))
    plan.changed = changed
    return todo


def _load(t: Any, lake: Any, f: LandingFile, targets: Mapping[str, PolarsDataType], table_types: dict[str, PolarsDataType],
          table_names: dict[str, str], meta: list[pl.Expr], check: Checker | None) -> pl.DataFrame:
    """One landing file read, its names matched to the table's, conformed, checked; ``BadFile`` else
    (naming the line of a value that does not fit, or of the first row failing a check)."""
    df = read_checked(t, f, lake, tuple(targets))  # CSV: known columns read as text, then cast strictly
    df = _conform.match_names(df, table_names)  # "Coupon" is the table's "coupon"
    try:
        out = _conformed(t, df, targets, table_types, meta)
    except BadFile as exc:
        if exc.column is not None and exc.line is None and exc.column in df.columns:
            hits = df.with_row_index("__rat_row").filter(pl.col(exc.column).cast(pl.String).eq(str(exc.value)))
            if hits.height:
                where = place(t.config, f.path, int(hits.get_column("__rat_row")[0]))
                raise BadFile(f"{where}: {exc}", line=where) from None
        raise
    check_file(t, f, out, check, lambda row: row_place(t, lake, f, row))  # this file is rejected, not the run
    return out


def _conformed(t: Any, df: pl.DataFrame, targets: Mapping[str, PolarsDataType], table_types: dict[str, PolarsDataType],
               meta: list[pl.Expr]) -> pl.DataFrame:
    """``df`` cast to the table's / declared types, with the bookkeeping columns ``meta``."""
    file_targets = _conform.file_targets(targets, df.schema)
    try:
        out = _conform.conform(t.config, df, file_targets, meta=meta)
    except BadFile as exc:  # a wider type: widened (sync_all_columns) or the option named
        out = _conform.conform(t.config, df, _conform.widen_targets(
            df, file_targets, table_types, t.config.on_schema_change, exc), meta=meta)
    _conform.storable_file(out)  # a time of day, a duration: this file is rejected, not the run
    return out


def _fits(frame: pl.DataFrame | pl.LazyFrame, seen: dict[str, str], expected: list[str] | None,
          table_types: dict[str, PolarsDataType]) -> pl.DataFrame | pl.LazyFrame | Exception:
    """``frame`` if it fits this run's other files and ``schema: strict``, else the reason (a lazy
    frame is judged by its schema, and renamed as a frame would be)."""
    if isinstance(frame, pl.LazyFrame):
        head = pl.DataFrame(schema=frame.collect_schema())
        fitted = _fits(head, seen, expected, table_types)
        if isinstance(fitted, Exception):
            return fitted
        renamed = {old: new for old, new in zip(head.columns, fitted.collect_schema().names()) if old != new}
        return frame.rename(renamed) if renamed else frame
    df = frame
    try:
        df = _conform.match_names(df, seen)
    except BadFile as exc:
        return exc
    if expected is None:
        return df
    fitted = _conform.drift(df, expected)
    nested = [] if isinstance(fitted, Exception) else _conform.struct_drift(fitted, table_types)
    if nested:
        return BadFile(f"schema drift (schema: strict): new nested field(s) {nested}")
    return fitted


def _reject(t: Any, plan: IngestPlan, rel: str, exc: Exception) -> None:
    """Record a bad file (or, with ``on_error: fail``, stop the run naming it)."""
    why = reason(exc)
    if t.config.on_error == "fail":
        message = f"cannot ingest {rel}: {why} (on_error: fail, nothing written)"
        if isinstance(exc, FailedChecks):
            raise CheckError(message, transform=t.name, file=t.file, checks=exc.checks)
        raise IngestError(message, transform=t.name, file=t.file)
    plan.rejected.append(Rejected(rel, why, line=getattr(exc, "line", None)))


def _log(t: Any, plan: IngestPlan) -> None:
    if plan.changed:
        log.warning("%s: %d landing file(s) changed since they were ingested and were left as ingested "
                    "(on_change: ignore; set on_change: reingest to replace their rows): %s",
                    t.name, len(plan.changed), ", ".join(f"{c} ({plan.changes.get(c)})" for c in plan.changed[:10])
                    + (" ..." if len(plan.changed) > 10 else ""))
    for w in plan.waiting:
        log.info("%s: waiting for %s: %s", t.name, w.file, w.reason)
    for r in plan.rejected:
        log.warning("%s: rejected %s: %s", t.name, r.file, r.reason)


def _combine(t: Any, frames: list[pl.DataFrame | pl.LazyFrame], targets: Mapping[str, PolarsDataType]) -> pl.LazyFrame:
    """The run's good files as one frame, the bookkeeping columns last (lazy: streamed files are
    read by the write)."""
    if not frames:
        schema: dict[str, PolarsDataType] = {**targets, SOURCE_FILE: pl.String, SOURCE_FINGERPRINT: pl.String, INGESTED_AT: pl.Datetime("us")}
        return pl.LazyFrame(schema=schema)
    try:
        eager = [f for f in frames if isinstance(f, pl.DataFrame)]
        out: pl.DataFrame | pl.LazyFrame
        if len(eager) < len(frames):  # streamed files: the types are checked here, before any file is read
            out = pl.concat([f.lazy() for f in frames], how="diagonal_relaxed")
        else:
            out = pl.concat(eager, how="diagonal_relaxed") if len(eager) > 1 else eager[0]
        columns = out.collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(f"the new files disagree on column types: {reason(exc)}", transform=t.name,
                          file=t.file) from None
    out = _conform.finish(out, targets)  # all-NULL columns typed, zones in UTC
    order = [c for c in columns if c not in META_COLUMNS] + list(META_COLUMNS)
    return (out if columns == order else out.select(order)).lazy()
