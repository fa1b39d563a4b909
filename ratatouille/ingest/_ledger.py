"""The ledger: which landing files a bronze table holds.

Every row carries ``_source_file`` and ``_source_fingerprint`` (``<path>@<fingerprint>``),
written in the same Delta commit as the rows, so the table itself says which files it holds.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .._predicate import is_in
from ._spec import SOURCE_FILE, SOURCE_FINGERPRINT

def in_predicate(column: str, values: list[str]) -> str:
    """A delta-rs predicate ``"column" IN ('a', 'b')`` (:func:`ratatouille._predicate.is_in`).

    >>> in_predicate("_source_file", ["a.csv", "it's.csv"])
    '"_source_file" IN (\\'a.csv\\', \\'it\\'\\'s.csv\\')'
    """
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
    """``(path, fingerprint)`` of a ``_source_fingerprint`` value (``None``: not one)."""
    rel, sep, fingerprint = value.rpartition("@")
    return (rel, fingerprint) if sep and rel and fingerprint.startswith("size=") else None


def ingested_state(table: Any) -> dict[str, set[str]]:
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
            parsed_one = parse_source_version(row[1])
            entry.add(parsed_one[1] if parsed_one else row[1])
    return out


def _distinct_from_files(table, cols: list[str]) -> set[tuple]:
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


def _distinct_from_scan(table, cols: list[str]) -> set[tuple]:
    return set(pl.scan_delta(table).select(cols).unique().collect().iter_rows())


