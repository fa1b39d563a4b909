"""Asset checks: one per Pandera schema and one per SQL test of a transform.

The checks run inside ``run()`` on the data about to be written (never on the
table afterwards), so an auto asset reports them with its materialization: a
failed ``error`` check fails the step and the table keeps its version; a
failed ``warn`` check is reported with severity WARN. Check metadata carries
the failing row counts and a markdown sample of failing rows.

A check the run did not evaluate (nothing new was written) yields no result, so
Dagster shows it as not executed (skipped), never as passed. A check executed on
its own (its asset not selected: "Execute" on the check in the UI, a job or
``dagster asset check`` selecting only checks) runs ``rat test``'s logic on the
stored table (:func:`stored_check_results`).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import dagster as dg
import polars as pl

from .._names import check_slug
from ..check import SCHEMA_CHECK, check_names, effective_severity
from ..check._sample import clip_row
from ..check._stored import test_stored
from ..transforms import Transform


def check_specs(t: Transform, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The asset check specs of a transform (``schema`` and one per SQL test)."""
    specs: list[dg.AssetCheckSpec] = []
    tests = {test.name: test for test in t.config.tests}
    for name in check_names(t):
        if name == SCHEMA_CHECK and name not in tests:
            specs.append(dg.AssetCheckSpec(
                SCHEMA_CHECK, asset=key, blocking=True, description=_schema_description(t),
                metadata={"ratatouille/kind": "schema", "ratatouille/severity": "error"}))
            continue
        test = tests[name]
        severity = effective_severity(test)
        on_fail = f", on_fail {test.on_fail}" if test.on_fail else ""
        specs.append(dg.AssetCheckSpec(
            check_slug(name), asset=key, blocking=severity == "error",
            description=f"SQL test {name!r} ({severity}{on_fail}): passes when this query returns no rows.\n\n"
                        f"```sql\n{test.sql.strip()}\n```",
            metadata={"ratatouille/kind": "sql", "ratatouille/severity": severity,
                      "ratatouille/on_fail": test.on_fail or severity, "ratatouille/sql": test.sql.strip()}))
    return specs


def _schema_description(t: Transform) -> str:
    lines = ["Pandera schema checked on the data before each write (error: blocks the write)."]
    for col in t.config.columns:
        tests = ", ".join(str(x) if isinstance(x, str) else ", ".join(f"{k}: {v}" for k, v in dict(x).items())
                          for x in col.tests)
        lines.append(f"- `{col.name}`" + (f" {col.type}" if col.type else "") + (f": {tests}" if tests else ""))
    if getattr(t, "_has_schema", False):
        lines.append("- plus the DataFrameModel given with `schema=`")
    return "\n".join(lines)


def check_results(t: Transform, key: dg.AssetKey, checks: Iterable[Mapping[str, Any]], *,
                  skipped_reason: str | None = None) -> list[dg.AssetCheckResult]:
    """Dagster check results from ``run()``'s check dicts (every declared check gets one)."""
    by_name = {c.get("name"): c for c in checks}
    results = []
    for name in check_names(t):
        c = by_name.get(name)
        dname = check_slug(name)
        if c is None:  # not evaluated (nothing new written): no result, so Dagster shows it as not executed
            continue
        failing = int(c.get("failing_rows") or 0)
        severity = dg.AssetCheckSeverity.WARN if c.get("severity") == "warn" else dg.AssetCheckSeverity.ERROR
        metadata: dict[str, Any] = {"failing_rows": dg.MetadataValue.int(failing),
                                    "severity": dg.MetadataValue.text(str(c.get("severity", "error")))}
        failures = list(c.get("failures") or [])
        if failures:
            metadata["failures"] = dg.MetadataValue.json([clip_row(f) for f in failures[:20]])  # bounded size
            by_column = {str(f.get("column")): int(f["failing_rows"]) for f in failures
                         if isinstance(f, Mapping) and "failing_rows" in f and "column" in f}
            if by_column:
                metadata["failing_rows_by_column"] = dg.MetadataValue.json(by_column)
        if c.get("message"):
            metadata["message"] = dg.MetadataValue.text(str(c["message"]))
        if failures and not c.get("passed"):
            metadata["failing_rows_sample"] = dg.MetadataValue.md(markdown_rows(failures[:10]))
        if c.get("failures_table"):
            metadata["failures_table"] = dg.MetadataValue.text(str(c["failures_table"]))
        if c.get("on_fail"):
            metadata["on_fail"] = dg.MetadataValue.text(str(c["on_fail"]))
            for k in ("rows_dropped", "rows_quarantined"):
                if c.get(k):
                    metadata[k] = dg.MetadataValue.int(int(c[k]))
        passed = bool(c.get("passed"))
        results.append(dg.AssetCheckResult(
            asset_key=key, check_name=dname, passed=passed, severity=severity, metadata=metadata,
            description=None if passed else str(c.get("message") or f"{failing} failing rows")))
    return results


def on_fail_metadata(result: Mapping[str, Any]) -> dict[str, Any]:
    """Materialization metadata of ``on_fail`` drop / quarantine: the totals and the counts per test.

    Parameters
    ----------
    result : Mapping
        One table's :class:`~ratatouille.execute.RunResult`.

    Returns
    -------
    dict
        ``rows_dropped``, ``rows_quarantined`` and ``rows_removed_by_test`` (empty when the table
        has no such test).
    """
    if "rows_dropped" not in result:
        return {}
    by_test = {str(c.get("name")): int(c.get("rows_dropped") or 0) + int(c.get("rows_quarantined") or 0)
               for c in result.get("checks") or [] if c.get("on_fail") in ("drop", "quarantine")}
    return {"rows_dropped": dg.MetadataValue.int(int(result.get("rows_dropped") or 0)),
            "rows_quarantined": dg.MetadataValue.int(int(result.get("rows_quarantined") or 0)),
            "rows_removed_by_test": dg.MetadataValue.json(by_test)}


def markdown_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """A markdown table of failing rows (Polars' own markdown table format; pipes escaped).

    Parameters
    ----------
    rows : iterable of mappings
        Failing rows (a SQL test's rows, or the schema check's ``column``/``check``/``examples``).

    Returns
    -------
    str
        The markdown text.

    Examples
    --------
    >>> print(markdown_rows([{"id": 1, "code": "z|x"}]))
    | id | code |
    |----|------|
    | 1  | z\\|x |
    """
    frame = pl.DataFrame([{str(k): None if v is None else str(v).replace("|", "\\|").replace("\n", " ")
                           for k, v in dict(r).items()} for r in rows])
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True,
                   tbl_rows=50, tbl_cols=30, fmt_str_lengths=80):
        return str(frame)


def stored_check_results(by_key: Mapping[dg.AssetKey, Transform], wanted: Iterable[dg.AssetCheckKey],
                         materialized: Iterable[dg.AssetKey], *, workspace: str,
                         root: str) -> Iterator[dg.AssetCheckResult]:
    """Results of the checks executed on their own: those of ``wanted`` whose asset is not being
    materialized, run like ``rat test`` on the stored table (nothing is built or written).

    Parameters
    ----------
    by_key : mapping
        The transforms of the multi-asset, by asset key.
    wanted : iterable of AssetCheckKey
        The selected checks.
    materialized : iterable of AssetKey
        The selected assets (their checks run with their materialization instead).
    workspace, root : str
        The workspace and the project folder.

    Yields
    ------
    AssetCheckResult
        One per selected check; a table that cannot be tested (not built yet) fails its checks
        with the reason.
    """
    done = set(materialized)
    alone: dict[dg.AssetKey, set[str]] = {}
    for ck in wanted:
        if ck.asset_key not in done and ck.asset_key in by_key:
            alone.setdefault(ck.asset_key, set()).add(ck.name)
    for key, names in sorted(alone.items(), key=lambda kv: kv[0].to_user_string()):
        t = by_key[key]
        report = test_stored([t.name], workspace=workspace, project_dir=root)
        entry = report["tables"][0]
        if entry["error"] is not None:
            for name in sorted(names):
                yield dg.AssetCheckResult(asset_key=key, check_name=name, passed=False,
                                          severity=dg.AssetCheckSeverity.ERROR,
                                          description=f"could not run on the stored table: {entry['error']}",
                                          metadata={"error": dg.MetadataValue.text(str(entry["error"])),
                                                    "on": dg.MetadataValue.text("stored table")})
            continue
        for r in check_results(t, key, entry["checks"]):
            if r.check_name in names:
                md = dict(r.metadata or {})
                md["on"] = dg.MetadataValue.text("stored table")
                md["rows"] = dg.MetadataValue.int(int(entry["rows"] or 0))
                yield dg.AssetCheckResult(asset_key=r.asset_key, check_name=r.check_name, passed=r.passed,
                                          severity=r.severity, metadata=md, description=r.description)

