"""Maintain and compare tables: ``optimize``, ``vacuum``, ``diff``, ``test``."""

from __future__ import annotations

from typing import Any

from .._catalog import pinned_versions
from .._names import table_name
from .._versions import VacuumResult
from .._versions import vacuum as _vacuum
from ..check._stored import test_stored as _test_stored
from ..workspace import TableDiff, diff_project
from ._common import PathLike, _own_table, _project


def optimize(name: str, *, workspace: str | None = None, z_order: list[str] | None = None,
             project_dir: PathLike | None = None) -> dict[str, Any]:
    """Compact a table's small files (or Z-order by columns); one new Delta version.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace (default: the settings' one).
    z_order : list of str, optional
        Columns to Z-order the files by (default: compaction only).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    dict
        delta-rs' metrics (``numFilesAdded``, ``numFilesRemoved``...).

    Raises
    ------
    TableNotFoundError
        The table has not been built in this workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.optimize("bronze.sales")["numFilesRemoved"]
    0
    """
    table_name(name)
    table = _own_table(_project(workspace, project_dir), name)
    metrics = table.optimize.z_order(z_order) if z_order else table.optimize.compact()
    return dict(metrics)


def vacuum(name: str, *, workspace: str | None = None, retention_hours: int = 168,
           dry_run: bool = False, project_dir: PathLike | None = None) -> VacuumResult:
    """Delete files no longer referenced by versions newer than ``retention_hours``.

    The files of a version that a pinned workspace still reads (``pin: true``, ``pins.yaml``)
    are kept: the result says so in ``.kept`` (``{version: [workspaces]}``) and ``.message``.

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace (default: the settings' one).
    retention_hours : int
        Keep the files of versions newer than this.
    dry_run : bool
        List what would be removed, remove nothing.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    VacuumResult
        The removed (or removable) paths: a list, with ``.kept`` and ``.message``.

    Raises
    ------
    TableNotFoundError
        The table has not been built in this workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> tools.vacuum("bronze.sales", retention_hours=0).message
    'kept the files of bronze.sales v0 (pinned by workspace alice)'
    """
    table_name(name)
    project = _project(workspace, project_dir)
    table = _own_table(project, name)
    # only default's tables are pinned
    is_default = project.target(name).uri == project.catalog.table_uri(name, "default")
    pinned = pinned_versions(project.settings, name) if is_default else {}
    return _vacuum(name, table, pinned=pinned, retention_hours=retention_hours, dry_run=dry_run)


def diff(name: str, *, workspace: str | None = None, key: list[str] | None = None, sample: int = 5,
         project_dir: PathLike | None = None) -> TableDiff:
    """Compare a workspace's table with default's: schema, row counts, rows added/removed/changed
    by ``unique_key`` (else all columns) and sample rows.

    Parameters
    ----------
    name : str
        ``layer.name``.
    workspace : str, optional
        The workspace compared with default (default: the settings' one).
    key : list of str, optional
        Columns that identify a row (default: the transform's ``unique_key``, else all columns).
    sample : int
        How many sample rows of each kind.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    TableDiff
        ``.summary()``, ``.to_dict()``, ``.added``/``.removed``/``.changed`` counts.

    Raises
    ------
    TableNotFoundError
        The table exists in neither workspace.

    Examples
    --------
    >>> from ratatouille import tools
    >>> print(tools.diff("silver.sales", workspace="alice").summary())
    silver.sales: workspace alice (v0) vs default (v0)
    schema: unchanged
    rows: default 9 -> alice 7 (-2)
    by order_id (unique_key): 0 added, 2 removed, 0 changed
    """
    table_name(name)
    return diff_project(_project(workspace, project_dir), name, key=key, sample=sample)


def test(selection: str | list[str] | None = None, *, workspace: str | None = None,
         project_dir: PathLike | None = None, store_failures: bool | None = None) -> dict[str, Any]:
    """Run every check of the selected tables on the STORED tables, like ``dbt test`` (``rat test``).

    Nothing is built or written. A failed check does not raise: read ``report["status"]``
    (``"passed"``, ``"warned"`` or ``"failed"``) and each table's checks, with failing-row samples.

    Parameters
    ----------
    selection : str, list of str, or None
        A table name, a selector (``+gold.x``, ``silver.y+``), a list of them, or None for all.
    workspace : str, optional
        The workspace (default: settings / ``RAT_WORKSPACE``).
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).
    store_failures : bool, optional
        Keep every test's failing rows in ``audit.<layer>_<name>__<test>`` (None: the
        project's ``store_failures`` setting; a test's own ``store_failures`` wins).

    Returns
    -------
    dict
        The report: ``status``, counts (``passed``/``warned``/``failed``/``errors``) and
        ``tables``, one entry per table.

    Raises
    ------
    TableNotFoundError
        A selected name is no transform.

    Examples
    --------
    >>> from ratatouille import tools
    >>> report = tools.test("silver.sales")
    >>> report["status"], [c["name"] for c in report["tables"][0]["checks"]][:1]
    ('passed', ['schema'])
    """
    return _test_stored(selection, project=_project(workspace, project_dir), store_failures=store_failures)
