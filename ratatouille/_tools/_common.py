"""What every helper of :mod:`ratatouille.tools` shares: load the project, find a built table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._names import not_found, table_name
from ..discover import Project
from ..errors import TableNotFoundError
from ..write import Target

PathLike = str | Path


def _project(workspace: str | None, project_dir: PathLike | None = None) -> Project:
    return Project.load(project_dir, workspace=workspace)


def _built_target(project: Project, name: str) -> Target:
    """Where ``name``'s Delta table is read from (clear errors for a view, an unbuilt or unknown table)."""
    table_name(name)
    target = project.read_target(name)
    if target is None:
        t = project.transforms.get(name)
        if t is not None and t.mode == "view":
            raise TableNotFoundError(f"{name} is a view: it is never written, so it has no Delta table "
                                     "(read it with query() or read())")
        if t is not None:
            raise TableNotFoundError(f"table {name} has not been built yet: run `rat run {name}`")
        raise not_found(name, project.transforms)
    return target



def _own_table(project: Project, name: str) -> Any:
    table_name(name)
    table = project.target(name).open()
    if table is None:
        raise TableNotFoundError(f"table {name} has not been built in workspace {project.workspace}")
    return table


