"""Ingest transforms: landing files -> a bronze table, each file exactly once.

A bronze YAML with ``source:`` and ``format:`` declares one::

    source: landing/sales/          # a folder (recursive) or a glob: landing/sales/*.csv
    format: csv                     # csv, json, ndjson, parquet, excel (xlsx)
    separator: ";"                  # reader options: separator, encoding, header, sheet, dtypes, ...
    schema: evolve                  # or strict
    on_error: reject                # or skip, fail
    on_change: ignore               # or reingest
    settle_seconds: 5               # files in flight wait (transforms/_settle.py); ready_marker: _SUCCESS / .done
    columns:
      - {name: order_id, type: int64, tests: [not_null]}

**Exactly once.** Every row carries ``_source_file`` (the file's path relative
to the lake root), ``_source_fingerprint`` (``<path>@size=...;etag=...``: the
path and the file's ETag on object storage, else its size and modification
time) and ``_ingested_at``. These columns are written in the same Delta commit
as the rows, so the table itself says which files it holds, whatever happens
to its log (checkpoints, log cleanup): a run lists the landing folder (one
listing, no file opened), reads that set from the table (one dictionary-encoded
column, not a scan of the data) and reads only the files that are new. A
killed run commits nothing, so its files are simply new again next time.
Each commit also carries a Delta app transaction (``ratatouille.ingest``):
two runs racing on one table cannot both commit, the second gets a clear
error and nothing is written twice.

**Changed files** (same path, new fingerprint) follow ``on_change``: ``ignore``
(the default) keeps the rows ingested before and warns; ``reingest`` replaces
that file's rows in the same commit as the other new files.

**Bad files** (unreadable, malformed, empty, a value that will not cast to
the declared or existing type, or a schema drift under ``schema: strict``)
never stop the good ones: each is reported in the ``RunResult`` with its
reason and, after the commit, moved to ``landing/_rejected/`` with a
``.reason.txt`` beside it (``on_error: reject``), left in place
(``skip``), or fails the whole run with nothing written (``fail``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NoReturn, Sequence

import polars as pl

from .._lake import LandingFile
from .._names import parse_table_name
from .._types import DType, parse_type
from ..errors import ConfigError, IngestError, RatatouilleError, SchemaError, StorageError
from . import _ingest_schema
from ._base import BuildContext, Transform
from ._config import build_config, load_yaml
from . import _landing
from ._settle import Gate, Gone, Waiting, check_settle_config, describe_change, gone

if TYPE_CHECKING:  # annotations only: the lake and write modules are imported where they are used
    from deltalake import CommitProperties, DeltaTable

    from .._lake import Lake
    from ..write import Target, WriteOutcome
    from ._config import TransformConfig

log = logging.getLogger("ratatouille")


def _read_all(lake: Lake, src: str) -> bytes:
    """The bytes of a pinned landing file (``Lake.pinned``: a ``/proc/self/fd`` path, or the checked path)."""
    if src.startswith("/proc/self/fd/"):
        with open(src, "rb") as fh:
            return fh.read()
    return lake.read_bytes(src)

SOURCE_FILE = "_source_file"
SOURCE_FINGERPRINT = "_source_fingerprint"
INGESTED_AT = "_ingested_at"
META_COLUMNS = (SOURCE_FILE, SOURCE_FINGERPRINT, INGESTED_AT)
APP_ID = "ratatouille.ingest"
_EXTENSIONS = {"csv": (".csv", ".tsv", ".txt", ".csv.gz"), "json": (".json",), "ndjson": (".ndjson", ".jsonl"),
               "parquet": (".parquet", ".pq"), "excel": (".xlsx", ".xlsm", ".xlsb", ".xls")}
_UTF8 = (None, "utf8", "utf-8", "UTF8", "UTF-8")


class BadFile(Exception):
    """A landing file that cannot be ingested (the message is the reason)."""


@dataclass
class Rejected:
    """A landing file that could not be ingested, and why."""

    file: str
    reason: str
    moved_to: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"file": self.file, "reason": self.reason}
        if self.moved_to:
            out["moved_to"] = self.moved_to
        return out


@dataclass
class IngestPlan:
    """What an ingest run does: the files it read, rejected, skipped, and the table state it read."""

    files: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # changed files left as they were (on_change: ignore)
    reingested: list[str] = field(default_factory=list)  # changed files read again (on_change: reingest)
    already: int = 0  # files already in the table, unchanged
    waiting: list[Waiting] = field(default_factory=list)  # not complete yet (transforms/_settle.py)
    changes: dict[str, str] = field(default_factory=dict)  # changed file -> what changed
    table: Any = None  # the DeltaTable snapshot the ingested set was read from (None: no table yet)
    full_refresh: bool = False

    def info(self) -> dict[str, Any]:
        """The ingest part of a ``RunResult``."""
        return {"files": list(self.files), "rejected": [r.to_dict() for r in self.rejected],
                "changed": list(self.changed), "reingested": list(self.reingested),
                "files_skipped": self.already, "waiting": [w.to_dict() for w in self.waiting],
                "changes": [{"file": f, "what": w} for f, w in self.changes.items()]}

    def commit_metadata(self) -> dict[str, str]:
        """Commit metadata recording the files of this commit (an audit trail; the table's own
        ``_source_file`` / ``_source_fingerprint`` columns are what later runs read)."""
        return {"ratatouille.files": json.dumps({f: self.fingerprints.get(f) for f in self.files})}


class IngestTransform(Transform):
    """Landing files of one format under ``source:`` appended to a bronze table."""

    kind = "ingest"

    def __init__(self, name: str, *, config: TransformConfig, path: Path | None = None, workspace: str = "default",
                 yaml_text: str = "") -> None:
        super().__init__(name, config=config, path=path, workspace=workspace)
        self._yaml_text = yaml_text

    @classmethod
    def from_file(cls, path: Path, *, layer: str, workspace: str = "default") -> "IngestTransform":
        name = f"{layer}.{path.stem}"
        parse_table_name(name, file=str(path))
        text = path.read_text()
        config = build_config(load_yaml(path, text=text), file=str(path))
        if not config.source:
            raise ConfigError("a YAML transform without SQL beside it needs source: (a landing path)", file=str(path))
        _landing.check_source(config.source, file=str(path))  # under landing/: no '..', absolute path or URL
        if not config.format:
            suffix = Path(config.source.rstrip("/*")).suffix.lower()
            fmt = next((f for f, exts in _EXTENSIONS.items() if suffix and suffix in exts), None)
            if fmt is None:
                raise ConfigError("format: is required (csv, json, ndjson, parquet, excel)", file=str(path))
            config = type(config)(**{**config.__dict__, "format": fmt})
        if config.materialized != "table" or config.strategy:
            raise ConfigError("ingest transforms always append; remove materialized/strategy", file=str(path))
        check_settle_config(config.settle_seconds, config.ready_marker, file=str(path))
        reserved = [c.name for c in config.columns if c.name in META_COLUMNS]
        if reserved:
            raise ConfigError(f"columns {reserved} are added by ingestion; do not declare them", file=str(path))
        encoding = config.options.get("encoding")
        if encoding not in _UTF8 and encoding not in ("utf8-lossy", "utf-8-lossy"):
            import codecs

            try:
                codecs.lookup(str(encoding))
            except LookupError:
                raise ConfigError(f"unknown encoding {encoding!r}", file=str(path)) from None
        for key in ("separator", "quote_char"):
            value = config.options.get(key)
            if value is not None and (not isinstance(value, str) or len(value.encode()) != 1):
                raise ConfigError(f"{key}: must be one single-byte character, not {value!r}", file=str(path))
        sheet = config.options.get("sheet", config.options.get("sheet_name"))
        if isinstance(sheet, int) and sheet < 1:
            raise ConfigError("sheet: is a sheet name or a 1-based sheet number", file=str(path))
        for col, typ in dict(config.options.get("dtypes") or config.options.get("schema_overrides") or {}).items():
            try:
                polars_type(typ)
            except ConfigError as exc:
                raise ConfigError(f"dtypes: {col}: {exc.message}", file=str(path)) from None
        for spec in config.columns:
            if spec.type:
                try:
                    polars_type(spec.type)
                except ConfigError as exc:
                    raise ConfigError(f"column {spec.name!r}: {exc.message}", file=str(path)) from None
        return cls(name, config=config, path=path, workspace=workspace, yaml_text=text)

    @property
    def source_text(self) -> str:
        return self._yaml_text

    @property
    def mode(self) -> str:
        return "append"

    # -- files ----------------------------------------------------------------
    def landing_files(self, lake: Lake) -> list[LandingFile]:
        """Every landing file matching ``source:`` with its fingerprint, from one listing."""
        return _landing.list_landing(self, lake)[0]

    def _has_format(self, path: str) -> bool:
        return path.lower().endswith(_EXTENSIONS[self.config.format or "csv"])

    def _glob_names_files(self) -> bool:
        """A glob whose last part names the files (``*.csv``, ``day_?.txt``): take what it matches
        as is. A folder, or a glob of folders or of any name (``landing/*/``, ``landing/m/*``),
        keeps only the files of this transform's format."""
        source = self.config.source or ""  # validated at load: never empty
        last = source.rstrip("/").rsplit("/", 1)[-1]
        return not source.endswith("/") and _has_magic(last) and "." in last

    def takes(self, rel: str) -> bool:
        """Whether a landing file (path relative to the lake root) is one this transform ingests.

        >>> from ratatouille.transforms._config import build_config
        >>> t = IngestTransform("bronze.s", config=build_config({"source": "landing/s/", "format": "csv"}))
        >>> t.takes("landing/s/eu/a.csv"), t.takes("landing/s/a.json"), t.takes("landing/sx/a.csv")
        (True, False, False)
        """
        import fnmatch

        source = (self.config.source or "").strip("/")
        if _has_magic(source):
            if not fnmatch.fnmatchcase(rel, source) and not fnmatch.fnmatchcase(rel, source + "/*"):
                return False
            return self._glob_names_files() or self._has_format(rel)
        return (rel == source or rel.startswith(source + "/")) and self._has_format(rel)

    def list_files(self, lake: Lake) -> list[str]:
        """Every landing file matching ``source:`` (sorted full paths)."""
        return [f.path for f in self.landing_files(lake)]

    def read_file(self, path: str | LandingFile, lake: Lake, *, string_columns: tuple[str, ...] = ()) -> pl.DataFrame:
        """Read one landing file into a frame (raises on a malformed file).

        CSV, NDJSON and Parquet are scanned (``scan_csv`` / ``scan_ndjson`` /
        ``scan_parquet``, straight from object storage on S3); JSON, Excel, compressed
        CSV and CSV in another encoding than UTF-8 are read from the file's bytes.
        ``string_columns`` are read as text (CSV), to be cast later.
        """
        with lake.pinned(path.path if isinstance(path, LandingFile) else path) as src:  # inside the lake only,
            return self._read_file(lake, path.path if isinstance(path, LandingFile) else path, src,  # never swapped
                                   string_columns=string_columns)

    def _read_file(self, lake: Lake, full: str, src: str, *, string_columns: tuple[str, ...]) -> pl.DataFrame:
        """:meth:`read_file` once the file is pinned: ``full`` names it (suffixes), ``src`` is read."""
        fmt = self.config.format
        opts = dict(self.config.options)
        storage = lake.delta_options()
        overrides = _dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
        if fmt == "csv":
            kwargs: dict[str, Any] = {}
            if "separator" in opts:
                kwargs["separator"] = str(opts["separator"])
            elif full.lower().endswith(".tsv"):
                kwargs["separator"] = "\t"
            if "header" in opts or "has_header" in opts:
                kwargs["has_header"] = bool(opts.get("header", opts.get("has_header")))
            csv_overrides: dict[str, DType] = {c: pl.String for c in string_columns}
            csv_overrides.update(overrides)
            if csv_overrides:
                kwargs["schema_overrides"] = csv_overrides
            for key in ("skip_rows", "quote_char", "null_values", "infer_schema_length", "comment_prefix",
                        "decimal_comma", "try_parse_dates"):
                if key in opts:
                    kwargs[key] = opts[key]
            kwargs.update(_ingest_schema.inference(opts))  # types from the whole file, not its first rows
            encoding = opts.get("encoding")
            if encoding in ("utf8-lossy", "utf-8-lossy"):
                kwargs["encoding"] = "utf8-lossy"
            elif encoding not in _UTF8:  # decoded strictly: a byte that is not in the encoding rejects the file
                data = _read_all(lake, src)
                if full.lower().endswith(".gz"):
                    import gzip

                    data = gzip.decompress(data)
                return pl.read_csv(io.BytesIO(data.decode(str(encoding)).encode()), **kwargs)
            if full.lower().endswith(".gz"):  # compressed: read whole (decompressed by Polars)
                return pl.read_csv(io.BytesIO(_read_all(lake, src)), **kwargs)
            return pl.scan_csv(src, storage_options=storage, glob=False, **kwargs).collect()
        if fmt == "parquet":
            return pl.scan_parquet(src, storage_options=storage, glob=False).collect()
        if fmt == "ndjson":
            kwargs = {"schema_overrides": overrides} if overrides else {}
            kwargs.update(_ingest_schema.inference(opts))  # a key first seen late is kept
            try:
                if _has_magic(full):  # scan_ndjson would expand "[", "*" or "?" in the name as a glob
                    return pl.read_ndjson(io.BytesIO(_read_all(lake, src)), **kwargs)
                return pl.scan_ndjson(src, storage_options=storage, **kwargs).collect()
            except pl.exceptions.ComputeError:  # a byte-order mark, or blank lines only
                return _ingest_schema.read_ndjson_bytes(_read_all(lake, src), kwargs)
        data = _read_all(lake, src)
        if fmt == "json":
            kwargs = {"schema_overrides": overrides} if overrides else {}
            kwargs.update(_ingest_schema.inference(opts))
            return pl.read_json(io.BytesIO(data), **kwargs)
        if fmt == "excel":
            sheet = opts.get("sheet", opts.get("sheet_name"))
            kw: dict[str, Any] = _ingest_schema.inference(opts)
            if isinstance(sheet, str):
                kw["sheet_name"] = sheet
            elif sheet:
                kw["sheet_id"] = int(sheet)
            if "header" in opts or "has_header" in opts:
                kw["has_header"] = bool(opts.get("header", opts.get("has_header")))
            if overrides:
                kw["schema_overrides"] = overrides
            return pl.read_excel(io.BytesIO(data), engine="calamine", **kw)
        raise ConfigError(f"unsupported format {fmt!r}", transform=self.name, file=self.file)

    # -- build ----------------------------------------------------------------
    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        """Read the new (or changed, with ``on_change: reingest``) landing files into one frame
        with ``_source_file``, ``_source_fingerprint`` and ``_ingested_at``."""
        lake = ctx.extra["lake"]
        plan: IngestPlan = ctx.extra.setdefault("ingest", IngestPlan())
        table = ctx.extra.get("table")
        plan.table = table
        plan.full_refresh = bool(ctx.extra.get("full_refresh"))
        need_state = not plan.full_refresh and table is not None
        with ThreadPoolExecutor(max_workers=1) as pool:  # the table's ingested set while listing
            pending = pool.submit(ingested_state, table) if need_state and table is not None else None
            listed, refused = _landing.list_landing(self, lake)
            state = pending.result() if pending is not None else {}
        table_types = {} if table is None or plan.full_refresh else _table_types(table)
        declared = {c.name: parse_type(c.type).cast_target(table_types.get(c.name))  # a bare decimal: the table's
                    for c in self.config.columns if c.type}
        # schema: strict freezes the table's columns once it exists (the first good file sets them)
        expected: list[str] | None = list(table_types) if self.config.schema == "strict" and table_types else None
        targets = {**table_types, **declared}
        string_columns = tuple(targets)  # CSV: read as text, then cast strictly (no lossy inference)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        changed: list[str] = []
        todo: list[tuple[LandingFile, set[str] | None]] = []
        for link in refused:  # a symbolic link out of the lake: never read, reported like a bad file
            if self.config.on_error == "fail":
                raise IngestError(f"cannot ingest {link.rel}: {link.reason} (on_error: fail, nothing written)",
                                  transform=self.name, file=self.file)
            plan.rejected.append(Rejected(link.rel, link.reason))
        gate = Gate(self.config, lake)  # files in flight wait (transforms/_settle.py)
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
                if self.config.on_change == "ignore":
                    changed.append(f.rel)
                    continue
            todo.append((f, known))

        table_names = _ingest_schema.canonical_names(targets)
        seen = dict(table_names)  # names of this run's files so far (two files spelling one column alike)

        def load(f: LandingFile) -> pl.DataFrame | Exception:
            try:
                df = self._read_checked(f, lake, string_columns)
                df = _ingest_schema.match_names(df, table_names)  # "Coupon" is the table's "coupon"
                meta = [pl.lit(f.rel, pl.String).alias(SOURCE_FILE),
                        pl.lit(source_version(f.rel, f.fingerprint), pl.String).alias(SOURCE_FINGERPRINT),
                        pl.lit(now, pl.Datetime("us")).alias(INGESTED_AT)]
                file_targets = _ingest_schema.file_targets(targets, df.schema)
                try:
                    out = self._conform(df, file_targets, meta=meta)
                except BadFile as exc:  # a wider type: widened (sync_all_columns) or the option named
                    out = self._conform(df, _ingest_schema.widen_targets(
                        df, file_targets, table_types, self.config.on_schema_change, exc), meta=meta)
                _ingest_schema.storable_file(out)  # a time of day, a duration: this file is rejected, not the run
                return out
            except RatatouilleError:
                raise
            except Exception as exc:  # a bad file never stops the good ones
                if (missing := gone(exc)) is not None:  # deleted since it was listed: it waits, not rejected
                    return missing
                if _is_storage_error(exc):  # but the store failing is not the file's fault: fail, move nothing
                    raise StorageError(f"reading {f.rel} failed: {_reason(exc)}; nothing was written or moved",
                                       transform=self.name, file=self.file) from None
                return exc

        if lake.is_local or len(todo) < 2:
            loaded: Any = map(load, (f for f, _ in todo))
        else:  # object storage: fetch several files at once (the readers release the GIL)
            reader_pool = ThreadPoolExecutor(max_workers=min(8, len(todo)))
            loaded = reader_pool.map(load, (f for f, _ in todo))
        frames: list[pl.DataFrame] = []
        try:
            for (f, known), df in zip(todo, loaded):
                if isinstance(df, Gone):
                    plan.waiting.append(Waiting(f.rel, str(df)))
                    continue
                if gate.active and (why := gate.moved(f)):  # read while being written: never land a cut
                    plan.waiting.append(Waiting(f.rel, why))
                    continue
                if not isinstance(df, Exception):
                    try:
                        df = _ingest_schema.match_names(df, seen)
                    except BadFile as exc:
                        df = exc
                if not isinstance(df, Exception) and expected is not None:
                    df = _drift(df, expected)
                    nested = [] if isinstance(df, Exception) else _ingest_schema.struct_drift(df, table_types)
                    if nested:
                        df = BadFile(f"schema drift (schema: strict): new nested field(s) {nested}")
                if isinstance(df, Exception):
                    reason = _reason(df)
                    if self.config.on_error == "fail":
                        raise IngestError(f"cannot ingest {f.rel}: {reason} (on_error: fail, nothing written)",
                                          transform=self.name, file=self.file)
                    plan.rejected.append(Rejected(f.rel, reason))
                    continue
                if expected is None and self.config.schema == "strict":
                    expected = [c for c in df.columns if c not in META_COLUMNS]  # the first good file sets them
                if known is not None:
                    plan.reingested.append(f.rel)
                seen.update((_ingest_schema._fold(c), c) for c in df.columns if _ingest_schema._fold(c) not in seen)
                plan.files.append(f.rel)
                plan.fingerprints[f.rel] = f.fingerprint
                frames.append(df)
        finally:
            if not (lake.is_local or len(todo) < 2):
                reader_pool.shutdown(wait=True, cancel_futures=True)
        if changed:
            plan.changed = changed
            log.warning("%s: %d landing file(s) changed since they were ingested and were left as ingested "
                        "(on_change: ignore; set on_change: reingest to replace their rows): %s",
                        self.name, len(changed), ", ".join(f"{c} ({plan.changes.get(c)})" for c in changed[:10])
                        + (" ..." if len(changed) > 10 else ""))
        for w in plan.waiting:
            log.info("%s: waiting for %s: %s", self.name, w.file, w.reason)
        for r in plan.rejected:
            log.warning("%s: rejected %s: %s", self.name, r.file, r.reason)
        if not frames:
            schema: dict[str, DType] = {**targets, SOURCE_FILE: pl.String, SOURCE_FINGERPRINT: pl.String, INGESTED_AT: pl.Datetime("us")}
            return pl.LazyFrame(schema=schema)
        try:
            out = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        except pl.exceptions.PolarsError as exc:
            raise SchemaError(f"the new files disagree on column types: {_reason(exc)}", transform=self.name,
                              file=self.file) from None
        out = _ingest_schema.finish(out, targets)  # all-NULL columns typed, zones in UTC
        order = [c for c in out.columns if c not in META_COLUMNS] + list(META_COLUMNS)
        return (out if out.columns == order else out.select(order)).lazy()

    def _read_checked(self, f: LandingFile, lake: Lake, string_columns: tuple[str, ...]) -> pl.DataFrame:
        if f.size == 0:
            raise BadFile("empty file")
        df = self.read_file(f, lake, string_columns=string_columns)
        if df.height == 0:
            raise BadFile("empty file (no data rows)")
        clash = [c for c in df.columns if c in META_COLUMNS]
        if clash:
            raise BadFile(f"column(s) {clash} are reserved for ingestion metadata")
        return df

    def _conform(self, df: pl.DataFrame, targets: Mapping[str, DType],
                 meta: Sequence[pl.Expr] = ()) -> pl.DataFrame:
        """Check one file against the declared columns, cast its columns to the declared /
        existing types (a value that will not cast is a bad file) and add the ``meta``
        columns, in one pass."""
        missing = [c.name for c in self.config.columns if c.name not in df.columns]
        if missing:
            raise BadFile(f"missing declared column(s) {missing}")
        todo = {c: t for c, t in targets.items() if c in df.columns and df.schema[c] != t}
        exprs: list[Any] = []
        if self.config.options.get("decimal_comma"):  # "2,5" -> "2.5" before a text column becomes a float
            df = df.with_columns(pl.col(c).str.replace(",", ".", literal=True) for c, t in todo.items()
                                 if df.schema[c] == pl.String and (t.is_float() or isinstance(t, pl.Decimal)))
        for col, dtype in todo.items():
            expr = cast_expr(col, df.schema[col], dtype)
            exprs.append(expr if expr is not None else cast_column(df.get_column(col), dtype))
        try:
            return df.with_columns(*exprs, *meta)
        except pl.exceptions.PolarsError as exc:  # find the column (and a value) to name
            for col, dtype in todo.items():
                cast_column(df.get_column(col), dtype)
            raise BadFile(_reason(exc)) from None

    def writer(self, plan: IngestPlan) -> "IngestWrite":
        """How this run's rows land: one commit that also records its files."""
        return IngestWrite(self, plan)


# -- the write ------------------------------------------------------------------------------------
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

    def __init__(self, t: IngestTransform, plan: IngestPlan) -> None:
        self.t = t
        self.plan = plan

    def write(self, target: Target, data: pl.DataFrame | pl.LazyFrame, *, full_refresh: bool = False,
              metadata: Mapping[str, str] | None = None) -> WriteOutcome:
        from deltalake import Transaction

        from .._errors_map import write_error
        from ..errors import ConcurrentIngestError
        from ..write import WriteOutcome, _commit

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
                    widen := _ingest_schema.widened(df.schema, table)):  # a wider type: one rewrite
                _ingest_schema.rewrite(df, table, widen, self.plan.reingested, SOURCE_FILE).sink_delta(
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
        if table is None:  # the commit above created it: it is there
            raise StorageError(f"{target.uri} is missing right after its commit", transform=self.t.name)
        return WriteOutcome(version=_commit.landed(table, commit, since, target.storage_options)[0],
                            rows_written=df.height)


def _fast_append(df: pl.DataFrame, target: Target, table: DeltaTable,
                 commit: CommitProperties) -> WriteOutcome | None:
    """Polars-encoded parquet committed by delta-rs (``ratatouille.write.fast_write``) when eligible."""
    from ..write import fast_write, fast_write_eligible

    if not fast_write_eligible(df, target, table, "append"):
        return None
    return fast_write(df, target, table, "append", commit)


def in_predicate(column: str, values: list[str]) -> str:
    """A delta-rs predicate ``"column" IN ('a', 'b')`` (:func:`ratatouille._predicate.is_in`).

    >>> in_predicate("_source_file", ["a.csv", "it's.csv"])
    '"_source_file" IN (\\'a.csv\\', \\'it\\'\\'s.csv\\')'
    """
    from .._predicate import is_in

    return is_in(column, values)


# -- the ingested set -------------------------------------------------------------------------------
def source_version(rel: str, fingerprint: str) -> str:
    """The ``_source_fingerprint`` of a file's rows: its path and the fingerprint of its content,
    so that the table's ingested set is one dictionary-encoded column.

    >>> source_version("landing/sales/a.csv", "size=3;etag=abc")
    'landing/sales/a.csv@size=3;etag=abc'
    >>> parse_source_version('landing/x@y.csv@size=3;mtime=1.5')
    ('landing/x@y.csv', 'size=3;mtime=1.5')
    """
    return f"{rel}@{fingerprint}"


def parse_source_version(value: str) -> tuple[str, str] | None:
    rel, sep, fingerprint = value.rpartition("@")
    return (rel, fingerprint) if sep and rel and fingerprint.startswith("size=") else None


def ingested_state(table: DeltaTable) -> dict[str, set[str]]:
    """``{_source_file: {fingerprints}}`` of the rows in a bronze table.

    Reads one column, ``_source_fingerprint`` (``<path>@<fingerprint>``, constant per file,
    so dictionary-encoded to almost nothing), from the table's current data files, as a
    dictionary (no string per row is built): about 5-10 ms per million rows locally; on S3
    a footer and a column chunk per data file, no listing. Tables whose files cannot be read
    directly (column mapping, deletion vectors, the column as a partition) go through a
    projected ``scan_delta``.
    """
    if table is None:
        return {}
    names = {f.name for f in table.schema().fields}
    if SOURCE_FILE not in names:
        return {}
    meta, protocol = table.metadata(), table.protocol()
    features = set(protocol.reader_features or ()) | set(protocol.writer_features or ())
    direct = not ({"columnMapping", "deletionVectors"} & features
                  or {SOURCE_FILE, SOURCE_FINGERPRINT} & set(meta.partition_columns or [])
                  or (meta.configuration or {}).get("delta.columnMapping.mode", "none") != "none")
    if not table.file_uris():
        return {}
    read = _distinct_from_files if direct else _distinct_from_scan
    out: dict[str, set[str]] = {}
    if SOURCE_FINGERPRINT in names:
        values = read(table, [SOURCE_FINGERPRINT])
        parsed = [parse_source_version(v[0]) if v[0] is not None else None for v in values]
        if all(p is not None for p in parsed):
            for rel, fingerprint in parsed:  # type: ignore[misc]
                out.setdefault(rel, set()).add(fingerprint)
            return out
        pairs = read(table, [SOURCE_FILE, SOURCE_FINGERPRINT])  # fingerprints without the path
    else:
        pairs = read(table, [SOURCE_FILE])
    for row in pairs:
        if row[0] is None:
            continue
        entry = out.setdefault(row[0], set())
        if len(row) > 1 and row[1] is not None:
            version = parse_source_version(row[1])
            entry.add(version[1] if version else row[1])
    return out


def _distinct_from_files(table: DeltaTable, cols: list[str]) -> set[tuple[Any, ...]]:
    """The distinct rows of ``cols`` in the table's data files, read as dictionaries through
    delta-rs' own object store (file sizes known from the log: no extra request per file)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    dict_type = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([pa.field(f.name, dict_type) if f.name in cols else f
                        for f in pa.schema(table.schema().to_arrow())])
    dataset = table.to_pyarrow_dataset(schema=schema, parquet_read_options=pds.ParquetReadOptions(
        dictionary_columns=set(cols)))
    out: set[tuple] = set()
    for batch in dataset.to_batches(columns=cols, batch_size=1 << 20):
        n = batch.num_rows
        if n == 0:
            continue
        columns = [batch.column(i) for i in range(len(cols))]
        indices = [c.indices if c.null_count == 0 else pc.fill_null(c.indices, -1) for c in columns]
        # a file's rows are contiguous: the distinct values are found at the starts of runs of
        # equal dictionary indices (any row order stays correct, with more runs)
        change = None
        for ix in indices:
            diff = pc.not_equal(ix.slice(1), ix.slice(0, n - 1))
            change = diff if change is None else pc.or_(change, diff)
        starts = pa.array([0] + [i + 1 for i in pc.indices_nonzero(change).to_pylist()], pa.int64())
        values = [c.dictionary.to_pylist() for c in columns]
        picked = [ix.take(starts).to_pylist() for ix in indices]
        for row in zip(*picked):
            out.add(tuple(vals[i] if i >= 0 else None for vals, i in zip(values, row)))
    return out


def _distinct_from_scan(table: DeltaTable, cols: list[str]) -> set[tuple[Any, ...]]:
    return set(pl.scan_delta(table).select(cols).unique().collect().iter_rows())


def _table_types(table: DeltaTable) -> dict[str, DType]:
    """The data columns of an existing table and their Polars types."""
    import pyarrow as pa

    schema = pl.DataFrame(pa.schema(table.schema().to_arrow()).empty_table()).schema
    return {c: t for c, t in schema.items() if c not in META_COLUMNS}


# -- types and casts --------------------------------------------------------------------------------
def polars_type(name: str) -> pl.DataType:
    """A Polars dtype from a YAML type name (``int64``, ``string``, ``date``, ``decimal(10,2)``,
    ``timestamp(us, UTC)``, ``list<string>``...): the one parser, :func:`ratatouille._types.parse_type`.

    >>> polars_type("decimal(10, 2)")
    Decimal(precision=10, scale=2)
    """
    from .._types import polars_type as parse

    return parse(name)


def _dtypes(raw: Any) -> dict[str, pl.DataType]:
    return {col: polars_type(t) for col, t in (raw or {}).items()}


_BOOLS = {**dict.fromkeys(("true", "t", "yes", "y", "1"), True), **dict.fromkeys(("false", "f", "no", "n", "0"), False)}


def cast_column(s: pl.Series, dtype: DType) -> pl.Series:
    """Cast one column strictly, or raise :class:`BadFile` naming the column and a bad value.

    >>> cast_column(pl.Series("q", ["1", "2"]), pl.Int64).to_list()
    [1, 2]
    >>> cast_column(pl.Series("q", ["1", "x"]), pl.Int64)
    Traceback (most recent call last):
    ...
    ratatouille.transforms.ingest.BadFile: column 'q' cannot be cast to Int64 (value 'x')
    """
    src = s.dtype
    try:
        if src == pl.String:
            text = s.str.strip_chars()
            if dtype == pl.Boolean:
                low = text.str.to_lowercase()
                out = low.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
                bad = s.filter(out.is_null() & low.is_not_null())
                if len(bad):
                    _raise(bad[0])
            elif dtype == pl.Date:
                out = text.str.to_date(strict=True)
            elif isinstance(dtype, pl.Datetime):
                out = text.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True)
            else:
                out = text.cast(dtype, strict=True)
        elif src.is_float() and dtype.is_integer():
            frac = s.is_not_null() & s.is_not_nan() & (s != s.floor())
            if frac.any():
                _raise(s.filter(frac)[0])
            out = s.cast(dtype, strict=True)
        else:
            out = s.cast(dtype, strict=True)
            lost = _ingest_schema.rounded(s, out)  # 2.5 in a struct of integers, a decimal's last digits
            if lost is not None:
                _raise(lost[0])
    except BadFile as exc:
        raise BadFile(f"column {s.name!r} cannot be cast to {dtype} (value {exc.args[0]!r})") from None
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        raise BadFile(f"column {s.name!r} cannot be cast to {dtype} ({_example(s, dtype) or _reason(exc)})") from None
    return out.alias(s.name)


def _drift(df: pl.DataFrame, expected: list[str]) -> pl.DataFrame | BadFile:
    """``df`` if its columns are exactly ``expected`` (``schema: strict``), else the reason."""
    cols = [c for c in df.columns if c not in META_COLUMNS]
    new = [c for c in cols if c not in expected]
    gone = [c for c in expected if c not in cols]
    if not new and not gone:
        return df
    parts = ([f"new column(s) {new}"] if new else []) + ([f"missing column(s) {gone}"] if gone else [])
    return BadFile("schema drift (schema: strict): " + "; ".join(parts))


def cast_expr(name: str, src: DType, dtype: DType) -> pl.Expr | None:
    """The strict cast of :func:`cast_column` as an expression (``None``: needs the eager check)."""
    col = pl.col(name)
    if src == pl.String:
        text = col.str.strip_chars()
        if dtype == pl.Boolean:
            return text.str.to_lowercase().replace_strict(_BOOLS, return_dtype=pl.Boolean)
        if dtype == pl.Date:
            return text.str.to_date(strict=True)
        if isinstance(dtype, pl.Datetime):
            return text.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True)
        return text.cast(dtype, strict=True)
    if (src.is_float() and dtype.is_integer()) or _ingest_schema._rounds(src, dtype):
        return None  # a fractional value must not be truncated (also nested, or a decimal's scale): checked eagerly
    return col.cast(dtype, strict=True)


def _raise(value: Any) -> NoReturn:
    raise BadFile(value)


def _example(s: pl.Series, dtype: DType) -> str | None:
    try:
        lenient = s.cast(dtype, strict=False)
        bad = s.filter(lenient.is_null() & s.is_not_null())
        return f"value {bad[0]!r}" if len(bad) else None
    except Exception:  # noqa: BLE001
        return None


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _is_storage_error(exc: BaseException) -> bool:
    """Whether reading a file failed because of the store (network, permissions), not the file
    (``ratatouille/_errors_map.py``).

    >>> _is_storage_error(PermissionError("denied")), _is_storage_error(ValueError("bad quoting"))
    (True, False)
    >>> _is_storage_error(ValueError("could not parse `request timed out` as dtype i64"))
    False
    """
    from .._errors_map import is_storage_read_error

    return is_storage_read_error(exc, content_errors=(BadFile,))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BadFile):
        return str(exc)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- rejected files ---------------------------------------------------------------------------------
def handle_rejected(t: "IngestTransform", lake: Lake, rejected: list[Rejected], *, workspace: str = "default",
                    others: Iterable["IngestTransform"] = ()) -> None:
    """After the commit: move rejected files to ``landing/_rejected/`` with a ``.reason.txt``
    beside each (``on_error: reject``), or leave them in place (``skip``).

    The landing zone is production's: a run in another workspace reports bad files, never moves
    them; nor is a file moved that another ingest transform of the project (``others``) also
    takes: bad for this one, it may be good for that one.
    """
    if t.config.on_error != "reject":
        return
    if workspace != "default":
        for r in rejected:
            log.warning("%s (workspace %s): rejected %s, left in place: %s", t.name, workspace, r.file, r.reason)
        return
    others = [o for o in others if o.name != t.name]
    for r in rejected:
        rel = r.file
        shared = next((o.name for o in others if o.takes(rel)), None)
        if shared:
            log.warning("%s: rejected %s, left in place (%s ingests it too): %s", t.name, rel, shared, r.reason)
            continue
        try:
            src, dest = _landing.quarantine_paths(lake, rel)  # both in the landing zone, or not moved
        except ConfigError as exc:
            log.warning("%s: rejected %s, left in place: %s", t.name, rel, exc.message)
            continue
        try:
            lake.write_text(dest + ".reason.txt", f"{rel}: {r.reason}\n")
            lake.move(src, dest)
        except OSError as exc:  # the file went away meanwhile: report, don't fail
            log.warning("%s: could not move rejected %s aside: %s", t.name, rel, type(exc).__name__)
            continue
        r.moved_to = lake.relative(dest)
