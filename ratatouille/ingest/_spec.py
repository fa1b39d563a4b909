"""The ingest YAML: its keys and reader options, validated once (when the transform is loaded)."""

from __future__ import annotations

import codecs
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from .._types import polars_type as parse
from ..errors import ConfigError
from . import _landing
from ._landing import EXTENSIONS
from ._settle import check_settle_config

SOURCE_FILE = "_source_file"
SOURCE_FINGERPRINT = "_source_fingerprint"
INGESTED_AT = "_ingested_at"
META_COLUMNS = (SOURCE_FILE, SOURCE_FINGERPRINT, INGESTED_AT)
UTF8 = (None, "utf8", "utf-8", "UTF8", "UTF-8")
LOSSY = ("utf8-lossy", "utf-8-lossy")


def polars_type(name: str) -> pl.DataType:
    """A Polars dtype from a YAML type name (``int64``, ``string``, ``date``, ``decimal(10,2)``,
    ``timestamp(us, UTC)``, ``list<string>``...): the one parser, :func:`ratatouille._types.polars_type`.

    Parameters
    ----------
    name : str
        The type as written in the YAML.

    Returns
    -------
    pl.DataType

    Raises
    ------
    ConfigError
        An unknown type name.

    Examples
    --------
    >>> polars_type("decimal(10, 2)")
    Decimal(precision=10, scale=2)
    """
    return parse(name)


def dtypes(raw: Any) -> dict[str, pl.DataType]:
    """The ``dtypes:`` (or ``schema_overrides:``) reader option as Polars types."""
    return {col: polars_type(t) for col, t in (raw or {}).items()}


def validate(config: Any, *, file: str) -> Any:
    """The ingest settings of a YAML, checked once; the format guessed from ``source:`` when unset.

    Parameters
    ----------
    config : TransformConfig
        The YAML's settings (``transforms._config.build_config``).
    file : str
        The YAML file, named by every error.

    Returns
    -------
    TransformConfig
        ``config``, with ``format`` filled in.

    Raises
    ------
    ConfigError
        A missing or unsafe ``source:``, an unknown format, encoding or type, a reserved column.
    """
    if not config.source:
        raise ConfigError("a YAML transform without SQL beside it needs source: (a landing path)", file=file)
    _landing.check_source(config.source, file=file)  # under landing/: no '..', absolute path or URL
    if not config.format:
        suffix = Path(config.source.rstrip("/*")).suffix.lower()
        fmt = next((f for f, exts in EXTENSIONS.items() if suffix and suffix in exts), None)
        if fmt is None:
            raise ConfigError("format: is required (csv, json, ndjson, parquet, excel)", file=file)
        config = replace(config, ingest=replace(config.ingest, format=fmt))
    check_settle_config(config.settle_seconds, config.ready_marker, file=file)
    reserved = [c.name for c in config.columns if c.name in META_COLUMNS]
    if reserved:
        raise ConfigError(f"columns {reserved} are added by ingestion; do not declare them", file=file)
    _check_reader_options(config.options, file)
    for spec in config.columns:
        if spec.type:
            try:
                polars_type(spec.type)
            except ConfigError as exc:
                raise ConfigError(f"column {spec.name!r}: {exc.message}", file=file) from None
    return config


def _check_reader_options(options: dict[str, Any], file: str) -> None:
    encoding = options.get("encoding")
    if encoding not in UTF8 and encoding not in LOSSY:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", file=file) from None
    for key in ("separator", "quote_char"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or len(value.encode()) != 1):
            raise ConfigError(f"{key}: must be one single-byte character, not {value!r}", file=file)
    sheet = options.get("sheet", options.get("sheet_name"))
    if isinstance(sheet, int) and sheet < 1:
        raise ConfigError("sheet: is a sheet name or a 1-based sheet number", file=file)
    for col, typ in dict(options.get("dtypes") or options.get("schema_overrides") or {}).items():
        try:
            polars_type(typ)
        except ConfigError as exc:
            raise ConfigError(f"dtypes: {col}: {exc.message}", file=file) from None
