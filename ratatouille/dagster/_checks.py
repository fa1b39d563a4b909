"""Asset checks: one per Pandera schema and one per SQL test of a transform.

The checks run inside ``run()`` on the data about to be written (never on the
table afterwards), so an auto asset reports them with its materialization: a
failed ``error`` check fails the step and the table keeps its version; a
failed ``warn`` check is reported with severity WARN. Check metadata carries
the failing row counts.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import dagster as dg

from .._names import check_slug
from ..check import SCHEMA_CHECK, check_names, effective_severity
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
        if c is None:  # the run wrote nothing new, so there was nothing to check
            reason = skipped_reason or "not run"
            results.append(dg.AssetCheckResult(
                asset_key=key, check_name=dname, passed=True, description=f"Not evaluated: {reason}.",
                metadata={"evaluated": False, "reason": reason}))
            continue
        failing = int(c.get("failing_rows") or 0)
        severity = dg.AssetCheckSeverity.WARN if c.get("severity") == "warn" else dg.AssetCheckSeverity.ERROR
        metadata: dict[str, Any] = {"failing_rows": dg.MetadataValue.int(failing),
                                    "severity": dg.MetadataValue.text(str(c.get("severity", "error")))}
        failures = list(c.get("failures") or [])
        if failures:
            metadata["failures"] = dg.MetadataValue.json(failures[:20])
            by_column = {str(f.get("column")): int(f["failing_rows"]) for f in failures
                         if isinstance(f, Mapping) and "failing_rows" in f and "column" in f}
            if by_column:
                metadata["failing_rows_by_column"] = dg.MetadataValue.json(by_column)
        if c.get("message"):
            metadata["message"] = dg.MetadataValue.text(str(c["message"]))
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
