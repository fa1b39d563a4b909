"""One reader per landing format: csv, json, ndjson, parquet, excel.

CSV, NDJSON and Parquet are scanned (``scan_csv`` / ``scan_ndjson`` /
``scan_parquet``, straight from object storage on S3); JSON, Excel, compressed
CSV and CSV in another encoding than UTF-8 are read from the file's bytes.
Every reader takes the transform's settings, the lake, the file's full path
(``full``: its name and suffixes) and the path to read it from (``src``: the
pinned file, see ``Lake.pinned``).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
from typing import Any, Callable, Iterable, Iterator

import polars as pl

from ..errors import ConfigError
from ._bad import BadFile, reason
from ._conform import inference, read_ndjson_bytes
from ._landing import has_magic
from ._spec import LOSSY, META_COLUMNS, UTF8, dtypes


def read_all(lake: Any, src: str) -> bytes:
    """The bytes of a pinned landing file (``Lake.pinned``: a ``/proc/self/fd`` path, or the checked path)."""
    if src.startswith("/proc/self/fd/"):
        with open(src, "rb") as fh:
            return fh.read()
    return bytes(lake.read_bytes(src))


def read_csv(config: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A CSV file (``string_columns`` read as text, to be cast strictly later)."""
    opts = dict(config.options)
    kwargs: dict[str, Any] = {}
    if "separator" in opts:
        kwargs["separator"] = str(opts["separator"])
    elif full.lower().endswith(".tsv"):
        kwargs["separator"] = "\t"
    if "header" in opts or "has_header" in opts:
        kwargs["has_header"] = bool(opts.get("header", opts.get("has_header")))
    overrides: dict[str, Any] = {c: pl.String for c in string_columns}
    overrides.update(dtypes(opts.get("dtypes") or opts.get("schema_overrides")))
    if overrides:
        kwargs["schema_overrides"] = overrides
    for key in ("skip_rows", "quote_char", "null_values", "infer_schema_length", "comment_prefix",
                "decimal_comma", "try_parse_dates"):
        if key in opts:
            kwargs[key] = opts[key]
    kwargs.update(inference(opts))  # types from the whole file, not its first rows
    encoding = opts.get("encoding")
    if encoding in LOSSY:
        kwargs["encoding"] = "utf8-lossy"
    elif encoding not in UTF8:  # decoded strictly: a byte that is not in the encoding rejects the file
        data = read_all(lake, src)
        if full.lower().endswith(".gz"):
            data = gzip.decompress(data)
        return pl.read_csv(io.BytesIO(data.decode(str(encoding)).encode()), **kwargs).lazy()
    if full.lower().endswith(".gz"):  # compressed: read whole (decompressed by Polars)
        return pl.read_csv(io.BytesIO(read_all(lake, src)), **kwargs).lazy()
    return pl.scan_csv(src, storage_options=lake.delta_options(), glob=False, **kwargs)


def read_parquet(config: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A Parquet file, scanned (never read whole)."""
    return pl.scan_parquet(src, storage_options=lake.delta_options(), glob=False)


def read_ndjson(config: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A newline-delimited JSON file (a byte-order mark and blank-only files handled)."""
    opts = dict(config.options)
    overrides = dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
    kwargs: dict[str, Any] = {"schema_overrides": overrides} if overrides else {}
    kwargs.update(inference(opts))  # a key first seen late is kept
    try:
        if has_magic(full):  # scan_ndjson would expand "[", "*" or "?" in the name as a glob
            return pl.read_ndjson(io.BytesIO(read_all(lake, src)), **kwargs).lazy()
        return pl.scan_ndjson(src, storage_options=lake.delta_options(), **kwargs).collect().lazy()
    except pl.exceptions.ComputeError:  # a byte-order mark, or blank lines only
        return read_ndjson_bytes(read_all(lake, src), kwargs).lazy()


def read_json(config: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A JSON file (an array of records), read from its bytes: whole, in memory (Polars has no scan
    for a JSON array; ``format: ndjson`` streams)."""
    opts = dict(config.options)
    overrides = dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
    kwargs: dict[str, Any] = {"schema_overrides": overrides} if overrides else {}
    kwargs.update(inference(opts))
    return pl.read_json(io.BytesIO(read_all(lake, src)), **kwargs).lazy()


def read_excel(config: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """One sheet of an Excel workbook (``sheet:`` a name or a 1-based number), read with calamine:
    whole, in memory (a workbook has no scan)."""
    opts = dict(config.options)
    sheet = opts.get("sheet", opts.get("sheet_name"))
    kw: dict[str, Any] = inference(opts)
    if isinstance(sheet, str):
        kw["sheet_name"] = sheet
    elif sheet:
        kw["sheet_id"] = int(sheet)
    if "header" in opts or "has_header" in opts:
        kw["has_header"] = bool(opts.get("header", opts.get("has_header")))
    overrides = dtypes(opts.get("dtypes") or opts.get("schema_overrides"))
    if overrides:
        kw["schema_overrides"] = overrides
    return pl.read_excel(io.BytesIO(read_all(lake, src)), engine="calamine", **kw).lazy()


Reader = Callable[[Any, Any, str, str, tuple[str, ...]], pl.LazyFrame]
READERS: dict[str, Reader] = {"csv": read_csv, "parquet": read_parquet, "ndjson": read_ndjson, "json": read_json,
                              "excel": read_excel}


def read_file(t: Any, lake: Any, full: str, src: str, string_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """The landing file ``full`` (pinned at ``src``) of ingest transform ``t``, as a lazy frame.

    Raises
    ------
    ConfigError
        An unsupported ``format:``.
    """
    reader = READERS.get(t.config.format)
    if reader is None:
        raise ConfigError(f"unsupported format {t.config.format!r}", transform=t.name, file=t.file)
    return reader(t.config, lake, full, src, string_columns)


def read_checked(t: Any, f: Any, lake: Any, string_columns: tuple[str, ...]) -> pl.DataFrame:
    """One landing file read and checked: not empty, no column that ingestion adds (``BadFile`` else)."""
    if f.size == 0:
        raise BadFile("empty file")
    df = t.read_file(f, lake, string_columns=string_columns)
    if df.height == 0:
        raise BadFile("empty file (no data rows)")
    clash = [c for c in df.columns if c in META_COLUMNS]
    if clash:
        raise BadFile(f"column(s) {clash} are reserved for ingestion metadata")
    return df


def place(config: Any, full: str, row: int) -> str:
    """Where the 0-based data row ``row`` of a landing file is, as an editor shows it: the 1-based
    line for CSV (the header and ``skip_rows`` counted) and NDJSON, else the 1-based row (the
    sheet's row for Excel, the header counted).

    >>> from ratatouille.transforms._config import build_config
    >>> place(build_config({"source": "landing/s/", "format": "csv"}), "landing/s/a.csv", 0)
    'line 2'
    >>> place(build_config({"source": "landing/s/", "format": "ndjson"}), "landing/s/a.ndjson", 4)
    'line 5'
    """
    opts = dict(config.options)
    header = 1 if bool(opts.get("header", opts.get("has_header", True))) else 0
    if config.format == "csv":
        return f"line {row + 1 + header + int(opts.get('skip_rows') or 0)}"
    if config.format == "ndjson":
        return f"line {row + 1}"
    if config.format == "excel":
        return f"row {row + 1 + header}"
    return f"row {row + 1}"


def csv_error_line(config: Any, lines: Iterable[str]) -> str | None:
    """The line of the first record of a CSV file that Polars refused with no place named: a record
    whose number of fields differs from the header's, or an unterminated quote (read with the
    standard library's ``csv`` module, only for a file already rejected).

    >>> from ratatouille.transforms._config import build_config
    >>> config = build_config({"source": "landing/s/", "format": "csv"})
    >>> csv_error_line(config, ["a,b\\n", "1,2\\n", "3,4,5\\n"]), csv_error_line(config, ["a,b\\n", "1,2\\n", '"3,4\\n'])
    ('line 3', 'line 3')
    """
    opts = dict(config.options)
    offset = int(opts.get("skip_rows") or 0)
    text = itertools.islice(lines, offset, None)
    quote = str(opts.get("quote_char") or '"')
    reader = csv.reader(text, delimiter=str(opts.get("separator") or ","), quotechar=quote, strict=True)
    width: int | None = None
    start = 1
    try:
        for record in reader:
            if record and width is None:
                width = len(record)
            elif record and len(record) != width:
                return f"line {offset + start}"
            start = reader.line_num + 1
    except csv.Error:  # an unterminated quote, a stray one (strict)
        return f"line {offset + start}"
    return None


@contextlib.contextmanager
def landing_text(t: Any, lake: Any, f: Any) -> Iterator[io.TextIOWrapper]:
    """Landing file ``f`` of ingest transform ``t`` as text, streamed: gzip undone, decoded with the
    reader's encoding (bad bytes replaced), newlines kept as written (for the csv module)."""
    with lake.pinned(f.path) as src, (open(src, "rb") if src.startswith("/proc/self/fd/")  # noqa: SIM115
                                      else lake.open(src)) as raw:
        stream = gzip.open(raw) if f.path.lower().endswith(".gz") else raw
        encoding = str(t.config.options.get("encoding") or "utf-8").replace("-lossy", "").replace("lossy", "")
        yield io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")


def locate_csv_error(t: Any, lake: Any, f: Any, exc: Exception) -> Exception:
    """``exc`` (a CSV file Polars could not parse) with the line of the first bad record, when found:
    the rejected file is read once more, streamed, as text."""
    if t.config.format != "csv" or isinstance(exc, BadFile):
        return exc
    try:
        with landing_text(t, lake, f) as text:
            line = csv_error_line(t.config, text)
    except Exception:  # noqa: BLE001 - the original reason stands
        return exc
    return BadFile(f"{line}: {reason(exc)}", line=line) if line else exc
