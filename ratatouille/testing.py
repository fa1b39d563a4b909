"""Pytest helpers for transforms (registered as a pytest plugin when Ratatouille is installed).

* :func:`run_transform` runs any transform, SQL included, on in-memory frames,
  with no lake at all, and returns a ``pl.DataFrame``.
* The ``rat_project`` fixture gives a temporary project with its own lake,
  made current for the test (``RAT_PROJECT_DIR``).

Example
-------
>>> import polars as pl
>>> from ratatouille.testing import run_transform
>>> out = run_transform("SELECT id FROM bronze.x WHERE id > 1", inputs={"bronze.x": pl.DataFrame({"id": [1, 2]})})
>>> out["id"].to_list()
[2]
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import polars as pl

from .transforms import BuildContext, PythonTransform, SQLTransform, Transform

__all__ = ["RatProject", "rat_project", "run_transform"]


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
    """Run a transform on in-memory frames and return its output.

    ``name_or_fn`` is a function decorated with ``@transform``, a transform
    name from the project (``"silver.sales"``), a path to a ``.sql`` file, or
    SQL text. ``inputs`` maps table names to frames (DataFrame, LazyFrame or
    anything ``pl.DataFrame`` accepts). With ``check=True`` the transform's
    checks run too and an ``error`` failure raises :class:`~ratatouille.CheckError`.
    """
    t = _resolve(name_or_fn, project_dir, workspace)
    frames = {k: _as_lazy(v) for k, v in (inputs or {}).items()}
    missing = [n for n in t.inputs if n not in frames]
    if missing:
        from .errors import TableNotFoundError

        raise TableNotFoundError(f"run_transform needs inputs for {missing}", transform=t.name, file=t.file)
    current = _as_lazy(target) if target is not None else None
    from .execute import watermark

    ctx = BuildContext(inputs=frames, is_incremental=incremental, target=current, vars=dict(vars or {}),
                       watermark=(lambda col: watermark(current, col)) if current is not None else None)
    out = t.build(ctx).collect()
    if check:
        from .check import jsonable, run_checks
        from .errors import CheckError

        results = run_checks(t, out, resolve=lambda n: frames[n])
        failed = [c for c in results if c.blocking]
        if failed:
            raise CheckError("check(s) failed: " + "; ".join(f"{c.name}: {c.message}" for c in failed),
                             transform=t.name, file=t.file, checks=jsonable(results))
    return out


def _resolve(obj: Any, project_dir, workspace) -> Transform:
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
    from .discover import Project

    return Project.load(project_dir, workspace=workspace).get(text)


class RatProject:
    """A temporary Ratatouille project (see the ``rat_project`` fixture)."""

    def __init__(self, root: Path, lake: str | None = None) -> None:
        self.root = root
        self.lake = lake or str(root / "lake")
        (root / "workspaces" / "default" / "pipelines").mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "{self.lake}"\n')

    def __repr__(self) -> str:
        return f"RatProject({self.root})"

    def write(self, relpath: str, text: str, *, workspace: str = "default") -> Path:
        """Write a pipeline file: ``write("silver/x.sql", "SELECT ...")``."""
        path = self.root / "workspaces" / workspace / "pipelines" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def landing(self, relpath: str, content: str | bytes) -> str:
        """Put a file in the lake's landing zone (local lakes); returns its path."""
        from ._lake import Lake

        lake = Lake(self.lake, _storage_options())
        path = lake.path("landing", relpath)
        data = content.encode() if isinstance(content, str) else content
        lake.fs.makedirs(lake._strip(path).rsplit("/", 1)[0], exist_ok=True)
        with lake.fs.open(lake._strip(path), "wb") as fh:
            fh.write(textwrap.dedent(data.decode()).lstrip().encode() if isinstance(content, str) else data)
        return path

    def run(self, name: Any, **kwargs: Any):
        from .execute import run

        return run(name, project_dir=str(self.root), **kwargs)

    def query(self, sql: str, **kwargs: Any) -> pl.DataFrame:
        from ._query import query

        return query(sql, project_dir=str(self.root), **kwargs)

    def read(self, name: str, **kwargs: Any) -> pl.DataFrame:
        from ._query import read

        return read(name, project_dir=str(self.root), **kwargs).collect()

    def version(self, name: str, workspace: str = "default") -> int | None:
        """The current Delta version of a table (None if not built)."""
        from .discover import Project

        t = Project.load(self.root, workspace=workspace).target(name).open()
        return t.version() if t is not None else None


def _storage_options() -> dict[str, str]:
    import json

    return json.loads(os.environ.get("RAT_STORAGE_OPTIONS") or "{}")


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def rat_project(tmp_path: Path, monkeypatch: "pytest.MonkeyPatch") -> Iterator[RatProject]:
        """A temporary project with its own local lake, current for the test."""
        project = RatProject(tmp_path / "project")
        monkeypatch.setenv("RAT_PROJECT_DIR", str(project.root))
        for var in ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS"):
            monkeypatch.delenv(var, raising=False)
        yield project
