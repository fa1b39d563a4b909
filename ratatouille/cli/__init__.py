"""The ``rat`` command line: ``rat run``, ``rat query``, ``rat tables``...

Every command exits non-zero on failure and prints one readable error line
(``--debug`` shows the traceback). The application object and the printing
helpers live in ``_app`` (which the command modules ``_workspace`` and ``_dev``
import too); each command imports the project's modules only when it runs, so
``rat --help`` loads no Polars, Delta or project code.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

import click
import typer
from rich.markup import escape
from rich.tree import Tree

from ..errors import RatatouilleError
from ._app import WorkspaceOpt, _state, _status_style, app, console, err_console, print_frame, print_results

if TYPE_CHECKING:  # annotations only: commands import what they run when they run
    from ..execute import RunResult

__all__ = ["app", "console", "err_console", "main", "print_frame", "print_results"]

def _run_with_progress(names: Sequence[str] | None, *, full_refresh: bool, workspace: str | None, all_: bool,
                       dry_run: bool = False, partition: str | None = None,
                       threads: int | None = None) -> RunResult:
    from ..execute import run  # lazy: a command imports the project's modules when it runs (fast rat --help)

    selection = "*" if all_ else list(names or ())
    if not all_ and not names:
        raise typer.BadParameter("name one or more transforms, or pass --all")
    with console.status("starting...") as status:
        def on_event(event: str, name: str, result: RunResult | None) -> None:
            if event == "start":
                status.update(f"running [bold]{name}[/]...")
            elif result is not None:
                rows = (f"{result.get('rows_checked', 0)} rows checked" if result.get("dry_run")
                        else f"{result.get('rows_written', 0)} rows")
                console.print(f"  [{_status_style(result['status'])}]{result['status']:>8}[/] {name}"
                              f" [dim]({rows}, {result.get('duration_s', 0):.2f}s)[/]")
        return run(selection, full_refresh=full_refresh, workspace=workspace, on_event=on_event, dry_run=dry_run,
                   partition=partition, threads=threads)


@app.command("run")
def run_cmd(
    names: List[str] = typer.Argument(None, help="Transforms: layer.name, +name (with upstream), name+ (with downstream)."),
    full_refresh: bool = typer.Option(False, "-f", "--full-refresh", help="Rebuild the tables from scratch."),
    workspace: Optional[str] = WorkspaceOpt,
    all_: bool = typer.Option(False, "--all", help="Run every transform."),
    partition: Optional[str] = typer.Option(None, "-p", "--partition",
                                            help="Rebuild only this partition (e.g. 2024-01-02) of a transform "
                                                 "with partition_by."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Independent transforms run at once (default: RAT_THREADS, the "
                                               "threads setting, else 4 on object storage, 2 on a local disk)."),
) -> None:
    """Run transforms and print what they built (unchanged ones are not run again)."""
    _run_and_print(names, full_refresh=full_refresh, workspace=workspace, all_=all_, partition=partition,
                   threads=threads)


@app.command("check")
def check_cmd(names: List[str] = typer.Argument(None), workspace: Optional[str] = WorkspaceOpt) -> None:
    """Build transforms and run their checks without writing anything."""
    _run_and_print(names, full_refresh=False, workspace=workspace, all_=not names, dry_run=True)


def _run_and_print(names: Sequence[str] | None, **options: Any) -> None:
    """Run with a progress display and print the results (also those of a failed run)."""
    try:
        result = _run_with_progress(names, **options)
    except RatatouilleError as exc:
        if exc.results:
            print_results(exc.results)
        raise
    print_results(result.results)


@app.command("test")
def test_cmd(names: List[str] = typer.Argument(None, help="Tables or selectors (default: every table)."),
             workspace: Optional[str] = WorkspaceOpt,
             as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
             store_failures: bool = typer.Option(False, "--store-failures",
                                                 help="Keep each test's failing rows in audit.<layer>_<name>__<test>.")
             ) -> None:
    """Run every check on the STORED tables (like dbt test); exit 1 on an error-severity failure."""
    from ._test import print_report  # lazy: imported when the command runs
    from ..check._stored import test_stored

    report = test_stored(list(names) if names else None, workspace=workspace,
                         store_failures=True if store_failures else None)
    if as_json:
        print(json.dumps(report, default=str))
    else:
        print_report(report, console, err_console)
    if report["status"] == "failed":
        raise typer.Exit(1)


@app.command("query")
def query_cmd(sql: str, workspace: Optional[str] = WorkspaceOpt,
              as_json: bool = typer.Option(False, "--json", help="Print rows as JSON lines.")) -> None:
    """Run SQL over the lake and print the result as a table."""
    from .._query import query_project  # lazy (as every command's imports): rat --help stays fast
    from ..discover import Project

    project = Project.load(workspace=workspace)  # once, for the query and the resolution line
    df = query_project(project, sql)
    if as_json:
        for row in df.iter_rows(named=True):
            typer.echo(json.dumps(row, default=str))  # one line per row (JSON lines), never wrapped
    else:
        print_frame(df)
    from ._workspace import print_resolution  # (cheap: typer and rich only)

    print_resolution(project, sql)  # in a workspace: where each table was read from (stderr)


@app.command("ls")
def ls_cmd(path: str = typer.Argument("", help="A lake path such as landing/sales/."),
           workspace: Optional[str] = WorkspaceOpt) -> None:
    """List files under a lake path."""
    from .. import tools  # lazy: imported when the command runs

    refused: list = []
    for f in tools._ls(path, workspace, refused):
        console.print(escape(f), highlight=False, soft_wrap=True)  # as it is: "[draft]" is no markup, one line each
    for link in refused:  # a symbolic link out of the lake: named with its reason, never silently left out
        err_console.print(f"[yellow]not listed[/] {escape(link.rel)}: {escape(link.reason)}", highlight=False)


@app.command("tables")
def tables_cmd(workspace: Optional[str] = WorkspaceOpt) -> None:
    """List the tables of the workspace and where each resolves."""
    from .. import tools  # lazy: imported when the command runs

    print_frame(tools.tables(workspace=workspace))


@app.command("lineage")
def lineage_cmd(name: Optional[str] = typer.Argument(None), workspace: Optional[str] = WorkspaceOpt) -> None:
    """Show the lineage of a transform (or every edge)."""
    from .. import tools  # lazy: imported when the command runs

    info = tools.lineage(name, workspace=workspace)
    if name is None:
        edges = info["edges"]
        children: dict[str, list[str]] = {}
        for src, dst in edges:
            children.setdefault(src, []).append(dst)
        roots = [t for t in info["tables"] if not any(dst == t for _, dst in edges)]
        tree = Tree("lineage")

        def add(node: Tree, name: str, seen: set[str]) -> None:
            branch = node.add(name)
            for child in children.get(name, []):
                if child not in seen:
                    add(branch, child, seen | {child})

        for root in roots:
            add(tree, root, {root})
        console.print(tree)
    else:
        console.print(f"[bold]{name}[/]")
        console.print(f"  inputs:     {', '.join(info['inputs']) or '-'}")
        console.print(f"  upstream:   {', '.join(info['upstream']) or '-'}")
        console.print(f"  downstream: {', '.join(info['downstream']) or '-'}")


@app.command("history")
def history_cmd(name: str, workspace: Optional[str] = WorkspaceOpt, limit: int = typer.Option(20, "-n")) -> None:
    """Show the Delta history of a table."""
    from .. import tools  # lazy: imported when the command runs

    print_frame(tools.history(name, workspace=workspace, limit=limit).drop("parameters", strict=False))


@app.command("optimize")
def optimize_cmd(name: str, workspace: Optional[str] = WorkspaceOpt) -> None:
    """Compact a table's small files."""
    from .. import tools  # lazy: imported when the command runs

    metrics = tools.optimize(name, workspace=workspace)
    console.print(f"optimized {name}: {metrics.get('numFilesRemoved', 0)} files -> {metrics.get('numFilesAdded', 0)}")


@app.command("vacuum")
def vacuum_cmd(name: str, workspace: Optional[str] = WorkspaceOpt,
               retention_hours: int = typer.Option(168, "--retention-hours"),
               dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Delete files no longer referenced by recent versions."""
    from .. import tools  # lazy: imported when the command runs

    removed = tools.vacuum(name, workspace=workspace, retention_hours=retention_hours, dry_run=dry_run)
    console.print(f"{'would remove' if dry_run else 'removed'} {len(removed)} files from {name}")
    if getattr(removed, "message", ""):  # versions a pinned workspace still reads
        console.print(escape(removed.message), highlight=False, soft_wrap=True)


from . import _workspace as _workspace_commands  # noqa: E402,F401  (rat diff/promote/workspace/init)


from . import _dev as _dev_command  # noqa: E402,F401  (rat dev: the Dagster UI)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rat``: one clear error line and exit 1 on failure."""
    try:
        rc = app(args=argv, standalone_mode=False)  # typer.Exit(code) comes back as the return value
        return rc if isinstance(rc, int) else 0
    except RatatouilleError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 1
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[red]aborted[/]")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click usage errors and the unexpected
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))} "
                          "(rerun with --debug for the traceback)",
                          highlight=False)
        return 1


def _entry() -> None:
    code = main()
    # the process ends here: the interpreter's last garbage collections need not walk every object of
    # Polars, sqlglot & co. (0.1-0.2 s of a short run); freezing them skips that, and no object of ours
    # needs a finalizer at exit (writes are committed and files closed before main() returns)
    gc.freeze()
    sys.exit(code)
