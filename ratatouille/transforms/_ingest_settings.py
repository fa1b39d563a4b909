"""Ingest settings: what an ingest transform (a bronze YAML without SQL) reads and how.

``source`` (a landing path), ``format``, the reader options (``separator``,
``encoding``... given at the top level or under ``options:``), the ``schema``
policy, ``on_error``, ``on_change``, ``settle_seconds`` and ``ready_marker``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

FORMATS = ("csv", "json", "ndjson", "parquet", "excel", "xlsx")
#: the settings keys with a fixed set of values
CHOICES: dict[str, tuple[str, ...]] = {
    "schema": ("evolve", "strict"),
    "on_error": ("reject", "skip", "fail"),
    "on_change": ("ignore", "reingest"),
    "format": FORMATS,
}
READER_OPTION_KEYS = {"separator", "encoding", "header", "has_header", "sheet", "sheet_name", "dtypes",
                      "schema_overrides", "skip_rows", "quote_char", "null_values", "infer_schema_length",
                      "comment_prefix", "decimal_comma", "try_parse_dates"}


@dataclass(frozen=True)
class IngestSettings:
    """The settings of an ingest transform (``source`` is ``None`` for the other transforms)."""

    source: str | None = None
    format: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: Literal["evolve", "strict"] = "evolve"
    on_error: Literal["reject", "skip", "fail"] = "reject"
    on_change: Literal["ignore", "reingest"] = "ignore"
    settle_seconds: float | None = None  # None: RAT_SETTLE_SECONDS, else transforms/_settle.py's default
    ready_marker: str | None = None  # "_SUCCESS" (folder marker) or ".done" (x.csv.done)

    def __post_init__(self) -> None:
        if self.format == "xlsx":
            object.__setattr__(self, "format", "excel")
