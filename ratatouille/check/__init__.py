"""Check: data-quality checks run on the data about to be written.

Two kinds, each one Dagster asset check:

* ``schema``: a Pandera schema, either the ``pandera.polars.DataFrameModel``
  given with ``schema=`` or compiled from the YAML ``columns:``;
* one per SQL test of ``tests:``, passing when its query returns no rows.

An ``error`` failure blocks the write; a ``warn`` failure is only reported.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import polars as pl

from .._sql import execute_sql, referenced_tables
from .._types import parse_type
from ..errors import CheckError, ConfigError
from ..transforms import ColumnSpec, SqlTestSpec, Transform
from ..transforms._generic_tests import exceeds, needs_total
from ._context import RUN_VARS, ref_name  # noqa: F401  (re-exported: the runner sets RUN_VARS)
from ._context import _test_place, test_context, where_filter, yaml_file
from ._sample import clip_row
from ._streaming import failing_candidates
from ._store_plain import store_plain_failures

SCHEMA_CHECK = "schema"


@dataclass
class CheckResult:
    """The outcome of one check: JSON-friendly via :meth:`to_dict`."""

    name: str
    kind: str  # "schema" or "sql"
    passed: bool
    severity: str = "error"
    failing_rows: int = 0
    message: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    on_fail: str | None = None  # error | warn | drop | quarantine (None: by severity)
    rows_dropped: int = 0  # failing rows removed before the write (on_fail drop)
    rows_quarantined: int = 0  # failing rows written to <layer>.<name>__quarantine (on_fail quarantine)
    failures_table: str | None = None  # where its failing rows were stored (store_failures)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-friendly values, its failing-row samples clipped (``_sample.py``); the
        result itself keeps them whole (ingest finds the failing landing line by them)."""
        return {**asdict(self), "failures": [clip_row(f) for f in self.failures]}

    @property
    def blocking(self) -> bool:
        return not self.passed and self.severity == "error"


def check_names(t: Transform) -> list[str]:
    """Names of the checks a transform declares (one per schema, one per SQL test)."""
    names = [SCHEMA_CHECK] if t.has_schema_checks else []
    return names + [test.name for test in t.config.tests]


def compile_columns(columns: tuple[ColumnSpec, ...], *, transform: str | None = None,
                    file: str | None = None) -> Any:  # a pandera.polars.DataFrameSchema
    """Compile YAML ``columns:`` into a ``pandera.polars.DataFrameSchema``."""
    import pandera.polars as pa  # lazy: Pandera (+ pydantic, ~60 ms) only for a transform that declares a schema

    cols = {}
    for spec in columns:
        checks, nullable, unique = [], spec.nullable, False
        for test in spec.tests:
            arg: Any
            key, arg = (test, None) if isinstance(test, str) else next(iter(dict(test).items()))
            if key == "not_null":
                nullable = False
            elif key == "unique":
                checks.append(_unique_ignoring_nulls())
            elif key == "accepted_values":
                checks.append(pa.Check.isin(list(arg["values"] if isinstance(arg, dict) else arg)))
            elif key == "positive":
                checks.append(pa.Check.gt(0))
            elif key == "min":
                checks.append(pa.Check.ge(arg))
            elif key == "max":
                checks.append(pa.Check.le(arg))
            elif key == "regex":
                checks.append(pa.Check.str_matches(str(arg)))
            else:
                raise ConfigError(f"unknown column test {key!r} on {spec.name!r}; known: not_null, unique, "
                                  "accepted_values, positive, min, max, regex", transform=transform, file=file)
        try:
            declared = parse_type(spec.type) if spec.type else None
        except ConfigError as exc:
            raise ConfigError(f"column {spec.name!r}: {exc.message}", transform=transform, file=file) from None
        dtype = declared.dtype if declared is not None and not declared.open_decimal else None
        if declared is not None and declared.open_decimal:  # a bare decimal: any precision and scale
            checks.append(pa.Check(lambda data: isinstance(data.lazyframe.collect_schema()[data.key], pl.Decimal),
                                   name=f"dtype('{spec.type}')", error=f"expected a decimal type ({spec.type})"))
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:  # any zone: Delta stores the same instants in UTC
            checks.append(_zone_aware_check(dtype, str(spec.type)))
            dtype = None
        cols[spec.name] = pa.Column(dtype, checks=checks, nullable=nullable, unique=unique, required=True)
    return pa.DataFrameSchema(cols, strict=False)


def _unique_ignoring_nulls() -> Any:
    """``unique`` as dbt and SQL mean it: NULLs are not duplicates of each other (Pandera's
    ``unique=True`` failed on two NULLs). Named like Pandera's own check."""
    import pandera.polars as pa  # lazy: Pandera only for a transform that declares a schema

    def ok(data: Any) -> pl.LazyFrame:
        col = pl.col(data.key)
        return data.lazyframe.select((col.is_null() | col.is_unique()).alias(data.key))

    return pa.Check(ok, name="field_uniqueness")


def _zone_aware_check(declared: pl.Datetime, text: str) -> Any:
    """A declared zone-aware timestamp (``timestamp(us, Europe/Paris)``) is met by the same unit in
    any zone: ingest and the writers store the instants in UTC (the table's zone), so a strict dtype
    check failed on every run."""
    import pandera.polars as pa  # lazy: Pandera only for a transform that declares a schema

    def ok(data: Any) -> bool:
        actual = data.lazyframe.collect_schema()[data.key]
        return isinstance(actual, pl.Datetime) and bool(actual.time_zone) and actual.time_unit == declared.time_unit

    return pa.Check(ok, name=f"dtype('{text}')", error=f"expected a zone-aware timestamp ({text}; stored in UTC)")


def run_schema_check(schema: Any, df: pl.DataFrame) -> CheckResult:
    """Validate ``df`` against a Pandera schema or DataFrameModel, collecting every failure."""
    import pandera.errors as pe  # lazy: Pandera only for a transform that declares a schema

    try:
        schema.validate(df, lazy=True)
    except pe.SchemaErrors as exc:
        cases = exc.failure_cases
        summary = (cases.group_by("column", "check", maintain_order=True)
                   .agg(pl.len().alias("failing_rows"), pl.col("failure_case").head(5).alias("examples")))
        failures = [{"column": r["column"], "check": r["check"], "failing_rows": r["failing_rows"],
                     "examples": r["examples"]} for r in summary.iter_rows(named=True)]
        total = int(cases.select(pl.col("index").n_unique()).item()) if cases["index"].null_count() < len(cases) else len(cases)
        msg = "; ".join(f"{f['column'] or 'table'}: {f['check']} ({f['failing_rows']} rows)" for f in failures)
        return CheckResult(SCHEMA_CHECK, "schema", False, "error", total, msg, failures)
    except pe.SchemaError as exc:
        return CheckResult(SCHEMA_CHECK, "schema", False, "error", 0, str(exc).splitlines()[0])
    return CheckResult(SCHEMA_CHECK, "schema", True)


def run_sql_test(test: SqlTestSpec, t: Transform, data: pl.LazyFrame,
                 resolve: Callable[[str], pl.LazyFrame] | None = None, store: Any = None) -> CheckResult:
    """Run one SQL test over ``data`` (``{{ this }}``); it passes on zero rows. ``store`` (a
    :class:`~ratatouille.check._store_failures.FailureStore`) keeps its failing rows when it asks to."""
    prepared = prepare_sql_test(test, t, data, resolve)
    data, lf = prepared.data, prepared.failing
    stored = store.store(t, test, lf) if store is not None else None
    failing = lf.head(5).collect()
    count = len(failing) if len(failing) < 5 else int(lf.select(pl.len()).collect(engine="streaming").item())
    total = (int(data.select(pl.len()).collect(engine="streaming").item())
             if needs_total(test.warn_if, test.error_if) else None)
    severity = effective_severity(test)
    if severity == "error" and exceeds(test.error_if, count, total):
        passed = False
    elif exceeds(test.warn_if, count, total):
        passed, severity = False, "warn"
    else:
        passed = True
    msg = "" if count == 0 else f"{count} rows returned by {test.name}"
    if count and (test.warn_if or test.error_if):
        msg += f" (warn_if {test.warn_if or '!=0'}, error_if {test.error_if or '!=0'}" + \
               (f", {100.0 * count / total:.2f}% of {total} rows)" if total else ")")
    return CheckResult(test.name, "sql", passed, severity, count, msg, failing.head(5).to_dicts() if count else [],
                       on_fail=test.on_fail, failures_table=stored)


@dataclass
class PreparedTest:
    """A SQL test ready to run: its rendered SQL, the (``where:``-filtered) data it sees, its failing
    rows as a lazy plan, and where it is written (for errors)."""

    sql: str
    data: pl.LazyFrame
    failing: pl.LazyFrame
    file: str | None
    line_offset: int
    label: str


def prepare_sql_test(test: SqlTestSpec, t: Transform, data: pl.LazyFrame,
                     resolve: Callable[[str], pl.LazyFrame] | None = None) -> PreparedTest:
    """Render ``test`` and plan its failing rows over ``data`` (nothing collected).

    Parameters
    ----------
    test : SqlTestSpec
        The test.
    t : Transform
        The transform it checks (``{{ this }}``).
    data : pl.LazyFrame
        The data it checks.
    resolve : callable, optional
        Returns a LazyFrame for another table the test reads.

    Returns
    -------
    PreparedTest

    Raises
    ------
    CheckError
        The test is on a column ``data`` lacks.
    SQLError, ConfigError
        The test's SQL does not render, parse or run, or reads a table that is not available.
    """
    where, offset = _test_place(t, test)
    if test.source is not None:  # a custom generic test: errors name its tests/generic/ file
        where, offset = test.source, 0
    elif test.generated and test.line is not None:  # its SQL is generated: errors name its YAML line
        where, offset = yaml_file(t) or where, test.line - 1
    label = f"{t.name} test {test.name!r}"
    _require_columns(t, test, data)
    from .._jinja import render  # lazy: jinja2 (~15 ms) only for a transform with SQL tests

    sql = render(test.sql, test_context(test, t), transform=label, file=where, line_offset=offset)

    def frames_for(text: str, this: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
        frames: dict[str, pl.LazyFrame] = {t.name: this}
        for name in referenced_tables(text, transform=label, file=where, line_offset=offset):
            if name not in frames:
                if resolve is None:
                    raise ConfigError(f"test {test.name!r} reads {name}, which is not available here",
                                      transform=t.name, file=t.file)
                frames[name] = resolve(name)
        return frames

    if test.where:  # the filter may read another table too (where: "id IN (SELECT id FROM silver.x)")
        filtered = where_filter(t.name, test.where, file=where, line=test.line)
        data = execute_sql(filtered, frames_for(filtered, data), transform=label, file=where, line_offset=offset)
    lf = execute_sql(sql, frames_for(sql, data), transform=label, file=where, line_offset=offset)
    return PreparedTest(sql, data, lf, where, offset, label)


def effective_severity(test: SqlTestSpec) -> str:
    """``error`` or ``warn``: ``on_fail: warn`` warns; ``drop`` and ``quarantine`` never block the write
    (their failing rows are removed), so a test that still finds failing rows there reports a warning."""
    if test.on_fail == "error":
        return "error"
    if test.on_fail in ("warn", "drop", "quarantine"):
        return "warn"
    return test.severity


def removes_rows(test: SqlTestSpec) -> bool:
    """Whether ``test`` drops or quarantines its failing rows before the write."""
    return test.on_fail in ("drop", "quarantine")


def _require_columns(t: Transform, test: SqlTestSpec, data: pl.LazyFrame) -> None:
    """A generic test on a column the data lacks is one clear error naming the YAML and line."""
    if not test.columns:
        return
    have = data.collect_schema().names()
    missing = [c for c in test.columns if c not in have]
    if missing:
        raise CheckError(f"test {test.name!r} is on column(s) {', '.join(map(repr, missing))}, which the table does "
                         f"not have; columns: {', '.join(have)}", transform=t.name, file=yaml_file(t) or t.file,
                         line=test.line)


def _require_declared_columns(t: Transform, df: pl.DataFrame | pl.LazyFrame) -> None:
    """A ``columns:`` entry with tests on a column the data lacks: one clear error (was Pandera's
    internal "column_in_dataframe")."""
    have = df.collect_schema().names()
    for spec in t.config.columns:
        if spec.tests and spec.name not in have:
            raise CheckError(f"column {spec.name!r} has tests but the table has no such column; columns: "
                             f"{', '.join(have)}", transform=t.name, file=yaml_file(t) or t.file, line=spec.line)


def run_checks(t: Transform, df: pl.DataFrame | pl.LazyFrame, resolve: Callable[[str], pl.LazyFrame] | None = None,
               store: Any = None) -> list[CheckResult]:
    """Run every check of ``t`` on ``df`` (the data about to be written); ``store`` keeps failing rows
    (``store_failures``).

    ``df`` may be a LazyFrame (e.g. a scan of staged files): it is never collected whole; the column
    tests take one streaming pass (check/_streaming.py), each SQL test streams its count and collects
    a sample of its failing rows. Only a ``DataFrameModel`` given with ``schema=`` (arbitrary Pandera
    checks) validates the collected data.
    """
    results = schema_checks(t, df)
    lazy = df.lazy()
    for test in t.config.tests:
        # drop / quarantine tests ran before, on every row (check/_on_fail.py); a view is never written,
        # so there they only report their failing rows (as a warning)
        if not removes_rows(test) or t.mode == "view":
            results.append(run_sql_test(test, t, lazy, resolve, store))
    store_plain_failures(t, lambda spec: prepare_sql_test(spec, t, lazy, resolve).failing, store)
    return results


def schema_checks(t: Transform, df: pl.DataFrame | pl.LazyFrame) -> list[CheckResult]:
    """The ``schema`` check of ``t`` on ``df`` (none when ``t`` declares no schema nor ``columns:``).

    The YAML ``columns:`` are checked in one streaming pass: only the rows that may fail are
    collected for Pandera (check/_streaming.py)."""
    results: list[CheckResult] = []
    schema = getattr(t, "schema", None)
    if schema is not None:
        results.append(run_schema_check(schema, df.collect(engine="streaming") if isinstance(df, pl.LazyFrame) else df))
    if t.config.columns:
        _require_declared_columns(t, df)
        compiled = compile_columns(t.config.columns, transform=t.name, file=t.file)
        lazy = df.lazy()
        candidates = failing_candidates(t.config.columns, lazy)
        if candidates is None:  # a test Polars cannot express on this type: Pandera on the declared columns
            have = lazy.collect_schema().names()
            candidates = lazy.select([c.name for c in t.config.columns if c.name in have]).collect(engine="streaming")
        res = run_schema_check(compiled, candidates)
        if results:  # both a model and columns: one schema check, merged
            prev = results.pop()
            res = CheckResult(SCHEMA_CHECK, "schema", prev.passed and res.passed, "error",
                              prev.failing_rows + res.failing_rows, "; ".join(filter(None, [prev.message, res.message])),
                              prev.failures + res.failures)
        results.append(res)
    return results


def jsonable(results: list[CheckResult]) -> list[Mapping[str, Any]]:
    return [_plain(r.to_dict()) for r in results]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time, decimal.Decimal)):
        return str(value)
    return value
