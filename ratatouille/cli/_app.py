"""The ``rat`` application object and what every command prints with (tables, results).

Only typer and rich are imported here: ``rat --help`` loads no Polars, Delta
or project code; each command imports what it needs when it runs.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Ratatouille: Polars-native pipelines over Delta Lake.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

WorkspaceOpt = typer.Option(None, "-w", "--workspace", help="Workspace (default: settings / RAT_WORKSPACE).")


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")) -> None:
    _state["debug"] = debug


def print_frame(df: Any, title: str | None = None) -> None:
    """Print a Polars DataFrame as a rich table."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for name, dtype in df.schema.items():
        table.add_column(f"{escape(name)}\n[dim]{escape(str(dtype))}[/dim]", overflow="fold")
    for row in df.iter_rows():
        table.add_row(*["[dim]null[/dim]" if v is None else escape(str(v)) for v in row])  # "[1]" is data, not markup
    console.print(table)
    console.print(f"[dim]{df.height} row{'s' if df.height != 1 else ''}[/dim]")


def _status_style(status: str) -> str:
    return {"success": "green", "unchanged": "cyan", "skipped": "yellow", "failed": "red"}.get(status, "white")


def print_results(results: Any) -> None:
    dry = any(r.get("dry_run") for r in results)  # rat check: rows built and checked, none written
    table = Table(title="Check (nothing written)" if dry else "Run", header_style="bold")
    for col in ("table", "status", "mode", "rows checked" if dry else "rows", "version", "seconds", "checks"):
        table.add_column(col)
    for r in results:
        checks = r.get("checks") or []
        passed = sum(1 for c in checks if c.get("passed"))
        rows = r.get("rows_checked", 0) if dry else r.get("rows_written", 0)
        table.add_row(r["table"], f"[{_status_style(r['status'])}]{r['status']}[/]", str(r.get("mode")),
                      str(rows), str(r.get("version")), f"{r.get('duration_s', 0):.2f}",
                      f"{passed}/{len(checks)}" if checks else "-")
    console.print(table)
    for r in results:
        for rej in r.get("rejected") or []:
            err_console.print(f"[yellow]rejected[/] {escape(rej['file'])}: {escape(rej['reason'])}")
        for w in r.get("waiting") or []:  # files in flight: picked up by a later run
            err_console.print(f"[dim]waiting[/] {escape(w['file'])}: {escape(w['reason'])}")
        for ch in r.get("changes") or []:
            err_console.print(f"[yellow]changed[/] {escape(ch['file'])}: {escape(ch['what'])}")
        for c in r.get("checks") or []:
            if not c.get("passed"):
                err_console.print(f"[yellow]{r['table']}: check {escape(c['name'])} ({c['severity']}) failed: "
                                  f"{escape(str(c['message']))}[/]")
