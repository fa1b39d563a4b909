"""The tables a transform's tests read (``relationships``, SQL tests joining another table, a
``where:`` filter with a subquery).

They join the lineage: the plan builds them before the transform whose tests read them, so a
test checks against this run's version of the other table, and a fresh lake builds in order.
"""

from __future__ import annotations

import logging

from .._sql import referenced_tables
from ..transforms import Transform
from . import test_context, where_filter

log = logging.getLogger(__name__)


def test_inputs(t: Transform) -> tuple[str, ...]:
    """``layer.name`` tables the tests of ``t`` read, besides ``t`` itself (in order, no repeats).

    A test whose SQL does not render or parse adds nothing here: it fails with its own error,
    naming its file and line, when the checks run.

    >>> from ratatouille.transforms import SQLTransform
    >>> rel = {"relationships": {"to": "silver.d", "field": "id"}}
    >>> test_inputs(SQLTransform.from_text("silver.s", "SELECT 1 AS c", yaml={"columns": [{"name": "c", "tests": [rel]}]}))
    ('silver.d',)
    """
    cached = getattr(t, "_rat_test_inputs", None)
    if cached is not None:
        return cached

    out: list[str] = []
    for test in getattr(t.config, "tests", ()):
        from .._jinja import render  # lazy: jinja2 (~15 ms) only for a transform with SQL tests
        try:
            sql = render(test.sql, test_context(test, t, discovering=True), transform=t.name)
            names = referenced_tables(sql, transform=t.name)
            if test.where:  # a where: filter may read another table as well
                names = [*names, *referenced_tables(where_filter(t.name, test.where), transform=t.name)]
        except Exception as exc:  # reported by the check itself, with its place
            log.debug("%s: test %s adds no lineage: %s", t.name, test.name, exc)
            names = []
        out.extend(n for n in names if n != t.name and n not in out)
    result = tuple(out)
    try:
        setattr(t, "_rat_test_inputs", result)  # noqa: B010 - a cache on the transform, not one of its fields
    except AttributeError:  # pragma: no cover - a frozen transform: recomputed each time
        pass
    return result
