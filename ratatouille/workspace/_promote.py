"""``promote``: copy a workspace's transform files into ``default`` once its checks pass.

The files land all together or not at all, even if the process is killed
(``workspace/_journal.py``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .._catalog import DEFAULT, workspace_dir
from .._names import parse_table_name
from ..discover import Project
from ..errors import CheckError, RatatouilleError, WorkspaceError
from ..execute import run
from ..transforms import Transform
from ._journal import apply_changes

__all__ = ["FileChange", "Promotion", "check_promotion", "plan_project_promotion", "plan_promotion", "promote"]


@dataclass
class FileChange:
    """One file a promotion writes into (or removes from) ``default``."""

    action: str  # "create", "update", "unchanged" or "remove"
    source: Path | None
    dest: Path
    diff: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "source": str(self.source) if self.source else None,
                "dest": str(self.dest), "diff": self.diff}


@dataclass
class Promotion:
    """What promoting transforms from a workspace into ``default`` changes on disk."""

    workspace: str
    names: list[str]
    files: list[FileChange]
    project_dir: Path
    checks: Any = None
    applied: bool = False

    @property
    def changes(self) -> list[FileChange]:
        return [f for f in self.files if f.action != "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "names": list(self.names), "applied": self.applied,
                "files": [f.to_dict() for f in self.files],
                "checks": dict(self.checks) if isinstance(self.checks, Mapping) else self.checks}

    def apply(self) -> list[FileChange]:
        """Write the files into ``default``: all of them or none, even if the process is killed
        (staged, then renamed into place under a journal that the next project load completes
        or rolls back: see ``ratatouille/workspace/_journal.py``). Returns the changes."""
        apply_changes(self.project_dir / "workspaces" / DEFAULT,
                      [(f.action, f.source, f.dest) for f in self.changes])
        self.applied = True
        return self.changes


def _files_of(t: Transform, pipelines: Path) -> list[Path]:
    """The files that define transform ``t`` (the code file plus a YAML beside it)."""
    path = Path(t.path) if t.path else None
    if path is None:
        raise WorkspaceError(f"{t.name} is not defined by a file: nothing to promote", transform=t.name)
    files = [path]
    if path.suffix in (".sql", ".py"):
        for ext in (".yaml", ".yml"):
            side = path.with_suffix(ext)
            if side.is_file() and path.parent != pipelines:
                files.append(side)
    return files


def plan_promotion(names: str | Sequence[str], *, workspace: str | None = None,
                   project_dir: str | Path | None = None) -> Promotion:
    """Work out which files promoting ``names`` from ``workspace`` writes into ``default``.

    Nothing is written: :meth:`Promotion.apply` writes, :func:`promote` checks and writes.

    Parameters
    ----------
    names : str or sequence of str
        The transforms to promote.
    workspace : str, optional
        The workspace they come from (default: the settings' one).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    Promotion
        ``.files`` (each ``action``: ``create``, ``update`` or ``unchanged``), ``.changes``.

    Raises
    ------
    WorkspaceError
        A transform the workspace does not define itself, a file that also defines
        transforms not being promoted, or inputs that ``default`` would not have.

    Examples
    --------
    >>> from ratatouille.workspace import plan_promotion
    >>> plan = plan_promotion("silver.sales", workspace="alice")
    >>> [(f.action, f.dest.name) for f in plan.files], plan.applied
    ([('update', 'sales.sql'), ('unchanged', 'sales.yaml')], False)
    """
    names = _promotion_names(names)
    return plan_project_promotion(Project.load(project_dir, workspace=workspace), names)


def plan_project_promotion(project: Project, names: Sequence[str], *, base: Project | None = None) -> Promotion:
    """:func:`plan_promotion` on a loaded workspace ``project`` (and ``base``, default's, if loaded).

    Parameters
    ----------
    project
        The workspace's project.
    names
        The transforms to promote.
    base
        Default's project, when the caller has it loaded already.

    Returns
    -------
    Promotion
        The files the promotion would write (nothing written yet: see :meth:`Promotion.apply`).

    Raises
    ------
    WorkspaceError
        ``project`` is default's, a transform is not the workspace's own, or an input would be missing.

    Examples
    --------
    >>> from ratatouille.discover import Project
    >>> plan_project_promotion(Project.load(workspace="alice"), ["silver.sales"]).names
    ['silver.sales']
    """
    names = list(names)
    for n in names:
        parse_table_name(n)
    ws = project.workspace
    if ws == DEFAULT:
        raise WorkspaceError("promote copies a workspace's transforms into default: name the workspace "
                             "(workspace='alice', or rat promote -w alice NAME)")
    settings = project.settings
    if base is None or base.workspace != DEFAULT:
        base = Project.load(settings.project_dir, workspace=DEFAULT)
    src_root = workspace_dir(settings, ws) / "pipelines"
    dst_root = workspace_dir(settings, DEFAULT) / "pipelines"
    chosen = set(names)
    changes: dict[Path, FileChange] = {}
    for n in names:
        t = project.get(n)
        if t.workspace != ws:
            raise WorkspaceError(f"{n} is not changed in workspace {ws} (it is {t.workspace}'s transform): "
                                 "nothing to promote", transform=n)
        # inputs must exist in default once promoted
        for dep in t.inputs:
            if dep not in chosen and dep not in base.transforms and base.read_target(dep) is None:
                raise WorkspaceError(f"reads {dep}, which default does not have: promote it together "
                                     f"(rat promote -w {ws} {dep} {n})", transform=n, file=t.file)
        files = _files_of(t, src_root)
        others = sorted(o.name for o in project.transforms.values()
                        if o.workspace == ws and o.path and Path(o.path) in files and o.name not in chosen)
        if others:
            raise WorkspaceError(f"{files[0].name} also defines {', '.join(others)}: promote them together",
                                 transform=n, file=t.file)
        dests = []
        for src in files:
            dest = dst_root / src.relative_to(src_root)
            dests.append(dest)
            old = dest.read_bytes() if dest.is_file() else None
            new = src.read_bytes()
            action = "create" if old is None else ("unchanged" if old == new else "update")
            changes[dest] = FileChange(action, src, dest, _text_diff(
                old, new, dest.relative_to(settings.project_dir), src.relative_to(settings.project_dir)))
        # default's own files for this transform that the copy would not replace
        bt = base.transforms.get(n)
        if bt is not None and bt.path:
            for old_file in _files_of(bt, dst_root):
                if old_file in dests or old_file in changes:
                    continue
                sharing = sorted(o.name for o in base.transforms.values()
                                 if o.path and Path(o.path) == old_file and o.name not in chosen)
                if sharing:
                    raise WorkspaceError(f"default defines {n} in {old_file} together with {', '.join(sharing)}: "
                                         "move it to its own file first", transform=n, file=str(old_file))
                text = old_file.read_bytes()
                changes[old_file] = FileChange("remove", None, old_file,
                                               _text_diff(text, None, old_file.relative_to(settings.project_dir), None))
    return Promotion(workspace=ws, names=names, files=list(changes.values()), project_dir=settings.project_dir)


def _text_diff(old: bytes | None, new: bytes | None, old_rel: Path, new_rel: Path | None) -> str:
    try:
        a = old.decode().splitlines(keepends=True) if old is not None else []
        b = new.decode().splitlines(keepends=True) if new is not None else []
    except UnicodeDecodeError:
        return "(binary file)"
    return "".join(difflib.unified_diff(a, b, fromfile=str(old_rel) if old is not None else "/dev/null",
                                        tofile=str(new_rel) if new is not None else "/dev/null"))


def check_promotion(plan: Promotion, *, project: Project | None = None) -> Any:
    """Build and check the promoted transforms in the workspace without writing (``dry_run``).

    Parameters
    ----------
    plan : Promotion
        What :func:`plan_promotion` returned.
    project : Project, optional
        The workspace's loaded project, when the caller has it already.

    Returns
    -------
    RunResult
        The dry run's result (its checks).

    Raises
    ------
    CheckError
        A check failed or a transform does not build (nothing is promoted).

    Examples
    --------
    >>> from ratatouille.workspace import check_promotion, plan_promotion
    >>> check_promotion(plan_promotion("silver.sales", workspace="alice"))["status"]
    'success'
    """
    if project is not None and project.workspace != plan.workspace:
        project = None
    try:
        # full_refresh: the checks see everything the transform builds, not only an increment
        result = run(plan.names if len(plan.names) > 1 else plan.names[0], workspace=plan.workspace,
                     project_dir=str(plan.project_dir), dry_run=True, full_refresh=True, project=project)
    except RatatouilleError as exc:
        raise CheckError(f"not promoted: it fails in workspace {plan.workspace}: {exc.message}",
                         transform=exc.transform, file=exc.file, line=exc.line, checks=exc.checks,
                         results=exc.results) from exc
    plan.checks = result
    return result


def promote(names: str | Sequence[str], *, workspace: str | None = None, check: bool = True,
            project_dir: str | Path | None = None) -> Promotion:
    """Copy transforms (``.sql`` + ``.yaml`` / ``.py`` / ingest ``.yaml``) from a workspace into
    ``default`` after their checks pass in the workspace. Returns the applied :class:`Promotion`.

    Only files move: rebuild production afterwards (``rat run -f NAME+`` for an incremental table).

    Parameters
    ----------
    names
        The transforms to promote.
    workspace
        The workspace they come from (default: settings / ``RAT_WORKSPACE``).
    check
        Build and check them in the workspace first (a dry run); a failure promotes nothing.
    project_dir
        The project folder (default: found from the working directory).

    Returns
    -------
    Promotion
        The applied promotion.

    Raises
    ------
    WorkspaceError
        The workspace is default, or the transforms cannot be promoted as asked.
    CheckError
        A check failed or a transform does not build: nothing promoted.

    Examples
    --------
    >>> promotion = promote("silver.sales", workspace="alice")
    >>> promotion.applied, [(f.action, f.dest.name) for f in promotion.changes]
    (True, [('update', 'sales.sql')])
    """
    names = _promotion_names(names)
    project = Project.load(project_dir, workspace=workspace)  # once: for the plan and the checks
    plan = plan_project_promotion(project, names)
    if check:
        check_promotion(plan, project=project)
    plan.apply()
    return plan


def _promotion_names(names: str | Sequence[str]) -> list[str]:
    """The names asked for, as a list, each a valid ``layer.name`` (at least one)."""
    listed = [names] if isinstance(names, str) else list(names)
    if not listed:
        raise WorkspaceError("name one or more transforms to promote")
    for n in listed:
        parse_table_name(n)
    return listed
