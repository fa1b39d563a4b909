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

import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import polars as pl

from .transforms import BuildContext, PythonTransform, SQLTransform, Transform

if TYPE_CHECKING:  # annotations only: imported where used (a pytest plugin loads this module early)
    from deltalake import DeltaTable

    from ._lake import Lake
    from .execute import RunResult

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
    from .discover import Project

    return Project.load(project_dir, workspace=workspace).get(text)


class RatProject:
    """A temporary Ratatouille project (see the ``rat_project`` fixture).

    ``lake`` is a local folder (default ``<root>/lake``) or ``s3://bucket/prefix``;
    ``storage_options`` (else ``RAT_STORAGE_OPTIONS``) reach the lake for :meth:`landing`,
    :meth:`files`, :meth:`read_text` and :meth:`table`.

    Parameters
    ----------
    root : Path
        The project folder (created with ``pyproject.toml`` and ``workspaces/default/pipelines``).
    lake : str, optional
        The lake: a local folder or ``s3://bucket/prefix`` (default ``<root>/lake``).
    storage_options : mapping, optional
        How to reach an object-storage lake.

    Examples
    --------
    >>> import tempfile
    >>> project = RatProject(Path(tempfile.mkdtemp()) / "project")
    >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
    >>> project.run("silver.x")["status"], project.read("silver.x")["a"].to_list()
    ('success', [1])
    """

    def __init__(self, root: Path, lake: str | None = None, storage_options: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.lake = lake or str(root / "lake")
        self._storage_options = dict(storage_options) if storage_options is not None else None
        (root / "workspaces" / "default" / "pipelines").mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "{self.lake}"\n')

    def __repr__(self) -> str:
        return f"RatProject({self.root})"

    def write(self, relpath: str, text: str, *, workspace: str = "default") -> Path:
        """Write a pipeline file: ``write("silver/x.sql", "SELECT ...")``.

        Parameters
        ----------
        relpath : str
            The file's path under the workspace's ``pipelines/`` (``layer/name.sql``).
        text : str
            Its content (dedented).
        workspace : str
            The workspace whose ``pipelines/`` receives it.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> project.write("silver/x.sql", "SELECT 1 AS a").relative_to(project.root).as_posix()
        'workspaces/default/pipelines/silver/x.sql'
        """
        path = self.root / "workspaces" / workspace / "pipelines" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    @property
    def lake_handle(self) -> Lake:
        """The project's :class:`~ratatouille._lake.Lake` (local or S3)."""
        from ._lake import Lake

        opts = self._storage_options if self._storage_options is not None else _storage_options()
        return Lake(self.lake, opts)

    def files(self, path: str = "landing/") -> list[str]:
        """Files under a lake path, relative to the lake root, sorted (``_rejected`` included).

        Parameters
        ----------
        path : str
            A folder of the lake.

        Returns
        -------
        list of str
            Empty when the folder does not exist.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.files()
        ['landing/sales/a.csv']
        """
        lake = self.lake_handle
        root = lake._strip(lake.path(path))
        if not lake.fs.exists(root):
            return []
        found = lake.fs.find(root)
        return sorted(lake.relative(lake.full(p)) for p in found)

    def read_text(self, relpath: str) -> str:
        """A file of the lake (``"landing/_rejected/sales/x.csv.reason.txt"``) as text.

        Parameters
        ----------
        relpath : str
            The file's path relative to the lake root.

        Returns
        -------
        str

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.read_text("landing/sales/a.csv")
        'id\\n1\\n'
        """
        lake = self.lake_handle
        return lake.read_bytes(lake.path(relpath)).decode()

    def remove(self, relpath: str) -> None:
        """Delete a file of the lake.

        Parameters
        ----------
        relpath : str
            The file's path relative to the lake root.

        Returns
        -------
        None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.landing("sales/a.csv", "id\\n1\\n")
        >>> project.remove("landing/sales/a.csv")
        >>> project.files()
        []
        """
        lake = self.lake_handle
        lake.fs.rm(lake._strip(lake.path(relpath)))

    def table(self, name: str, workspace: str = "default") -> DeltaTable | None:
        """The ``deltalake.DeltaTable`` of ``name`` (None if not built).

        Parameters
        ----------
        name : str
            ``layer.name``.
        workspace : str
            The workspace whose table is opened.

        Returns
        -------
        deltalake.DeltaTable or None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.table("silver.x") is None
        True
        >>> _ = project.run("silver.x")
        >>> project.table("silver.x").version()
        0
        """
        from .discover import Project

        return Project.load(self.root, workspace=workspace).target(name).open()

    def landing(self, relpath: str, content: str | bytes) -> str:
        """Put a file in the lake's landing zone (local or object storage).

        Parameters
        ----------
        relpath : str
            The file's path under ``landing/``.
        content : str or bytes
            Text is dedented; bytes are written as they are.

        Returns
        -------
        str
            The file's full path in the lake.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> project.landing("sales/a.csv", "id\\n1\\n").endswith("lake/landing/sales/a.csv")
        True
        """
        lake = self.lake_handle
        path = lake.path("landing", relpath)
        data = content.encode() if isinstance(content, str) else content
        lake.fs.makedirs(lake._strip(path).rsplit("/", 1)[0], exist_ok=True)
        with lake.fs.open(lake._strip(path), "wb") as fh:
            fh.write(textwrap.dedent(data.decode()).lstrip().encode() if isinstance(content, str) else data)
        return path

    def run(self, name: Any, **kwargs: Any) -> RunResult:
        """:func:`ratatouille.run` in this project.

        Parameters
        ----------
        name : str, sequence of str, or callable
            What to run, as for :func:`ratatouille.run`.
        **kwargs
            The other arguments of :func:`ratatouille.run` (``full_refresh=``, ``workspace=``...).

        Returns
        -------
        RunResult

        Raises
        ------
        RatatouilleError
            A transform failed.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.run("silver.x")["status"], project.run("silver.x")["status"]
        ('success', 'unchanged')
        """
        from .execute import run

        return run(name, project_dir=str(self.root), **kwargs)

    def query(self, sql: str, **kwargs: Any) -> pl.DataFrame:
        """:func:`ratatouille.query` in this project.

        Parameters
        ----------
        sql : str
            The query.
        **kwargs
            The other arguments of :func:`ratatouille.query` (``workspace=``...).

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        SQLError, TableNotFoundError
            Invalid SQL; an unknown or unbuilt table.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> _ = project.run("silver.x")
        >>> project.query("SELECT a + 1 AS b FROM silver.x")["b"].to_list()
        [2]
        """
        from ._query import query

        return query(sql, project_dir=str(self.root), **kwargs)

    def read(self, name: str, **kwargs: Any) -> pl.DataFrame:
        """:func:`ratatouille.read` in this project, collected.

        Parameters
        ----------
        name : str
            ``layer.name``.
        **kwargs
            The other arguments of :func:`ratatouille.read` (``version=``, ``workspace=``).

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        TableNotFoundError
            No such table, not built yet, or no such version.

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> _ = project.run("silver.x")
        >>> project.read("silver.x", version=0).height
        1
        """
        from ._query import read

        return read(name, project_dir=str(self.root), **kwargs).collect()

    def version(self, name: str, workspace: str = "default") -> int | None:
        """The current Delta version of a table (None if not built).

        Parameters
        ----------
        name : str
            ``layer.name``.
        workspace : str
            The workspace whose table is read.

        Returns
        -------
        int or None

        Examples
        --------
        >>> project = RatProject(Path("scratch").resolve())
        >>> _ = project.write("silver/x.sql", "SELECT 1 AS a")
        >>> project.version("silver.x"), project.run("silver.x")["version"], project.version("silver.x")
        (None, 0, 0)
        """
        from .discover import Project

        t = Project.load(self.root, workspace=workspace).target(name).open()
        return t.version() if t is not None else None


def _storage_options() -> dict[str, str]:
    import json

    return json.loads(os.environ.get("RAT_STORAGE_OPTIONS") or "{}")


class S3Server:
    """A real S3 protocol server for tests: moto's ``ThreadedMotoServer`` on a free 127.0.0.1 port.

    It runs in a child process, not in a thread of the test process: some delta-rs calls
    (``DeltaTable.history()``) keep the GIL while they wait for the network, which would
    deadlock a server thread living in the same interpreter.

    Examples
    --------
    Not run as a doctest: it starts a server process and binds a port (the test suite's
    ``s3_server`` fixture does, once per session).

    >>> server = S3Server.start()                     # doctest: +SKIP
    >>> bucket = server.create_bucket()               # doctest: +SKIP
    >>> server.storage_options["aws_endpoint_url"]    # doctest: +SKIP
    'http://127.0.0.1:50123'
    """

    key_id = "rat-test-key-id"
    secret = "rat-test-SECRET-never-shown-0123456789"  # noqa: S105 - a fake key for the local moto server only
    region = "us-east-1"

    def __init__(self, proc: Any, port: int) -> None:
        self.proc = proc
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._buckets = 0

    def __repr__(self) -> str:
        return f"S3Server({self.endpoint})"

    @classmethod
    def start(cls, timeout: float = 30.0) -> "S3Server":
        import socket
        import subprocess
        import sys
        import time

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        code = ("import time; from moto.server import ThreadedMotoServer as S; "
                f"s = S(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); time.sleep(10**9)")
        proc = subprocess.Popen([sys.executable, "-c", code],  # noqa: S603 - this Python, a fixed script, no shell
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("the moto S3 server did not start (is moto[server] installed?)") from None
                time.sleep(0.05)
        return cls(proc, port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()

    @property
    def storage_options(self) -> dict[str, str]:
        """Options for ``[tool.ratatouille] storage_options`` / ``RAT_STORAGE_OPTIONS``."""
        return {"aws_endpoint_url": self.endpoint, "aws_access_key_id": self.key_id,
                "aws_secret_access_key": self.secret, "aws_region": self.region}

    def client(self) -> Any:  # a boto3 S3 client (boto3 ships no types)
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key_id,
                            aws_secret_access_key=self.secret, region_name=self.region)

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (a fresh name each call unless given)."""
        import uuid

        self._buckets += 1
        name = name or f"rat-{self._buckets}-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return name


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
