"""Shared fixtures. ``rat_project`` comes from the ratatouille.testing plugin."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# keep Dagster quiet and local in tests
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]


# -- object storage: one moto S3 server per session, a fresh bucket per test -------------------------
import json  # noqa: E402

import pytest  # noqa: E402

from ratatouille.testing import RatProject, S3Server  # noqa: E402


@pytest.fixture(autouse=True)
def _ingest_at_once(monkeypatch):
    """Tests write landing files and ingest them at once: no settle time (files in flight,
    transforms/_settle.py), unless a test's ingest YAML sets settle_seconds itself."""
    monkeypatch.setenv("RAT_SETTLE_SECONDS", "0")


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on a free 127.0.0.1 port (in a child process), for the session."""
    server = S3Server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_project(s3_server, tmp_path, monkeypatch):
    """A temporary project whose lake is ``s3://<fresh bucket>/lake`` on the moto server."""
    bucket = s3_server.create_bucket()
    project = RatProject(tmp_path / "project", lake=f"s3://{bucket}/lake", storage_options=s3_server.storage_options)
    monkeypatch.setenv("RAT_PROJECT_DIR", str(project.root))
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps(s3_server.storage_options))
    for var in ("RAT_LAKE", "RAT_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    project.bucket = bucket
    project.s3 = s3_server
    return project


@pytest.fixture(params=["local", "s3"])
def lake_project(request):
    """The same test on a local lake and on an S3 lake (moto), each with a fresh lake."""
    if request.param == "local":
        return request.getfixturevalue("rat_project")
    return request.getfixturevalue("s3_project")


# -- this repository's sample project ----------------------------------------------------------------
@pytest.fixture
def sample(tmp_path, monkeypatch) -> Path:
    """A copy of this repo's project (transforms, landing files, pipelines/) with its own empty lake,
    made the current project (working directory and ``RAT_PROJECT_DIR``)."""
    root = tmp_path / "sample"
    shutil.copytree(REPO / "workspaces", root / "workspaces")
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "lake" / "landing", root / "lake" / "landing", ignore=shutil.ignore_patterns("_rejected"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for var in ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAT_PROJECT_DIR", str(root))
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))  # its pipelines/ package, not another test's copy
    yield root
    for name in [m for m in sys.modules if m == "pipelines" or m.startswith("pipelines.")]:
        sys.modules.pop(name, None)  # the next sample's pipelines/ is another copy


# -- a recording HTTP server (the SQL guard must never contact it) ---------------------------------
import http.server  # noqa: E402
import threading  # noqa: E402


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A tiny real HTTP server on 127.0.0.1 that records every request it gets (``.hits``) and
    answers ``.body`` (a small CSV; a test may set its own)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.hits = []
    server.body = b"a,b\n1,2\n"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/x.csv"
    yield server
    server.shutdown()
    server.server_close()


# pandera imports hypothesis lazily on its first schema check; under pytest that import is rewritten
# (ast.parse), which CPython 3.11.7 does not do safely off the main thread (the Dagster adapter runs
# run() in a worker thread: "AST constructor recursion depth mismatch"). Import it on the main thread.
import hypothesis  # noqa: E402,F401
