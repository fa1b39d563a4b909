"""The ingest stage: landing files -> a bronze table, each file exactly once.

A bronze YAML with ``source:`` and ``format:`` declares one::

    source: landing/sales/          # a folder (recursive) or a glob: landing/sales/*.csv
    format: csv                     # csv, json, ndjson, parquet, excel (xlsx)
    separator: ";"                  # reader options: separator, encoding, header, sheet, dtypes, ...
    schema: evolve                  # or strict
    on_error: reject                # or skip, fail
    on_change: ignore               # or reingest
    settle_seconds: 5               # files in flight wait (ingest/_settle.py); ready_marker: _SUCCESS / .done
    columns:
      - {name: order_id, type: int64, tests: [not_null]}

One module per job, in the order a run goes through them:

===============  ===============================================================
``_spec``        the YAML's ingest keys, validated once when the transform loads
``_landing``     the landing boundary and listing (what ``source:`` takes)
``_settle``      files in flight wait until they are complete
``_ledger``      which files the table holds, read from its Delta log
``_readers``     one reader per format: csv, json, ndjson, parquet, excel
``_cast``        strict casts (a value that does not fit makes the file bad)
``_conform``     the type policy: names, targets, widening, drift
``_check``       the per-file check step
``_stream``      csv, ndjson, parquet files as scans (lazy casts, literal bookkeeping)
``_bad``         bad files: their reasons, moved aside after the commit
``_plan``        what one run does, and the commit metadata recording it
``_stage``       the run: list, select, read, conform, check, combine (and recover)
===============  ===============================================================

The write is a materialization like the others: ``ratatouille/write/_ingest.py``.

**Exactly once.** Every row carries ``_source_file`` (the file's path relative
to the lake root), ``_source_fingerprint`` (``<path>@size=...;etag=...``) and
``_ingested_at``; every commit carries the ledger of its files (``_ledger``) and
a Delta app transaction (``ratatouille.ingest``): two runs racing on one table
cannot both commit. A killed run commits nothing, so its files are new again.

**Changed files** (same path, new fingerprint) follow ``on_change``: ``ignore``
(the default) keeps the rows ingested before and warns; ``reingest`` replaces
that file's rows in the same commit as the other new files.
"""

from __future__ import annotations

from ._bad import BadFile, Rejected, handle_rejected
from ._cast import cast_column, cast_expr
from ._ledger import in_predicate, ingested_state, parse_source_version, source_version
from ._plan import IngestPlan
from ._spec import INGESTED_AT, META_COLUMNS, SOURCE_FILE, SOURCE_FINGERPRINT, polars_type
from ._stage import build

APP_ID = "ratatouille.ingest"

__all__ = ["APP_ID", "BadFile", "INGESTED_AT", "IngestPlan", "META_COLUMNS", "Rejected", "SOURCE_FILE",
           "SOURCE_FINGERPRINT", "build", "cast_column", "cast_expr", "handle_rejected", "in_predicate",
           "ingested_state", "parse_source_version", "polars_type", "source_version"]
