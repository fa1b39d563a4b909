"""``store_failures`` for the column tests the Pandera ``schema`` check runs.

A column test written without settings (``tests: [not_null, unique]``, ``accepted_values: [a, b]``)
runs inside the one streaming ``schema`` check, not as a SQL test, so the failure store never saw
it: with the project's ``store_failures = true`` (or ``rat test --store-failures``) the sample's
``audit.silver_sales__accepted_values_product`` was never written. Here each such test is planned
as the generic SQL test it stands for and its failing rows are stored under the same name a
configured test would get.
"""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from ..transforms import SqlTestSpec, Transform
from ..transforms._checks_config import _generic_sql_test
from ..transforms._generic_tests import parse, to_sql


def store_plain_failures(t: Transform, failing_rows: Callable[[SqlTestSpec], pl.LazyFrame], store: Any) -> list[str]:
    """Store the failing rows of ``t``'s plain column tests when the store keeps every test's.

    Parameters
    ----------
    t : Transform
        The checked transform.
    failing_rows : callable
        Plans a SQL test's failing rows over the checked data (``prepare_sql_test(...).failing``).
    store : FailureStore or None
        The run's failure store; None (a dry run) or one whose project default is off stores nothing.

    Returns
    -------
    list of str
        The audit tables written.

    Examples
    --------
    >>> store_plain_failures(None, lambda spec: pl.LazyFrame(), None)  # type: ignore[arg-type]
    []
    """
    if store is None or not store.default or not t.config.columns:
        return []
    written: list[str] = []
    for column in t.config.columns:
        for form in column.tests:
            test = parse(form, column.name, file=t.file)
            spec = _generic_sql_test(test, to_sql(test))
            stored = store.store(t, spec, failing_rows(spec))
            if stored:
                written.append(stored)
    return written
