"""Ingest transforms: landing files -> a bronze table, each file exactly once.

A bronze YAML with ``source:`` and ``format:`` declares one. The files already
ingested are read from the table itself (the ``_source_file`` column, written
in the same Delta commit as the rows), so a run reads only new files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .._names import parse_table_name
from ..errors import ConfigError, IngestError
from ._base import BuildContext, Transform
from ._config import build_config, load_yaml

SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
_EXTENSIONS = {"csv": (".csv", ".tsv", ".txt"), "json": (".json",), "ndjson": (".ndjson", ".jsonl"),
               "parquet": (".parquet",), "excel": (".xlsx", ".xls", ".xlsm")}


@dataclass
class Rejected:
    """A landing file that could not be ingested, and why."""

    file: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass
class IngestPlan:
    """What an ingest run will do: the new files it read and the ones it rejected."""

    files: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class IngestTransform(Transform):
    """Landing files of one format under ``source:`` appended to a bronze table."""

    kind = "ingest"

    def __init__(self, name: str, *, config, path: Path | None = None, workspace: str = "default",
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
        if not config.format:
            suffix = Path(config.source.rstrip("/*")).suffix.lstrip(".")
            fmt = next((f for f, exts in _EXTENSIONS.items() if "." + suffix in exts), None)
            if fmt is None:
                raise ConfigError("format: is required (csv, json, ndjson, parquet, excel)", file=str(path))
            config = type(config)(**{**config.__dict__, "format": fmt})
        if config.materialized != "table" or config.strategy:
            raise ConfigError("ingest transforms always append; remove materialized/strategy", file=str(path))
        return cls(name, config=config, path=path, workspace=workspace, yaml_text=text)

    @property
    def source_text(self) -> str:
        return self._yaml_text

    @property
    def mode(self) -> str:
        return "append"

    # -- files ----------------------------------------------------------------
    def list_files(self, lake) -> list[str]:
        """Every landing file matching ``source:`` (sorted full paths)."""
        exts = _EXTENSIONS[self.config.format or "csv"]
        files = lake.ls(self.config.source)
        if any(ch in self.config.source for ch in "*?["):
            return files
        return [f for f in files if f.lower().endswith(exts)]

    def read_file(self, path: str, lake) -> pl.DataFrame:
        """Read one landing file into a frame (raises on a malformed file)."""
        fmt = self.config.format
        opts = dict(self.config.options)
        storage = lake.delta_options()
        if fmt == "csv":
            kwargs: dict[str, Any] = {}
            if "separator" in opts:
                kwargs["separator"] = opts["separator"]
            if "header" in opts or "has_header" in opts:
                kwargs["has_header"] = bool(opts.get("header", opts.get("has_header")))
            if "encoding" in opts:
                kwargs["encoding"] = "utf8-lossy" if opts["encoding"] in ("utf8-lossy",) else "utf8"
            if "dtypes" in opts or "schema_overrides" in opts:
                kwargs["schema_overrides"] = _dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
            for key in ("skip_rows", "quote_char", "null_values", "infer_schema_length"):
                if key in opts:
                    kwargs[key] = opts[key]
            if opts.get("encoding") not in (None, "utf8", "utf-8", "utf8-lossy"):
                with lake.open(path) as fh:
                    text = fh.read().decode(opts["encoding"])
                return pl.read_csv(text.encode(), **kwargs)
            return pl.scan_csv(path, storage_options=storage, **kwargs).collect()
        if fmt == "parquet":
            return pl.scan_parquet(path, storage_options=storage).collect()
        if fmt == "ndjson":
            return pl.scan_ndjson(path, storage_options=storage).collect()
        with lake.open(path) as fh:
            data = fh.read()
        if fmt == "json":
            return pl.read_json(data)
        if fmt == "excel":
            sheet = opts.get("sheet", opts.get("sheet_name"))
            kw = {"sheet_name": sheet} if isinstance(sheet, str) else ({"sheet_id": sheet} if sheet else {})
            return pl.read_excel(data, **kw)
        raise ConfigError(f"unsupported format {fmt!r}", transform=self.name, file=self.file)

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        """Read the new files into one frame with ``_source_file`` and ``_ingested_at``."""
        lake = ctx.extra["lake"]
        done: set[str] = ctx.extra.get("ingested", set())
        plan: IngestPlan = ctx.extra.setdefault("ingest", IngestPlan())
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        frames = []
        for path in self.list_files(lake):
            if path in done:
                continue
            try:
                df = self.read_file(path, lake)
            except Exception as exc:  # a bad file never stops the good ones
                if self.config.on_error == "fail":
                    raise IngestError(f"cannot read {path}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}",
                                      transform=self.name, file=self.file) from exc
                plan.rejected.append(Rejected(path, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"))
                continue
            plan.files.append(path)
            frames.append(df.with_columns(pl.lit(path).alias(SOURCE_FILE), pl.lit(now).alias(INGESTED_AT)))
        if not frames:
            return pl.LazyFrame(schema={SOURCE_FILE: pl.String, INGESTED_AT: pl.Datetime("us")})
        return pl.concat(frames, how="diagonal_relaxed").lazy()


def ingested_files(target: pl.LazyFrame | None) -> set[str]:
    """The landing files already in a bronze table (from its ``_source_file`` column)."""
    if target is None or SOURCE_FILE not in target.collect_schema().names():
        return set()
    return set(target.select(pl.col(SOURCE_FILE).unique()).collect()[SOURCE_FILE].to_list())


_TYPES = {"int": pl.Int64, "int64": pl.Int64, "int32": pl.Int32, "float": pl.Float64, "float64": pl.Float64,
          "double": pl.Float64, "str": pl.String, "string": pl.String, "utf8": pl.String, "bool": pl.Boolean,
          "boolean": pl.Boolean, "date": pl.Date, "datetime": pl.Datetime("us"), "timestamp": pl.Datetime("us")}


def polars_type(name: str) -> pl.DataType:
    """A Polars dtype from a YAML type name (``int64``, ``string``, ``date``, ``decimal(10,2)``...)."""
    key = str(name).strip().lower()
    if key in _TYPES:
        return _TYPES[key]
    if key.startswith("decimal"):
        inner = key[len("decimal"):].strip("()")
        p, s = (int(x) for x in inner.split(",")) if inner else (38, 9)
        return pl.Decimal(p, s)
    dtype = getattr(pl, str(name), None)
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    raise ConfigError(f"unknown column type {name!r}")


def _dtypes(raw: Any) -> dict[str, pl.DataType]:
    return {col: polars_type(t) for col, t in (raw or {}).items()}


def handle_rejected(t: "IngestTransform", lake, rejected: list[Rejected]) -> None:
    """After the commit: move rejected files to ``landing/_rejected/`` with a ``.reason`` file
    (``on_error: reject``), or leave them in place (``skip``)."""
    import logging

    log = logging.getLogger("ratatouille")
    for r in rejected:
        log.warning("%s: rejected %s: %s", t.name, r.file, r.reason)
        if t.config.on_error != "reject":
            continue
        root = lake.path("landing")
        rel = r.file[len(root):].lstrip("/") if r.file.startswith(root) else r.file.rsplit("/", 1)[-1]
        dest = lake.path("landing", "_rejected", rel)
        fs = lake.fs
        fs.makedirs(lake._strip(dest).rsplit("/", 1)[0], exist_ok=True)
        with fs.open(lake._strip(dest) + ".reason.txt", "w") as fh:
            fh.write(r.reason + "\n")
        fs.mv(lake._strip(r.file), lake._strip(dest))
        r.file_moved_to = dest  # type: ignore[attr-defined]
