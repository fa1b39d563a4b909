"""``rat test``'s printed report: one row per table, then each failed check with a sample of its failing rows."""

from __future__ import annotations

from typing import Any, Mapping

from rich.markup import escape
from rich.table import Table

_STYLE = {"passed": "green", "warned": "yellow", "failed": "red"}


def print_report(report: Mapping[str, Any], console: Any, err_console: Any) -> None:
    """Print ``rat test``'s report (see :func:`ratatouille.check._stored.test_stored`)."""
    table = Table(title="Test (stored tables)", header_style="bold")
    for col in ("table", "status", "rows", "checks"):
        table.add_column(col)
    for t in report["tables"]:
        checks = t["checks"]
        passed = sum(1 for c in checks if c["passed"])
        table.add_row(t["table"], f"[{_STYLE[t['status']]}]{t['status']}[/]",
                      "-" if t["rows"] is None else str(t["rows"]), f"{passed}/{len(checks)}" if checks else "-")
    console.print(table)
    for t in report["tables"]:
        if t["error"]:
            err_console.print(f"[red]error[/] {escape(t['table'])}: {escape(t['error'])}", highlight=False)
        for c in t["checks"]:
            if c["passed"]:
                continue
            color = "red" if c["severity"] == "error" else "yellow"
            err_console.print(f"[{color}]{c['severity']}[/] {escape(t['table'])} check {escape(c['name'])}: "
                              f"{escape(str(c['message']))}", highlight=False)
            for row in c["failures"][:5]:
                err_console.print(f"    {escape(str(row))}", highlight=False)
    console.print(f"{report['passed']} passed, {report['warned']} warned, {report['failed']} failed, "
                  f"{report['errors']} errors", highlight=False)
