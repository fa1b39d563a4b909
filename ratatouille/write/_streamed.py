"""What the runner tells a materialization so that a real run never collects its output first.

The writer stages the output files (``write/_stage.py``), the transform's
checks run on them (``validate``), and only then the commit lands; a plan
ending in a sort keeps its order (``ordered``, ``_order.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from .._order import ends_in_sort
from ._base import Materialization


def streamed_checks(writer: Materialization, plan: pl.LazyFrame, transform: Any,
                    check: Callable[[pl.LazyFrame], None]) -> None:
    """Set up ``writer`` to run ``check`` on the staged rows of ``transform`` before its commit.

    Parameters
    ----------
    writer
        The materialization about to write ``plan``.
    plan
        The transform's lazy output.
    transform
        The transform (its checks: a ``schema``, ``columns:`` or tests).
    check
        Runs the checks on a scan of the staged rows; raises to block the commit.

    Examples
    --------
    >>> from ratatouille.write import Table
    >>> w = Table()
    >>> streamed_checks(w, pl.LazyFrame({"a": [2, 1]}).sort("a"), None, lambda lf: None)
    >>> w.ordered, w.validate is None
    (True, True)
    """
    writer.ordered = ends_in_sort(plan)  # a final ORDER BY is kept in the table
    if transform is not None and (transform.has_schema_checks or bool(transform.config.tests)):
        writer.validate = check
