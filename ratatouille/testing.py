"""Pytest helpers for transforms (registered as a pytest plugin when Ratatouille is installed).

* :func:`run_transform` runs any transform, SQL included, on in-memory frames,
  with no lake at all, and returns a ``pl.DataFrame``.
* The ``rat_project`` fixture gives a temporary project with its own lake,
  made current for the test (``RAT_PROJECT_DIR``); files written to its landing
  zone are ingested at once (``RAT_SETTLE_SECONDS=0``).

Example
-------
>>> import polars as pl
>>> from ratatouille.testing import run_transform
>>> out = run_transform("SELECT id FROM bronze.x WHERE id > 1", inputs={"bronze.x": pl.DataFrame({"id": [1, 2]})})
>>> out["id"].to_list()
[2]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import polars as pl

from ._testing_project import RatProject
from ._testing_project import _storage_options as _storage_options  # the fixture's S3 options, for tests
from ._testing_s3 import S3Server
from .check import jsonable, run_checks
from .discover import Project
from .errors import CheckError, TableNotFoundError
from .execute import watermark
from .transforms import BuildContext, PythonTransform, SQLTransform, Transform

__all__ = ["RatProject", "S3Server", "rat_project", "run_transform"]


def _as_lazy(frame: Any) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    return pl.DataFrame(frame).lazy()


def run_transform(
    name_or_fn: str | Callable[..., Any] | Transform,
    inputs: Mapping[str, Any] | None = None,
    *,
    incremental: bool = False,
    target: Any = None,
    vars: Mapping[str, Any] | None = None,
    check: bool = False,
    project_dir: str | Path | None = None,
    workspace: str | None = None,
) -> pl.DataFrame:
    """Run a transform on in-memory frames and return its output (no lake is read or written).

    Parameters
    ----------
    name_or_fn : str, callable or Transform
        A function decorated with ``@transform``, a transform name from the project
        (``"silver.sales"``), a path to a ``.sql`` file, or SQL text.
    inputs : mapping, optional
        Table name to frame (DataFrame, LazyFrame or anything ``pl.DataFrame`` accepts);
        every input of the transform is needed.
    incremental : bool
        Render and build as an incremental run (``is_incremental()`` is true).
    target : frame, optional
        The existing table of an incremental run (``watermark()`` reads it).
    vars : mapping, optional
        Values for ``{{ var('name') }}``.
    check : bool
        Run the transform's checks too.
    project_dir : str or Path, optional
        The project to find a transform name in (default: the current one).
    workspace : str, optional
        Its workspace.

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    TableNotFoundError
        An input of the transform is missing from ``inputs``.
    CheckError
        ``check=True`` and an ``error`` check failed.

    Examples
    --------
    >>> import polars as pl
    >>> run_transform("silver.sales", {"bronze.sales": pl.read_delta("lake/bronze/sales")}).height
    9
    """
    t = _resolve(name_or_fn, project_dir, workspace)
    frames = {k: _as_lazy(v) for k, v in (inputs or {}).items()}
    missing = [n for n in t.inputs if n not in frames]
    if missing:
        raise TableNotFoundError(f"run_transform needs inputs for {missing}", transform=t.name, file=t.file)
    current = _as_lazy(target) if target is not None else None
    ctx = BuildContext(inputs=frames, is_incremental=incremental, target=current, vars=dict(vars or {}),
                       watermark=(lambda col: watermark(current, col)) if current is not None else None)
    out = t.build(ctx).collect()
    if check:
        results = run_checks(t, out, resolve=lambda n: frames[n])
        failed = [c for c in results if c.blocking]
        if failed:
            raise CheckError("check(s) failed: " + "; ".join(f"{c.name}: {c.message}" for c in failed),
                             transform=t.name, file=t.file, checks=jsonable(results))
    return out


def _resolve(obj: Any, project_dir: str | Path | None, workspace: str | None) -> Transform:
    if isinstance(obj, Transform):
        return obj
    spec = getattr(obj, "__ratatouille__", None)
    if isinstance(spec, PythonTransform):
        return spec
    if callable(obj):
        raise TypeError("run_transform takes a function decorated with @transform")
    text = str(obj)
    if text.endswith(".sql") and Path(text).is_file():
        path = Path(text)
        return SQLTransform.from_file(path, layer=path.parent.name)
    if any(ch.isspace() for ch in text.strip()):
        return SQLTransform.from_text("adhoc.query", text)
    return Project.load(project_dir, workspace=workspace).get(text)



try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def rat_project(tmp_path: Path, monkeypatch: "pytest.MonkeyPatch") -> Iterator[RatProject]:
        """A temporary project with its own local lake, current for the test.

        Landing files written in a test are ingested at once: the fixture sets
        ``RAT_SETTLE_SECONDS=0`` (an ingest YAML's own ``settle_seconds`` still wins).

        Parameters
        ----------
        tmp_path : Path
            pytest's temporary folder (the project is ``tmp_path / "project"``).
        monkeypatch : pytest.MonkeyPatch
            Sets ``RAT_PROJECT_DIR`` and ``RAT_SETTLE_SECONDS`` for the test only.

        Returns
        -------
        RatProject
            Write files with ``.write("silver/x.sql", ...)``, run with ``.run(...)``.

        Examples
        --------
        In a test module (see :class:`RatProject` for a run of the same steps)::

            def test_x(rat_project):
                rat_project.write("silver/x.sql", "SELECT 1 AS a")
                assert rat_project.run("silver.x")["status"] == "success"
        """
        project = RatProject(tmp_path / "project")
        monkeypatch.setenv("RAT_PROJECT_DIR", str(project.root))
        monkeypatch.setenv("RAT_SETTLE_SECONDS", "0")
        for var in ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS"):
            monkeypatch.delenv(var, raising=False)
        yield project
