"""The ``schema`` check of YAML ``columns:`` in one streaming pass, never collecting the data whole.

Pandera validates an in-memory frame. Instead of collecting the data for it, one
``collect(engine="streaming")`` over the data computes the rows that may fail any column test
(``not_null``, ``unique``, ``accepted_values``, ``positive``, ``min``, ``max``, ``regex``: the same
conditions Pandera applies, NULLs ignored as Pandera ignores them); only those rows are collected
and handed to the compiled Pandera schema, which reports exactly what it reports on the whole data
(every failing row is among them; duplicates of a ``unique`` column come with all their copies), and
its dtype checks, which only look at the schema. When nothing can fail, nothing but the
aggregates is collected.
"""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from ..transforms import ColumnSpec


def failing_candidates(columns: Sequence[ColumnSpec], lf: pl.LazyFrame) -> pl.DataFrame | None:
    """The rows of ``lf`` that may fail a column test of ``columns``, found in one streaming pass.

    Parameters
    ----------
    columns : sequence of ColumnSpec
        The YAML ``columns:`` (their plain tests and ``nullable``).
    lf : pl.LazyFrame
        The data (never collected whole).

    Returns
    -------
    pl.DataFrame or None
        The candidate rows (empty when nothing can fail); None when a test cannot be expressed over
        these columns' types (the caller validates the data as before).

    Examples
    --------
    >>> cols = (ColumnSpec("a", tests=("not_null", {"min": 0})),)
    >>> failing_candidates(cols, pl.LazyFrame({"a": [1, None, -2, 3]}))["a"].to_list()
    [None, -2]
    """
    have = lf.collect_schema()
    conditions: list[pl.Expr] = []
    for spec in columns:
        if spec.name not in have:
            continue  # Pandera reports the missing column from the schema alone
        col = pl.col(spec.name)
        if not spec.nullable:
            conditions.append(col.is_null())
        for test in spec.tests:
            cond = _condition(test, col, have[spec.name])
            if cond is None:
                return None
            conditions.append(cond.fill_null(False))
    if not conditions:
        return lf.head(0).collect()
    flagged = lf.with_columns(pl.any_horizontal(conditions).alias("__rat_may_fail"))
    try:
        counted = flagged.select(pl.col("__rat_may_fail").sum()).collect(engine="streaming").item()
        if not counted:
            return lf.head(0).collect()
        return flagged.filter(pl.col("__rat_may_fail")).drop("__rat_may_fail").collect(engine="streaming")
    except pl.exceptions.PolarsError:  # a test that does not apply to the column's type: Pandera says so
        return None


def _condition(test: Any, col: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    """The condition under which a row fails one plain column test (None: not expressible here)."""
    arg: Any
    key, arg = (test, None) if isinstance(test, str) else next(iter(dict(test).items()))
    arg = arg if arg is not None else ()
    numeric = dtype.is_numeric() or dtype.is_temporal()
    if key == "not_null":
        return col.is_null()
    if key == "unique":
        return col.is_not_null() & col.is_duplicated()
    if key == "accepted_values":
        values = list(arg["values"] if isinstance(arg, dict) else arg)
        try:  # values of another type than the column: Polars refuses when collecting (then None above)
            return col.is_not_null() & ~col.is_in(values)
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            return None
    if key in ("positive", "min", "max"):
        if not numeric:
            return None
        if key == "positive":
            return col <= 0
        return col < arg if key == "min" else col > arg
    if key == "regex":
        if dtype != pl.String:
            return None
        pattern = str(arg) if str(arg).startswith("^") else f"^{arg}"  # as Pandera's str_matches
        return ~col.str.contains(pattern)
    return None
