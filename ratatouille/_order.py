"""Keep a transform's final ``ORDER BY`` in the table it writes.

A plan that ends in a sort (SQL ``ORDER BY``, ``LIMIT`` after ``ORDER BY``, a Python
transform ending in ``.sort()``) promises an order. Delta-rs' writer fed by the streaming
engine (``sink_delta``) does not keep the order of the rows it receives, so such a plan is
collected first (the sort needs all its rows anyway) and written as one ordered frame.
Any other plan keeps streaming.

>>> import polars as pl
>>> ends_in_sort(pl.LazyFrame({"a": [2, 1]}).sort("a").select("a"))
True
>>> ends_in_sort(pl.LazyFrame({"a": [2, 1]}).sort("a").group_by("a").len())
False
"""

from __future__ import annotations

import re

import polars as pl

# plan nodes that keep the order of the rows below them (the spine from the root down to a sort)
_KEEPS_ORDER = ("simple π", "π", "SELECT", "WITH_COLUMNS", "SLICE", "FILTER", "RENAME", "FAST_PROJECT",
                "HSTACK", "PROJECT", "MAP",
                # SQL's DISTINCT (and DISTINCT ON) above ORDER BY, unique(maintain_order=True), a row
                # index, explode and unnest keep the order of the rows below them
                "UNIQUE[maintain_order: true", "ROW INDEX", "EXPLODE", "UNNEST")
_NODE = re.compile(r"^[A-Za-zπ_]")


def ends_in_sort(lf: pl.LazyFrame) -> bool:
    """Whether the last ordering operation of ``lf`` is a sort whose order reaches the output."""
    try:
        plan = lf.explain(optimized=True)
    except Exception:  # noqa: BLE001 - a plan that cannot be explained fails later, where it is located
        return False
    for line in plan.splitlines():
        text = line.strip()
        if not text or not _NODE.match(text):
            continue  # an expression line of the node above (e.g. WITH_COLUMNS' columns)
        if text.startswith("SORT"):
            return True
        if text.startswith(_KEEPS_ORDER):
            continue
        return False
    return False
