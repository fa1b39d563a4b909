"""The line of a CSV landing file's data row as an editor shows it, for a rejected file's reason.

:func:`~ratatouille.ingest._readers.place` counts one line per row, which is right until a quoted
field holds a line break (``"multi\\nline"``): then every later row starts further down. For a file
already rejected, :func:`row_place` reads it once more, streamed, and counts the physical lines with
the standard library's ``csv`` module; any other format, or a file it cannot read, keeps ``place``.
"""

from __future__ import annotations

import csv
import itertools
from typing import Any, Iterable

from ._readers import landing_text, place


def record_line(config: Any, lines: Iterable[str], row: int) -> int | None:
    """The 1-based line where 0-based data row ``row`` starts (the header and ``skip_rows`` counted).

    Parameters
    ----------
    config : TransformConfig
        The ingest transform's settings (separator, quote character, header, ``skip_rows``).
    lines : iterable of str
        The file's lines (newlines kept).
    row : int
        The data row.

    Returns
    -------
    int or None
        The line, or None when the file has fewer rows or cannot be read as CSV.

    Examples
    --------
    >>> from ratatouille.transforms._config import build_config
    >>> config = build_config({"source": "landing/s/", "format": "csv"})
    >>> record_line(config, ["id,note\\n", '1,"two\\n', 'lines"\\n', "2,x\\n"], 1)
    4
    """
    opts = dict(config.options)
    skip = int(opts.get("skip_rows") or 0)
    header = 1 if bool(opts.get("header", opts.get("has_header", True))) else 0
    reader = csv.reader(itertools.islice(lines, skip, None), delimiter=str(opts.get("separator") or ","),
                        quotechar=str(opts.get("quote_char") or '"'))
    start, index = 1, -header
    try:
        for record in reader:
            if record:
                if index == row:
                    return skip + start
                index += 1
            start = reader.line_num + 1
    except csv.Error:
        return None
    return None


def row_place(t: Any, lake: Any, f: Any, row: int) -> str:
    """Where data row ``row`` of landing file ``f`` is (``"line 5"``): the physical CSV line, else
    :func:`~ratatouille.ingest._readers.place`."""
    fallback = place(t.config, f.path, row)
    if t.config.format != "csv":
        return fallback
    try:
        with landing_text(t, lake, f) as text:
            line = record_line(t.config, text, row)
    except Exception:  # noqa: BLE001 - the row count stands
        return fallback
    return fallback if line is None else f"line {line}"
