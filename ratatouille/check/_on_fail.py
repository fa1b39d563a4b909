"""Row-level expectations (``on_fail: drop | quarantine``), as Databricks' Delta Live Tables has them.

A row-level test judges each row on its own: its SQL has the shape
``SELECT * FROM {{ this }} WHERE <condition>`` (every generic column test except ``unique``, and
``expression_is_true``, compile to it; a SQL test written so is row-level too). Its failing rows are
exactly rows of the data, so they can be removed:

* ``drop``: the failing rows are filtered out of the plan before the write (an anti-join on a row
  index: lazy, nothing collected but the failing rows' indexes);
* ``quarantine``: the same, and the failing rows are written, with the names of the tests they
  failed (``_failed_tests``), the run id (``_run_id``) and the time (``_quarantined_at``), to
  ``<layer>.<name>__quarantine``, before the main commit. That commit carries a Delta app
  transaction whose id names the run, so a retry of the same run never writes them twice.

Aggregate tests (``unique``, ``unique_combination_of_columns``, any SQL test with a join, a group
or a limit) judge groups of rows; they can only error or warn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl
import sqlglot
from deltalake import CommitProperties, Transaction
from sqlglot import exp

from .._delta_scan import scan_delta
from .._errors_map import delta_writer
from ..errors import CheckError, ConfigError
from ..transforms import SqlTestSpec, Transform
from ..transforms._generic_tests import exceeds, needs_total
from . import CheckResult, jsonable, prepare_sql_test, removes_rows, yaml_file
from ._store_failures import failure_store

ROW = "__rat_row"
QUARANTINE_SUFFIX = "__quarantine"
FAILED_TESTS, RUN_ID, QUARANTINED_AT = "_failed_tests", "_run_id", "_quarantined_at"
APP_ID = "ratatouille.quarantine."  # + run id: one Delta app transaction per run


@dataclass
class OnFail:
    """What the row-level tests of one run of a transform did: the data to write (failing rows
    removed), the check results, and the rows to quarantine (written by :meth:`write_quarantine`)."""

    table: str
    run_id: str
    data: pl.LazyFrame
    results: list[CheckResult] = field(default_factory=list)
    quarantined: pl.DataFrame | None = None
    rows_dropped: int = 0
    rows_quarantined: int = 0

    def counts(self) -> dict[str, Any]:
        """``rows_dropped`` and ``rows_quarantined`` (totals) for the RunResult."""
        return {"rows_dropped": self.rows_dropped, "rows_quarantined": self.rows_quarantined}

    def write_quarantine(self, project: Any, attempt: str | None = None) -> int | None:
        """Append the quarantined rows to ``<table>__quarantine`` once per run id, and once per ``attempt``
        (see :func:`attempt_key`: a new run retrying the same work after a crash between this commit and
        the table's own); returns the version written (None when there is nothing to write or it was
        written already)."""
        if self.quarantined is None or self.quarantined.height == 0:
            return None
        target = project.target(quarantine_table(self.table))
        rows = _not_yet_quarantined(target, self.quarantined)
        if rows.height == 0:
            return None
        return write_once(target, rows, self.run_id,
                          {"ratatouille.transform": self.table, "ratatouille.run_id": self.run_id}, attempt=attempt)


def attempt_key(fingerprint: str | None, table: Any, *, full_refresh: bool, partition: str | None) -> str | None:
    """What identifies one attempt at a write whatever the run: the transform's fingerprint (its code and
    input versions) and the version of the table it writes on. A run that crashed after the quarantine
    commit left the table at that version, so the next run redoing the same work has the same key and
    does not quarantine the same rows again; once the table's commit lands, the key changes.

    Parameters
    ----------
    fingerprint : str or None
        The transform's fingerprint (``execute/_fingerprint.py``); None when it has none (its inputs are
        not all tables, or it is an ingest, deduplicated by landing file): then only the run id counts.
    table : DeltaTable or None
        The table written, as the run opened it (None: not created yet).
    full_refresh : bool
        Whether the run rebuilds the table.
    partition : str or None
        The partition the run writes.

    Returns
    -------
    str or None
        A short hash, or None.

    Examples
    --------
    >>> attempt_key("abc", None, full_refresh=False, partition=None) == attempt_key("abc", None,
    ...                                                                             full_refresh=False, partition=None)
    True
    >>> attempt_key(None, None, full_refresh=False, partition=None) is None
    True
    """
    if fingerprint is None:
        return None
    where = "new" if table is None else f"{table.metadata().id}@{table.version()}"
    text = "|".join((fingerprint, where, str(full_refresh), str(partition)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _not_yet_quarantined(target: Any, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` without those of a landing file version already quarantined (ingest rows carry
    ``_source_fingerprint``): a landing file whose every row was quarantined holds no row in the
    bronze table, so the next ingest reads it again; its rows are not quarantined twice."""
    from ..transforms.ingest import SOURCE_FINGERPRINT  # lazy: the ingest stage only with an ingest transform

    table = target.open() if SOURCE_FINGERPRINT in rows.columns else None
    if table is None or SOURCE_FINGERPRINT not in {f.name for f in table.schema().fields}:
        return rows
    versions = rows[SOURCE_FINGERPRINT].drop_nulls().unique().to_list()
    done = (scan_delta(table).select(SOURCE_FINGERPRINT).filter(pl.col(SOURCE_FINGERPRINT).is_in(versions))
            .unique().collect(engine="streaming"))
    return rows.join(done, on=SOURCE_FINGERPRINT, how="anti") if done.height else rows


def quarantine_table(name: str) -> str:
    """The quarantine table of ``name``.

    >>> quarantine_table("silver.sales")
    'silver.sales__quarantine'
    """
    return name + QUARANTINE_SUFFIX


def has_row_level(t: Transform) -> bool:
    """Whether ``t`` has a test that drops or quarantines rows."""
    return any(removes_rows(test) for test in t.config.tests)


def apply_on_fail(t: Transform, data: pl.DataFrame | pl.LazyFrame, *, run_id: str,
                  resolve: Callable[[str], pl.LazyFrame] | None = None, store: Any = None) -> OnFail:
    """Run ``t``'s drop / quarantine tests on every row of ``data`` and remove their failing rows.

    Parameters
    ----------
    t : Transform
        The transform whose tests run.
    data : pl.DataFrame or pl.LazyFrame
        The rows about to be written (a LazyFrame is never collected whole: only the failing rows'
        indexes and, for quarantine, the failing rows are).
    run_id : str
        The run's id, written with the quarantined rows.
    resolve : callable, optional
        Returns a LazyFrame for another table a test reads (``relationships``).
    store : FailureStore, optional
        Keeps a test's failing rows when it sets ``store_failures`` (check/_store_failures.py).

    Returns
    -------
    OnFail
        ``data`` without the failing rows (lazy), one :class:`CheckResult` per test, the rows to
        quarantine and the counts.

    Raises
    ------
    ConfigError
        A SQL test with ``on_fail: drop | quarantine`` that is not row-level, naming its file and line.

    Examples
    --------
    >>> from ratatouille.transforms import SQLTransform
    >>> yaml = {"columns": [{"name": "a", "tests": [{"not_null": {"config": {"on_fail": "drop"}}}]}]}
    >>> t = SQLTransform.from_text("silver.s", "SELECT 1 AS a", yaml=yaml)
    >>> out = apply_on_fail(t, pl.DataFrame({"a": [1, None, 3]}), run_id="r1")
    >>> out.data.collect()["a"].to_list(), out.rows_dropped
    ([1, 3], 1)
    """
    lazy = data.lazy()
    tests = [test for test in t.config.tests if removes_rows(test)]
    out = OnFail(t.name, run_id, lazy)
    if not tests:
        return out
    indexed = lazy.with_row_index(ROW)
    plans: list[pl.LazyFrame] = []
    totals: dict[str, int | None] = {}  # the rows a test judged (after its where:), for an error_if in %
    for test in tests:
        prepared = prepare_sql_test(test, t, indexed, resolve)
        _require_row_level(prepared.sql, test, t)
        totals[test.name] = (int(prepared.data.select(pl.len()).collect(engine="streaming").item())
                             if needs_total(test.error_if) else None)
        if store is not None:
            store.store(t, test, prepared.failing.drop(ROW))
        plans.append(prepared.failing.select(pl.col(ROW), pl.lit(test.name, pl.String).alias("test")))
    failing = pl.concat(plans).collect(engine="streaming")  # the failing rows' indexes only
    counts = {test.name: 0 for test in tests}
    counts.update(dict(failing.group_by("test").len().iter_rows()))
    quarantine_names = {test.name for test in tests if test.on_fail == "quarantine"}
    by_row = failing.group_by(ROW).agg(pl.col("test").unique(maintain_order=True).sort().alias(FAILED_TESTS))
    to_quarantine = by_row.filter(pl.col(FAILED_TESTS).list.eval(pl.element().is_in(list(quarantine_names))).list.any())
    if to_quarantine.height:
        rows = indexed.join(to_quarantine.lazy(), on=ROW, how="inner").sort(ROW).drop(ROW)
        out.quarantined = rows.with_columns(pl.lit(run_id, pl.String).alias(RUN_ID),
                                            pl.lit(dt.datetime.now(dt.timezone.utc)).alias(QUARANTINED_AT)).collect()
    out.rows_quarantined = to_quarantine.height
    out.rows_dropped = by_row.height - to_quarantine.height
    out.data = indexed.join(by_row.select(ROW).lazy(), on=ROW, how="anti").drop(ROW) if by_row.height else lazy
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in counts}
    if failing.height:
        sample_rows = failing.group_by("test").agg(pl.col(ROW).head(5))
        for name, ids in sample_rows.iter_rows():
            samples[name] = indexed.filter(pl.col(ROW).is_in(ids)).drop(ROW).collect().to_dicts()
    for test in tests:
        n = counts[test.name]
        verb = "quarantined" if test.on_fail == "quarantine" else "dropped"
        # error_if still holds: too many failing rows block the write instead of being removed
        too_many = test.error_if is not None and exceeds(test.error_if, n, totals[test.name])
        message = f"{n} rows {verb} by {test.name}" if n else ""
        if too_many:
            message = f"{n} rows failed {test.name} (error_if {test.error_if}): too many to {test.on_fail}"
        out.results.append(CheckResult(
            test.name, "sql", n == 0 and not too_many, "error" if too_many else "warn", n, message,
            samples[test.name], on_fail=test.on_fail, rows_dropped=n if verb == "dropped" and not too_many else 0,
            rows_quarantined=n if verb == "quarantined" and not too_many else 0))
    if any(r.blocking for r in out.results):
        out.quarantined, out.rows_dropped, out.rows_quarantined = None, 0, 0
    return out


def drop_failing_rows(runner: Any, t: Transform, data: pl.DataFrame) -> tuple[pl.DataFrame, OnFail | None]:
    """``data`` without the rows that ``t``'s ``on_fail: drop | quarantine`` tests reject, and what they did.

    Parameters
    ----------
    runner : ratatouille.execute.Runner
        The runner (its run id and its frames for tables a test reads).
    t : Transform
        The transform about to be written.
    data : pl.DataFrame
        Its rows.

    Returns
    -------
    tuple
        The rows to write and the :class:`~ratatouille.check._on_fail.OnFail` (None when ``t`` has
        no such test: ``data`` is returned as is).
    """
    if not has_row_level(t):
        return data, None
    out = apply_on_fail(t, data, run_id=runner.run_id, resolve=lambda n: runner.frame(n, reader=t.name),
                        store=failure_store(runner))
    failed = [c for c in out.results if c.blocking]  # an error_if exceeded: nothing written, nothing quarantined
    if failed:
        raise CheckError("check(s) failed, nothing written: " + "; ".join(f"{c.name}: {c.message}" for c in failed),
                         transform=t.name, file=t.file, checks=jsonable(out.results))
    return out.data.collect(), out


def _require_row_level(sql: str, test: SqlTestSpec, t: Transform) -> None:
    """A drop / quarantine test must be ``SELECT * FROM <this> WHERE ...``: its rows are rows of the data."""

    try:
        tree = sqlglot.parse_one(sql)
    except sqlglot.errors.ParseError:  # pragma: no cover - prepare_sql_test parsed it already
        tree = None
    ok = isinstance(tree, exp.Select) and {k for k, v in tree.args.items() if v} <= {"expressions", "from_", "where"}
    if ok:
        assert isinstance(tree, exp.Select)
        source = tree.args["from_"].this
        ok = (len(tree.expressions) == 1 and isinstance(tree.expressions[0], exp.Star)
              and isinstance(source, exp.Table) and f"{source.db}.{source.name}".lower() == t.name.lower())
    if not ok:
        raise ConfigError(f"test {test.name!r} has on_fail: {test.on_fail}, but it is not row-level: only a test "  # noqa: S608 - an error message, not SQL
                          "of the form SELECT * FROM {{ this }} WHERE <condition> judges each row and can drop or "
                          "quarantine it (an aggregate, a join or a limit cannot); use on_fail: error or warn",
                          transform=t.name, file=test.source or yaml_file(t) or t.file, line=test.line)


def write_once(target: Any, df: pl.DataFrame, run_id: str, metadata: dict[str, str], *,
               attempt: str | None = None) -> int | None:
    """Append ``df`` to ``target`` in a commit carrying the app transaction ``ratatouille.quarantine.<run_id>``;
    skipped (None) when the table already holds that transaction, so a retry never doubles the rows.

    Parameters
    ----------
    target : Target
        The table (created when missing).
    df : pl.DataFrame
        The rows.
    run_id : str
        The run that writes them.
    metadata : dict
        Commit metadata.
    attempt : str, optional
        An :func:`attempt_key`: also skipped when the table holds ``ratatouille.quarantine.attempt.<key>``.

    Returns
    -------
    int or None
        The version written, or None when skipped.
    """
    app_ids = [APP_ID + run_id] + ([] if attempt is None else [APP_ID + "attempt." + attempt])
    table = target.open()
    if table is not None and any(table.transaction_version(app_id) is not None for app_id in app_ids):
        return None
    now = int(time.time() * 1000)
    commit = CommitProperties(custom_metadata=dict(metadata), app_transactions=[
        Transaction(app_id=app_id, version=0, last_updated=now) for app_id in app_ids])
    opts = dict(target.storage_options) if target.storage_options else None
    delta_writer(lambda: df.write_delta(target.uri, mode="append", storage_options=opts,
                                        delta_write_options={"commit_properties": commit, "schema_mode": "merge"}),
                 target.uri)
    written = target.open()
    return written.version() if written is not None else None
