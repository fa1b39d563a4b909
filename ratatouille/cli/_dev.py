"""``rat dev``: the Dagster UI (webserver + daemon) for the project, on port 3030.

It checks that the definitions load (one clear error if they do not), then
runs ``dagster dev`` in the project root with ``DAGSTER_HOME`` defaulting to
``<project>/.dagster_home`` (runs, schedules and sensor cursors persist there)
and ``RAT_WORKSPACE`` set for ``-w``. The code location is the project's
``[tool.dagster] module_name`` when pyproject.toml has one, else
``ratatouille.definitions``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Optional

import typer

from ._app import WorkspaceOpt, app, console, err_console, escape

DEFAULT_PORT = 3030


def dagster_command(root: Path, *, host: str, port: int) -> list[str]:
    """The ``dagster dev`` command line for a project."""
    target: list[str] = []
    if not _has_dagster_table(root / "pyproject.toml"):
        target = ["-m", "ratatouille.definitions"]
    return [sys.executable, "-m", "dagster", "dev", *target, "--host", host, "--port", str(port)]


def _has_dagster_table(pyproject: Path) -> bool:
    try:
        return bool(tomllib.loads(pyproject.read_text()).get("tool", {}).get("dagster", {}).get("module_name"))
    except (OSError, tomllib.TOMLDecodeError):
        return False


def dev_environment(root: Path, workspace: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["RAT_PROJECT_DIR"] = str(root)
    if workspace:
        env["RAT_WORKSPACE"] = workspace
    if not env.get("DAGSTER_HOME"):
        home = root / ".dagster_home"
        home.mkdir(exist_ok=True)
        env["DAGSTER_HOME"] = str(home)
    return env


@app.command("dev")
def dev_cmd(
    port: int = typer.Option(DEFAULT_PORT, "-p", "--port", help="Port of the Dagster UI."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for every one)."),
    workspace: Optional[str] = WorkspaceOpt,
    check: bool = typer.Option(False, "--check", help="Only build the definitions, print a summary and exit."),
) -> None:
    """Start the Dagster UI (webserver + daemon) for this project: every transform is an asset."""
    from .._settings import load_settings  # lazy: imported when the command runs

    settings = load_settings(workspace=workspace)
    root = settings.project_dir
    with console.status("loading the definitions..."):
        from ..dagster import build_definitions  # dagster: an optional heavy dependency, only for rat dev

        defs = build_definitions(root, workspace=settings.workspace)
        repo = defs.get_repository_def()  # resolves jobs and the asset graph: errors show here, not in the UI
        graph = repo.asset_graph
    transforms = getattr(defs.metadata.get("ratatouille/transforms"), "value", 0)
    console.print(f"[bold]{escape(str(root))}[/] workspace [bold]{settings.workspace}[/]: "
                  f"{len(graph.get_all_asset_keys())} assets ({transforms} transforms), "
                  f"{len(graph.asset_check_keys)} checks, {len([j for j in repo.get_all_jobs() if not j.name.startswith('__')])} jobs, "
                  f"{len(repo.sensor_defs)} sensors, {len(repo.schedule_defs)} schedules", highlight=False)
    errors = (defs.metadata or {}).get("ratatouille/load_errors")
    for message in getattr(errors, "value", None) or []:
        err_console.print(f"[yellow]not loaded:[/] {escape(str(message))}", highlight=False)
    if check:
        return
    env = dev_environment(root, settings.workspace if workspace else None)  # creates .dagster_home
    cmd = dagster_command(root, host=host, port=port)
    local = host in ("127.0.0.1", "0.0.0.0")  # noqa: S104 - compares the user's --host, binds nothing
    console.print(f"Dagster UI: [bold]http://{'localhost' if local else host}:{port}[/] "
                  f"(DAGSTER_HOME={env['DAGSTER_HOME']}); Ctrl+C stops it", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":  # become `dagster dev`: Ctrl+C and kill reach it (and its children) directly
        os.chdir(root)
        os.execve(sys.executable, cmd, env)  # noqa: S606 - this Python running `dagster dev`, fixed argv, no shell
    proc = subprocess.Popen(cmd, cwd=root, env=env)  # noqa: S603 - fixed argv of this Python, no shell  # pragma: no cover
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    if code:
        raise typer.Exit(code)
