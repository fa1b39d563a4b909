"""The ledger: which landing files a bronze table holds, read from its Delta log.

Every ingest commit carries, in its commit info (``ratatouille.ingest.ledger``),
the files it ingested and their fingerprints, written in the SAME commit as the
rows. Like Delta's own checkpoints, every :data:`FULL_EVERY`-th ingest commit
carries the whole set (``depth`` 0) and the ones between carry only their own
files (``depth`` 1, 2, ...): reading the set costs at most that many small log
entries, whatever the size of the table, and never reads a data file.

A table written before the ledger (or whose log entries were cleaned up, or
that was changed meanwhile by a commit that moved rows without recording a
ledger: an ingest that did not record one, a restore, a DELETE, another
writer) falls back to the rows: one dictionary-encoded column, ``_source_fingerprint``
(:func:`scanned_state`); the next ingest commit then writes the whole set, so
the scan happens once. A killed run commits nothing, so its files are simply new
again next time; each commit also carries a Delta app transaction
(``ratatouille.ingest``): two runs racing on one table cannot both commit.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any, Mapping


from .._delta_scan import log_entries, scan_delta
from .._predicate import is_in
from ._spec import SOURCE_FILE, SOURCE_FINGERPRINT

LEDGER_KEY = "ratatouille.ingest.ledger"
FILES_KEY = "ratatouille.files"  # every ingest commit's own files (an audit trail, written before the ledger too)
FULL_EVERY = 16  # an ingest commit carries the whole set at least every this many ingest commits
MAX_WALK = 64  # log entries read back before falling back to the rows
_PACKED = "z:"  # a large entry is stored zlib-compressed, base64-encoded


@dataclass
class State:
    """The ingested set of a table and where it was read from."""

    files: dict[str, set[str]]
    depth: int | None  # the newest ledger entry's depth; None: read from the rows (write the whole set next)


def _pack(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    if len(text) < 1 << 15:
        return text
    return _PACKED + base64.b64encode(zlib.compress(text.encode(), 6)).decode()


def _unpack(text: str) -> dict[str, Any]:
    if text.startswith(_PACKED):
        text = zlib.decompress(base64.b64decode(text[len(_PACKED):])).decode()
    out: dict[str, Any] = json.loads(text)
    return out


def entry(state: State | None, files: Mapping[str, str], *, full_refresh: bool = False) -> str:
    """The ledger entry of a commit ingesting ``files`` (``{path: fingerprint}``) on top of ``state``.

    Parameters
    ----------
    state : State or None
        The set the run read (``None``: a new table).
    files : mapping
        This commit's files and their fingerprints.
    full_refresh : bool
        The commit replaces the table: the set is this commit's files only.

    Returns
    -------
    str
        The commit-info value of :data:`LEDGER_KEY`.

    Examples
    --------
    >>> _unpack(entry(State({"landing/a.csv": {"size=1"}}, depth=3), {"landing/b.csv": "size=2"}))
    {'depth': 4, 'files': {'landing/b.csv': ['size=2']}, 'v': 1}
    >>> _unpack(entry(State({"landing/a.csv": {"size=1"}}, depth=None), {"landing/b.csv": "size=2"}))["files"]
    {'landing/a.csv': ['size=1'], 'landing/b.csv': ['size=2']}
    """
    new = {f: [fp] for f, fp in files.items()}
    if state is None or full_refresh:
        return _pack({"v": 1, "depth": 0, "files": new})
    if state.depth is not None and state.depth + 1 < FULL_EVERY:
        return _pack({"v": 1, "depth": state.depth + 1, "files": new})
    whole = {f: sorted(fps) for f, fps in state.files.items()}
    whole.update(new)
    return _pack({"v": 1, "depth": 0, "files": whole})


def logged_state(table: Any) -> State | None:
    """The ingested set from the ledger in the log of ``table`` (at its loaded version), or ``None``
    when the log does not hold a complete one (then the rows say, :func:`scanned_state`)."""
    newest = table.version()
    out: dict[str, set[str]] = {}
    depth: int | None = None
    oldest = max(-1, newest - MAX_WALK)
    for _version, actions in log_entries(table.table_uri, _storage(table), newest, oldest):
        info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        raw = info.get(LEDGER_KEY)
        if raw is None:
            if FILES_KEY in info or _changes_rows(actions):  # an ingest that wrote no ledger, a restore, a
                return None  # DELETE, another writer: the set may not be the rows' any more; they say
            continue  # a commit that moves no rows (optimize, vacuum, ...): the set is unchanged
        payload = _unpack(str(raw))
        if depth is None:
            depth = int(payload["depth"])
        for f, fps in payload["files"].items():
            out.setdefault(f, set(fps))  # the newest entry of a file wins (a re-ingested file)
        if int(payload["depth"]) == 0:
            return State(out, depth)
    return None


def _changes_rows(actions: list[dict[str, Any]]) -> bool:
    """Whether a log entry adds or removes rows (an optimize's files have ``dataChange: false``).

    >>> _changes_rows([{"commitInfo": {}}, {"remove": {"path": "a", "dataChange": False}}])
    False
    >>> _changes_rows([{"add": {"path": "b", "dataChange": True}}])
    True
    """
    return any(bool(a[kind].get("dataChange", True)) for a in actions for kind in ("add", "remove") if kind in a)


def _storage(table: Any) -> dict[str, str] | None:
    opts = getattr(table, "_storage_options", None)
    return dict(opts) if opts else None


def read_state(table: Any) -> State:
    """The ingested set of ``table`` (``None``: no table yet): from the ledger, else from its rows."""
    if table is None:
        return State({}, None)
    logged = logged_state(table)
    return logged if logged is not None else State(scanned_state(table), None)


def ingested_state(table: Any) -> dict[str, set[str]]:
    """``{_source_file: {fingerprints}}`` of the files a bronze table holds (:func:`read_state`).

    Parameters
    ----------
    table : DeltaTable or None
        The bronze table at the version to read.

    Returns
    -------
    dict
        Lake-relative landing path -> the fingerprints its rows were ingested with.
    """
    return read_state(table).files


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


def scanned_state(table: Any) -> dict[str, set[str]]:
    """``{_source_file: {fingerprints}}`` of the rows in a bronze table, read from its rows (tables
    written before the ledger, or whose log no longer holds it).

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


def _distinct_from_files(table: Any, cols: list[str]) -> set[tuple[Any, ...]]:
    """The distinct rows of ``cols`` in the table's data files, read as dictionaries through
    delta-rs' own object store (file sizes known from the log: no extra request per file)."""
    # lazy: pyarrow.compute and pyarrow.dataset (~40 ms) only for the fallback scan of a table without a ledger
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


def _distinct_from_scan(table: Any, cols: list[str]) -> set[tuple[Any, ...]]:
    return set(scan_delta(table).select(cols).unique().collect().iter_rows())


