"""``rat diff``, ``rat promote``, ``rat workspace list|create|reset|pin`` and ``rat init``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import TableNotFoundError, WorkspaceError
from ._app import WorkspaceOpt, app, console, err_console, escape, print_frame, print_results

if TYPE_CHECKING:  # annotations only: the workspace package is imported when a command runs
    from ..workspace import TableDiff

workspace_app = typer.Typer(help="Development workspaces: list, create, reset, pin.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")


def _print_diff(d: TableDiff, *, samples: bool = True) -> None:
    head, *rest = d.summary().splitlines()
    console.print(f"[bold]{escape(head)}[/]", highlight=False)
    for line in rest:
        style = "yellow" if line.startswith(("warning", "note")) else ""
        console.print(f"  [{style}]{escape(line)}[/]" if style else f"  {escape(line)}", highlight=False)
    if not samples:
        return
    for kind in ("added", "removed", "changed"):
        df = d.samples.get(kind)
        if df is not None and df.height:
            print_frame(df, title=f"{kind} (sample)")


def print_resolution(project: Any, sql: str) -> None:
    """After ``rat query -w WS``: one stderr line naming where each table was read from."""
    from .._sql import referenced_tables  # lazy: imported when the command runs

    if project.workspace == "default":
        return
    parts = []
    for name in sorted(referenced_tables(sql)):
        r = project.resolve(name)
        where = r["resolves_to"] + (f" v{r['version']}" if r["version"] is not None else "")
        parts.append(f"{name} <- {where}{' (pinned)' if r['pinned'] else ''}")
    if parts:
        err_console.print(f"[dim]workspace {project.workspace} read: {', '.join(parts)}[/]", highlight=False,
                          soft_wrap=True)


@app.command("diff")
def diff_cmd(
    names: List[str] = typer.Argument(..., help="Tables to compare, e.g. silver.sales."),
    workspace: Optional[str] = WorkspaceOpt,
    key: Optional[str] = typer.Option(None, "--key", help="Compare rows by these columns (comma-separated)."),
    sample: int = typer.Option(5, "-n", "--sample", help="Sample rows shown per kind of change."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when a table differs."),
) -> None:
    """Compare a workspace's tables with default's: schema, row counts, rows added/removed/changed."""
    from .._names import parse_table_name  # lazy: imported when the command runs
    from ..discover import Project
    from ..workspace import diff_project

    keys = [k.strip() for k in key.split(",") if k.strip()] if key else None
    differs = False
    for name in names:
        parse_table_name(name)
    project = Project.load(workspace=workspace)  # once for every table
    base = Project.load(project.settings.project_dir, workspace="default") if project.workspace != "default" else None
    for name in names:
        d = diff_project(project, name, key=keys, sample=sample, base_project=base)
        differs = differs or not d.identical
        if as_json:
            console.print_json(json.dumps(d.to_dict(), default=str))
        else:
            _print_diff(d)
    if exit_code and differs:
        raise typer.Exit(1)


@app.command("promote")
def promote_cmd(
    names: List[str] = typer.Argument(..., help="Transforms of the workspace to copy into default."),
    workspace: Optional[str] = WorkspaceOpt,
    yes: bool = typer.Option(False, "-y", "--yes", help="Do not ask for confirmation."),
) -> None:
    """Copy a workspace's transform files into default, after its checks pass and you confirm."""
    from .._names import parse_table_name  # lazy: imported when the command runs
    from ..discover import Project
    from ..workspace import check_promotion, diff_project, plan_project_promotion

    if not names:
        raise WorkspaceError("name one or more transforms to promote")
    for name in names:
        parse_table_name(name)
    project = Project.load(workspace=workspace)  # once (and default's once) for the plan, checks and diffs
    base = Project.load(project.settings.project_dir, workspace="default") if project.workspace != "default" else None
    plan = plan_project_promotion(project, names, base=base)
    ws = plan.workspace
    with console.status(f"checking {', '.join(plan.names)} in workspace {ws} (dry run, nothing written)..."):
        result = check_promotion(plan, project=project)
    print_results(result.results)
    if not plan.changes:
        console.print(f"nothing to promote: default already has the same files for {', '.join(plan.names)}")
        return
    console.print("[bold]files[/]")
    for change in plan.files:
        rel = change.dest.relative_to(plan.project_dir)
        colour = {"create": "green", "update": "yellow", "remove": "red"}.get(change.action, "dim")
        console.print(f"  [{colour}]{change.action:>9}[/] {escape(str(rel))}", highlight=False)
    from rich.syntax import Syntax  # lazy: pygments costs ~80 ms, paid only when a promotion shows a diff

    for change in plan.changes:
        if change.diff:
            console.print(Syntax(change.diff, "diff", theme="ansi_dark", background_color="default"))
    console.print("[bold]data[/]")
    for name in plan.names:
        try:
            _print_diff(diff_project(project, name, base_project=base), samples=False)
        except TableNotFoundError as exc:
            console.print(f"  {name}: no data diff ({escape(exc.message)})", highlight=False)
    if not yes:
        if not typer.confirm(f"Promote {', '.join(plan.names)} from {ws} into default?"):
            err_console.print("not promoted", highlight=False)
            raise typer.Exit(1)
    plan.apply()
    console.print(f"[green]promoted[/] {', '.join(plan.names)} into default "
                  f"({len(plan.changes)} file{'s' if len(plan.changes) != 1 else ''})", highlight=False)
    promoted = project.transforms  # the workspace's definitions are what default has now
    incremental = any(promoted[n].mode in ("append", "merge", "replace_partitions") for n in plan.names if n in promoted)
    console.print(f"rebuild production: rat run {'-f ' if incremental else ''}"
                  f"{' '.join(n + '+' for n in plan.names)}"
                  + ("  (-f: an incremental table keeps its old rows otherwise)" if incremental else ""),
                  highlight=False, soft_wrap=True)


@workspace_app.command("list")
def workspace_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List workspaces: own transforms (overrides), tables built, pinned or not."""
    from ..workspace import list_workspaces  # lazy: imported when the command runs

    rows = list_workspaces()
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(header_style="bold")
    for col in ("workspace", "transforms", "overrides", "tables built", "pinned", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["workspace"], str(len(r["transforms"])), ", ".join(r["overrides"]) or "-",
                      str(len(r["tables"])), "yes" if r["pinned"] else "-", r["description"] or "")
    console.print(table)


@workspace_app.command("create")
def workspace_create(
    name: str = typer.Argument(..., help="A simple lowercase identifier, e.g. alice."),
    pin: bool = typer.Option(False, "--pin", help="Read default's tables at their current versions."),
    description: Optional[str] = typer.Option(None, "-d", "--description"),
) -> None:
    """Create a workspace that overlays default (its own transforms override default's)."""
    from .._settings import load_settings  # lazy: imported when the command runs
    from ..workspace import create_workspace, load_pins  # lazy

    folder = create_workspace(name, pin=pin, description=description)
    console.print(f"created workspace [bold]{name}[/] at {escape(str(folder))}", highlight=False, soft_wrap=True)
    if pin:
        pins = load_pins(load_settings(workspace="default"), name)
        console.print(f"pinned {len(pins)} default table{'s' if len(pins) != 1 else ''}: "
                      + (", ".join(f"{t}@v{v}" for t, v in pins.items()) or "-"), highlight=False)
    console.print(f"next: put transforms in {escape(str(folder / 'pipelines'))}/<layer>/ and `rat run -w {name} NAME`",
                  highlight=False)


@workspace_app.command("reset")
def workspace_reset(
    name: str = typer.Argument(...),
    tables: List[str] = typer.Argument(None, help="Only these tables (default: all of the workspace's)."),
    repin: bool = typer.Option(False, "--repin", help="Re-record the pinned default versions too."),
) -> None:
    """Drop a workspace's own tables so it reads default's again (its transform files stay)."""
    from ..workspace import reset_workspace  # lazy: imported when the command runs

    dropped = reset_workspace(name, tables=tables or None, repin=repin)
    console.print(f"dropped {len(dropped)} table{'s' if len(dropped) != 1 else ''} of {name}"
                  + (": " + ", ".join(dropped) if dropped else ""), highlight=False)


@workspace_app.command("pin")
def workspace_pin(name: str = typer.Argument(...)) -> None:
    """Pin a workspace to default's current table versions (pins.yaml; sets pin: true)."""
    from ..workspace import pin_workspace  # lazy: imported when the command runs

    pins = pin_workspace(name)
    console.print(f"pinned {name} to " + (", ".join(f"{t}@v{v}" for t, v in pins.items()) or "no tables"),
                  highlight=False)


@app.command("init")
def init_cmd(
    directory: Path = typer.Argument(..., help="Folder of the new project (created if missing)."),
    name: Optional[str] = typer.Option(None, "--name", help="Project name (default: the folder's name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Scaffold a new project: pyproject, a bronze/silver/gold example, landing data and tests."""
    from .._scaffold import init_project  # lazy: imported when the command runs

    files = init_project(directory, name=name, force=force)
    console.print(f"created {len(files)} files in {escape(str(directory))}", highlight=False)
    console.print(f"next: cd {escape(str(directory))} && rat run --all && pytest", highlight=False)


__all__ = ["workspace_app", "err_console"]
