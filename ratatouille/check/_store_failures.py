"""Store failures (dbt's ``store_failures``): the failing rows of the last run of a test, kept in a
Delta table for inspection.

A test with ``store_failures: true`` (in its ``config:`` as dbt writes it, or beside ``sql:``), or
every test when the project sets ``store_failures = true`` in ``[tool.ratatouille]``
(``RAT_STORE_FAILURES=1``, ``rat test --store-failures``), writes the rows its query returns to
``audit.<layer>_<name>__<test>`` (dbt: ``<schema>_dbt_test__audit.<test>``). The table is replaced
each time the test runs (in ``run`` before the write, in ``rat test`` on the stored table; never
in a dry run): it holds the last run's failures, zero rows when the test passed. A test with
``store_failures: false`` never stores, even when the project does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import polars as pl
from deltalake import CommitProperties

from .._errors_map import delta_writer
from .._names import check_slug
from ..transforms import SqlTestSpec, Transform

log = logging.getLogger("ratatouille")

AUDIT_LAYER = "audit"


def audit_table(table: str, test: str) -> str:
    """The table that keeps the failing rows of ``test`` on ``table``.

    >>> audit_table("silver.sales", "accepted_values_product")
    'audit.silver_sales__accepted_values_product'
    """
    return f"{AUDIT_LAYER}.{table.replace('.', '_')}__{check_slug(test).lower()}"


@dataclass
class FailureStore:
    """Where a run (or ``rat test``) stores failing rows: its project and the project-wide default.

    Parameters
    ----------
    project : Project
        The project (its targets).
    default : bool
        Whether a test that does not set ``store_failures`` stores (the project setting).
    run_id : str
        Written as commit metadata.
    """

    project: Any
    default: bool = False
    run_id: str = ""

    def wants(self, test: SqlTestSpec) -> bool:
        """Whether ``test``'s failing rows are stored."""
        return bool(self.default if test.store_failures is None else test.store_failures)

    def store(self, t: Transform, test: SqlTestSpec, failing: pl.LazyFrame) -> str | None:
        """Replace ``audit.<table>__<test>`` with ``failing`` (streamed) when ``test`` stores failures.

        Parameters
        ----------
        t : Transform
            The tested transform.
        test : SqlTestSpec
            The test.
        failing : pl.LazyFrame
            The rows its query returns.

        Returns
        -------
        str or None
            The audit table written, or None when the test does not store its failures.
        """
        if not self.wants(test):
            return None
        name = audit_table(t.name, test.name)
        target = self.project.target(name)
        commit = CommitProperties(custom_metadata={"ratatouille.transform": t.name, "ratatouille.test": test.name,
                                                   "ratatouille.run_id": self.run_id})
        opts = dict(target.storage_options) if target.storage_options else None
        delta_writer(lambda: failing.sink_delta(target.uri, mode="overwrite", storage_options=opts,
                                                delta_write_options={"commit_properties": commit,
                                                                     "schema_mode": "overwrite"}), target.uri)
        log.info("%s: failing rows of %s stored in %s", t.name, test.name, name)
        return name


def failure_store(runner: Any) -> FailureStore | None:
    """The :class:`FailureStore` of a run (None in a dry run: it writes nothing).

    Parameters
    ----------
    runner : ratatouille.execute.Runner
        The run.

    Returns
    -------
    FailureStore or None
    """
    if runner.dry_run:
        return None
    return FailureStore(runner.project, bool(getattr(runner.project.settings, "store_failures", False)),
                        runner.run_id)
