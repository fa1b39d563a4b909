"""``ratatouille.run``: load the project, select, and run the transforms in order (independent ones at once)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..discover import Project
from ..errors import RatatouilleError, RunError, TableNotFoundError
from ..transforms import PythonTransform
from ._result import RunResult
from ._runner import Event, Runner


def run(
    name: str | Sequence[str] | Callable[..., Any],
    *,
    full_refresh: bool = False,
    workspace: str | None = None,
    upstream: bool = False,
    downstream: bool = False,
    vars: Mapping[str, Any] | None = None,
    project_dir: str | None = None,
    on_event: Event | None = None,
    dry_run: bool = False,
    partition: str | None = None,
    project: Project | None = None,
    threads: int | None = None,
) -> RunResult:
    """Run one transform, a list, or a selection, and return a :class:`RunResult`.

    A failure raises :class:`~ratatouille.RatatouilleError` once the independent
    branches have finished; its ``results`` carry every result.

    Parameters
    ----------
    name : str, sequence of str, or callable
        A table name (``"silver.sales"``), a selector (``"+gold.x"`` with its
        upstream, ``"bronze.y+"`` with its downstream), a list of them, ``"*"``
        for every transform, or a function decorated with ``@transform``.
    full_refresh : bool
        Rebuild the tables from scratch (incremental ones too).
    workspace : str, optional
        The workspace (default: the settings' one, ``RAT_WORKSPACE``).
    upstream, downstream : bool
        Also run what the selection reads from / what reads it.
    vars : mapping, optional
        Values for ``{{ var('name') }}``, over the project's ``vars``.
    project_dir : str, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).
    on_event : callable, optional
        Called as ``on_event(event, table, result)`` when a table starts (``"start"``,
        result ``None``) and ends (``"end"``).
    dry_run : bool
        Build and check, write nothing (``rat check``).
    partition : str, optional
        A key such as ``"2024-01-02"`` (how Dagster materializes a partition): rebuilds only
        that partition of a transform with ``partition_by`` (its output is filtered to
        ``partition_by[0] == partition`` and replaces exactly that partition in one commit;
        SQL sees the key as ``{{ var('partition') }}``; see ``execute/_partition.py``).
    project : Project, optional
        A project already loaded (a :func:`ratatouille.project` session passes its own).
    threads : int, optional
        How many independent transforms run at once (see below).

    project : Project, optional
        An already loaded project (what a :class:`ratatouille.Project` session passes);
        ``workspace`` and ``project_dir`` are then not read.
    threads : int, optional
        How many independent transforms run at the same time (default: ``RAT_THREADS``, the
        ``threads`` setting, or 4 on object storage and 2 on a local disk; see
        ``execute/_schedule.py``); results keep the run's order.

    Returns
    -------
    RunResult
        ``status``, ``rows_written``, ``version``, ``checks``... of the table; for several
        tables, ``results`` holds one per table. A transform whose code and input versions
        are those of its table's last commit is not run: its status is ``unchanged``
        (``execute/_fingerprint.py``).

    Raises
    ------
    RatatouilleError
        A table failed (:class:`~ratatouille.CheckError` for a blocking check,
        :class:`~ratatouille.SQLError`, :class:`~ratatouille.TableNotFoundError`...).

    Examples
    --------
    >>> from ratatouille import run
    >>> result = run("gold.sales_summary")
    >>> result["status"], result["rows_written"]
    ('success', 9)

    Run again with nothing changed (code, input versions, vars), a table is not built again:

    >>> run("gold.sales_summary")["status"]
    'unchanged'

    A selection returns one result per table, in the run's order:

    >>> [r["table"] for r in run("+gold.sales_summary").results]
    ['bronze.sales', 'silver.sales', 'gold.sales_summary']
    """
    # a session (ratatouille.Project) passes the project it loaded once
    project = project if project is not None else Project.load(project_dir, workspace=workspace)
    selected: list[str] = []
    everything = False
    for item in ([name] if isinstance(name, str) or callable(name) else list(name)):
        spec = getattr(item, "__ratatouille__", None)
        if callable(item) and isinstance(spec, PythonTransform):
            project.add(spec)
            selected.append(spec.name)
        elif item == "*":
            everything = True
            break
        else:
            selected.append(str(item))
    selectors = None if everything else selected
    upstream = upstream or dry_run  # a dry run builds its upstream in memory (_dry_run.py)
    runner = Runner(project, full_refresh=full_refresh, vars=vars, on_event=on_event, dry_run=dry_run,
                    partition=partition, threads=threads)
    single = callable(name) or (isinstance(name, str) and name != "*" and not (upstream or downstream)
                                and not name.startswith("+") and not name.endswith("+"))
    if not project.problems:
        return runner.run(selectors, upstream=upstream, downstream=downstream, single=single)
    # files that cannot be transforms (an invalid name): the others run; a run of everything, or of a
    # name that is not found, fails naming those files
    try:
        out = runner.run(selectors, upstream=upstream, downstream=downstream, single=single)
    except TableNotFoundError:
        raise project.problems[0] from None
    except RunError as exc:
        raise RunError(str(exc), errors=[*exc.errors, *project.problems], results=exc.results) from None
    except RatatouilleError as exc:
        if selectors is not None:
            raise
        raise RunError(f"{1 + len(project.problems)} problems:\n" + "\n".join(
            f"  {e}" for e in (exc, *project.problems)), errors=[exc, *project.problems], results=exc.results) from None
    if selectors is None:
        if len(project.problems) == 1:
            err = project.problems[0]
            err.results = list(out.results) if out.results else [out]
            raise err
        raise RunError(f"{len(project.problems)} files are not transforms:\n" + "\n".join(
            f"  {e}" for e in project.problems), errors=list(project.problems),
            results=list(out.results) if out.results else [out])
    return out
