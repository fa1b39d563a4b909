"""Maintenance respects readers (issue 10.8): ``vacuum`` keeps the files of a version a pinned
workspace reads and says so; reading a version whose files are gone is a clear RatatouilleError
naming the table and the version (``read(version=)``, ``query -w``, runs), on a local lake and S3.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from ratatouille import RatatouilleError, StorageError, query, read, run, tools
from ratatouille.workspace import create_workspace
from ratatouille.cli import app


def rat(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def pinned(lake_project):
    """silver.a at v0 (x=1) pinned by workspace alice, then rebuilt twice (v1: x=2, v2: x=3)."""
    p = lake_project
    p.write("silver/a.sql", "SELECT 1 AS x")
    run("silver.a")
    create_workspace("alice", pin=True, project_dir=p.root)
    for x in (2, 3):
        p.write("silver/a.sql", f"SELECT {x} AS x")
        run("silver.a")
    assert p.version("silver.a") == 2
    return p


def test_vacuum_keeps_the_files_a_pin_reads_and_says_so(pinned):
    out = rat("vacuum", "silver.a", "--retention-hours", "0")
    assert out.exit_code == 0, out.output
    assert "removed 1 files" in out.output  # v1's file; v0's is pinned
    assert "kept the files of silver.a v0 (pinned by workspace alice)" in out.output
    assert query("SELECT x FROM silver.a", workspace="alice")["x"].to_list() == [1]
    assert read("silver.a", version=0).collect()["x"].to_list() == [1]
    assert query("SELECT x FROM silver.a")["x"].to_list() == [3]


def test_vacuum_result_lists_kept_versions(pinned):
    removed = tools.vacuum("silver.a", retention_hours=0, dry_run=True)
    assert len(removed) == 1 and removed.kept == {0: ["alice"]}
    assert "pinned by workspace alice" in removed.message


def test_reading_a_vacuumed_version_names_table_and_version(pinned):
    tools.vacuum("silver.a", retention_hours=0)
    with pytest.raises(StorageError) as info:
        read("silver.a", version=1)
    assert "silver.a" in str(info.value) and "version 1" in str(info.value)
    assert not isinstance(info.value, FileNotFoundError)


def test_a_pin_on_vacuumed_files_fails_clearly_for_queries_and_runs(pinned):
    p = pinned
    tools.vacuum("silver.a", retention_hours=0)
    pins = p.root / "workspaces" / "alice" / "pins.yaml"  # a pin recorded by hand on a vacuumed version
    pins.write_text(yaml.safe_dump({"tables": {"silver.a": 1}}))
    with pytest.raises(RatatouilleError) as info:
        query("SELECT x FROM silver.a", workspace="alice")
    assert "silver.a version 1" in str(info.value) and "alice" in str(info.value)
    out = rat("query", "-w", "alice", "SELECT x FROM silver.a")
    assert out.exit_code != 0 and isinstance(out.exception, StorageError)  # main() prints it as one line
    assert "silver.a version 1" in str(out.exception)
    p.write("gold/b.sql", "SELECT x * 10 AS y FROM silver.a", workspace="alice")
    with pytest.raises(RatatouilleError) as info:
        run("gold.b", workspace="alice")
    assert "silver.a version 1" in str(info.value) and not isinstance(info.value, FileNotFoundError)
