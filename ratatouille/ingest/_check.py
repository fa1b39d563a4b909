"""The per-file check step of an ingest run: one landing file's rows, checked before they join the run.

:func:`check_file` is the one place a landing file's rows are checked. The
runner hands the stage its checker (``extra["check"]``: the transform's checks
on a frame, the same ones it runs before any write); a file whose rows fail an
``error``-severity check is rejected (:class:`FailedChecks`, a ``BadFile``)
with the check, the landing file and the line of its first failing row, and
the other files of the run still land. Checks over several files (``unique``
across the run) still run on the whole run before the write.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import polars as pl

from ._bad import BadFile

Checker = Callable[[pl.DataFrame], Sequence[Any]]


class FailedChecks(BadFile):
    """A landing file whose rows fail an ``error``-severity check (the message names them)."""

    def __init__(self, message: str, *, line: str | None = None, checks: Sequence[Any] = ()) -> None:
        super().__init__(message, line=line)
        self.checks = [c.to_dict() if hasattr(c, "to_dict") else c for c in checks]


def check_file(t: Any, f: Any, df: pl.DataFrame, check: Checker | None, where: Callable[[int], str]) -> None:
    """Check the rows of one landing file ``f`` of ingest transform ``t``.

    Parameters
    ----------
    t : IngestTransform
        The transform (its checks are what ``check`` runs).
    f : LandingFile
        The landing file the rows come from.
    df : pl.DataFrame
        The file's rows, conformed to the table's types, in file order.
    check : callable or None
        The runner's checker: the transform's check results on a frame (``None``: no checks here).
    where : callable
        A 0-based row of ``df`` -> its place in the file (``"line 3"``).

    Raises
    ------
    FailedChecks
        An ``error``-severity check failed on the file's rows.
    """
    if check is None:
        return
    results = check(df)
    failed = [c for c in results if c.blocking]
    if not failed:
        return
    rows = [r for r in (first_failing_row(df, c) for c in failed) if r is not None]
    place = where(min(rows)) if rows else None
    detail = "; ".join(f"{c.name}: {c.message}" if c.message else str(c.name) for c in failed)
    raise FailedChecks(f"{place + ': ' if place else ''}check(s) failed: {detail}", line=place, checks=results)


def first_failing_row(df: pl.DataFrame, result: Any) -> int | None:
    """The first row of ``df`` a failed check reports (0-based), from its failure samples: a failing
    row (SQL tests), or a column and a failing value (schema checks); ``None`` when not found.

    >>> from ratatouille.check import CheckResult
    >>> df = pl.DataFrame({"id": [1, None, 3]})
    >>> first_failing_row(df, CheckResult("schema", "schema", False, failures=[
    ...     {"column": "id", "check": "not_nullable", "failing_rows": 1, "examples": [None]}]))
    1
    >>> first_failing_row(df, CheckResult("t", "sql", False, failures=[{"id": 3}]))
    2
    """
    for failure in result.failures or []:
        if not isinstance(failure, dict):
            continue
        if "column" in failure and "examples" in failure:
            if failure["column"] not in df.columns or not failure["examples"]:
                continue
            match = _equals(failure["column"], failure["examples"][0], as_text=True)  # Pandera's examples are text
        else:
            conds = [_equals(c, v) for c, v in failure.items() if c in df.columns]
            if not conds:
                continue
            match = pl.all_horizontal(conds)
        try:
            hits = df.with_row_index("__rat_row").filter(match).get_column("__rat_row").head(1)
        except pl.exceptions.PolarsError:  # a value of another type than the column's
            continue
        if len(hits):
            return int(hits[0])
    return None


def _equals(column: str, value: Any, *, as_text: bool = False) -> pl.Expr:
    if value is None:
        return pl.col(column).is_null()
    if as_text:  # the value as Pandera reports it (-1 as "-1"): compared with the column's text
        return pl.col(column).cast(pl.String).eq(pl.lit(str(value)))
    return pl.col(column).eq(pl.lit(value))
