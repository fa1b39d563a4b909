"""The discovery cache (issue 13.7): a project's transforms are read and parsed once while its
files are unchanged, and a changed, added or removed file is seen on the very next call.

Files are given modification times in the past (``os.utime``), as an editor's save seconds
ago would have: a file modified in the last second is never cached (the "racy" rule of
``discover/_cache.py``), and a test of that rule is below too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import ratatouille
from ratatouille.discover import Project
from ratatouille.discover import _cache
from ratatouille.errors import TableNotFoundError


def _age(root: Path, seconds: float = 60.0) -> None:
    """Set every file and folder under ``root`` to ``seconds`` ago."""
    when = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (when, when))


@pytest.fixture
def tiny(rat_project):
    _cache.clear()
    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/b.sql", "SELECT x + 1 AS y FROM silver.a")
    rat_project.write("gold/c.py", "import polars as pl\nfrom ratatouille import transform\n\n"
                                   "@transform('gold.c', inputs=['silver.b'])\n"
                                   "def c(b: pl.LazyFrame) -> pl.LazyFrame:\n    return b.select(z=pl.col('y') * 10)\n")
    _age(rat_project.root / "workspaces")
    rat_project.run("*")
    return rat_project


def pipelines(p) -> Path:
    return p.root / "workspaces" / "default" / "pipelines"


def test_an_unchanged_project_is_discovered_once(tiny):
    first = Project.load()
    second = Project.load()
    assert sorted(first.transforms) == ["gold.c", "silver.a", "silver.b"]
    # the same transform objects: nothing was read or parsed again
    assert all(second.transforms[n] is first.transforms[n] for n in first.transforms)
    # but each load hands out its own mapping (run() adds decorated functions to it)
    assert second.transforms is not first.transforms
    second.transforms.pop("silver.a")
    assert "silver.a" in Project.load().transforms


def test_a_changed_file_is_seen_on_the_next_query(tiny):
    assert ratatouille.query("SELECT y FROM silver.b")["y"][0] == 2
    old = Project.load().transforms["silver.b"]
    path = pipelines(tiny) / "silver" / "b.sql"
    path.write_text("-- @materialized: view\nSELECT x + 100 AS y FROM silver.a")
    _age(path.parent, 30)  # a different (older) time than before: only the content and mtime changed
    assert Project.load().transforms["silver.b"] is not old
    assert ratatouille.query("SELECT y FROM silver.b")["y"][0] == 101  # now a view over silver.a


def test_a_same_size_rewrite_is_seen(tiny):
    path = pipelines(tiny) / "silver" / "a.sql"
    Project.load()
    path.write_text("SELECT 7 AS x")  # same length as before
    os.utime(path, (time.time() - 20, time.time() - 20))
    tiny.run("silver.a")
    assert ratatouille.query("SELECT x FROM silver.a")["x"][0] == 7


def test_an_added_file_is_seen_on_the_next_call(tiny):
    assert "silver.d" not in Project.load().transforms
    (pipelines(tiny) / "silver" / "d.sql").write_text("SELECT 4 AS w")
    _age(pipelines(tiny), 10)
    assert "silver.d" in Project.load().transforms
    tiny.run("silver.d")
    assert ratatouille.query("SELECT w FROM silver.d")["w"][0] == 4


def test_a_removed_file_is_seen_on_the_next_call(tiny):
    assert "gold.c" in Project.load().transforms
    (pipelines(tiny) / "gold" / "c.py").unlink()
    _age(pipelines(tiny), 10)
    assert "gold.c" not in Project.load().transforms
    with pytest.raises(TableNotFoundError):
        ratatouille.run("gold.c")


def test_an_added_layer_folder_is_seen(tiny):
    Project.load()
    (pipelines(tiny) / "platinum").mkdir()
    (pipelines(tiny) / "platinum" / "e.sql").write_text("SELECT z FROM gold.c")
    _age(pipelines(tiny), 5)
    assert Project.load().get("platinum.e").inputs == ("gold.c",)


def test_a_workspace_sees_its_own_changes_and_defaults(tiny):
    from ratatouille.workspace import create_workspace

    create_workspace("alice", project_dir=tiny.root)
    alice_dir = tiny.root / "workspaces" / "alice" / "pipelines"
    (alice_dir / "silver").mkdir()
    (alice_dir / "silver" / "a.sql").write_text("SELECT 2 AS x")
    _age(tiny.root / "workspaces", 10)
    assert "SELECT 2" in Path(Project.load(workspace="alice").get("silver.a").file).read_text()
    (pipelines(tiny) / "silver" / "f.sql").write_text("SELECT 6 AS f")  # a change in default
    _age(pipelines(tiny), 5)
    assert "silver.f" in Project.load(workspace="alice").transforms


def test_a_just_written_file_is_not_trusted_to_the_cache(tiny):
    """Racy: a file modified within RACY_SECONDS may be rewritten in the same timestamp tick."""
    path = pipelines(tiny) / "silver" / "a.sql"
    path.write_text("SELECT 3 AS x")  # now: mtime within the racy window
    one = Project.load().transforms["silver.a"]
    two = Project.load().transforms["silver.a"]
    assert one is not two  # discovered again each time until the file is old enough
    _age(pipelines(tiny), 5)
    three = Project.load().transforms["silver.a"]
    assert Project.load().transforms["silver.a"] is three


def test_problem_files_are_reported_on_every_load(tiny):
    (pipelines(tiny) / "silver" / "Bad-Name.sql").write_text("SELECT 1")
    _age(pipelines(tiny), 5)
    first, second = Project.load(), Project.load()
    assert len(first.problems) == len(second.problems) == 1
    assert first.problems[0] is not second.problems[0]  # each load gets its own error to attach results to
    assert "Bad-Name" in str(second.problems[0])
