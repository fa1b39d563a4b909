"""Unusual paths and names: a project or lake under a folder whose name holds ``#``, ``?``, ``[ ]``...,
landing files and partition values holding them (see also tests/test_paths_with_spaces.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratatouille.testing import RatProject


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str) -> RatProject:
    for var in ("RAT_LAKE", "RAT_WORKSPACE", "RAT_STORAGE_OPTIONS"):
        monkeypatch.delenv(var, raising=False)
    project = RatProject(tmp_path / folder / "project")
    monkeypatch.setenv("RAT_PROJECT_DIR", str(project.root))
    monkeypatch.chdir(project.root)
    return project


@pytest.mark.parametrize("folder", ["issue #12", "why?", "a#b?c d"])
def test_history_and_unchanged_runs_under_a_folder_with_a_hash_or_question_mark(tmp_path, monkeypatch, folder):
    """delta-rs 1.6's ``DeltaTable.history()`` is empty for a local table whose path holds ``#`` or
    ``?``: the runner found no fingerprint (every run rebuilt everything) and ``rat history`` was empty."""
    from ratatouille import tools

    p = _project(tmp_path, monkeypatch, folder)
    p.write("silver/s.sql", "SELECT 1 AS id")
    p.write("gold/g.sql", "SELECT * FROM silver.s")
    assert p.run("*").ok
    again = p.run("*")
    assert [r["status"] for r in again.results] == ["unchanged", "unchanged"]
    assert p.version("silver.s") == 0
    history = tools.history("silver.s")
    assert history["version"].to_list() == [0]
    assert history["transform"].to_list() == ["silver.s"]


@pytest.mark.parametrize("folder", ["[draft]", "a*b", "what?"])
def test_a_glob_source_finds_its_files_under_a_lake_folder_with_glob_characters(tmp_path, monkeypatch, folder):
    """A ``source:`` glob (``landing/raw/*.csv``) was expanded with the lake's own path unescaped:
    under ``[draft]`` no landing file was ever found."""
    p = _project(tmp_path, monkeypatch, folder)
    p.write("bronze/raw.yaml", "source: landing/raw/*.csv\nformat: csv\n")
    p.landing("raw/a [1].csv", "id\n1\n2\n")
    p.landing("raw/b.csv", "id\n3\n")
    result = p.run("bronze.raw")
    assert result["status"] == "success" and result["rows_written"] == 3
    assert sorted(p.query("SELECT DISTINCT _source_file FROM bronze.raw")["_source_file"].to_list()) == [
        "landing/raw/a [1].csv", "landing/raw/b.csv"]
    assert p.run("bronze.raw")["status"] == "unchanged"


def test_a_pinned_workspace_pins_the_tables_of_a_lake_under_a_folder_with_brackets(tmp_path, monkeypatch):
    """The lake's tables were found by a glob of ``<lake>/*/*/_delta_log`` with the lake's path
    unescaped: under ``[draft]`` a pinned workspace pinned nothing."""
    from ratatouille import workspace

    p = _project(tmp_path, monkeypatch, "[draft]")
    p.write("silver/s.sql", "SELECT 1 AS id")
    assert p.run("silver.s").ok
    workspace.create_workspace("alice", pin=True)
    pins = (p.root / "workspaces" / "alice" / "pins.yaml").read_text()
    assert "silver.s" in pins


def test_a_write_delta_rs_cannot_make_under_a_folder_with_brackets_is_a_clear_error(tmp_path, monkeypatch):
    """delta-rs' own writer panics on a local path holding ``[`` or ``]`` (a ``PanicException``, which
    is no ``Exception``: it went past the run's error handling, without the other results). A
    partition run goes through that writer: now a StorageError naming the cause, nothing written,
    and the staged writes (a whole table, replace_partitions) still work there."""
    from ratatouille import StorageError

    p = _project(tmp_path, monkeypatch, "[draft]")
    p.write("bronze/raw.sql", "SELECT * FROM (VALUES (1, 'a b'), (2, 'x#y')) AS v(id, city)")
    p.write("silver/pt.sql", "-- @partition_by: city\nSELECT id, city FROM bronze.raw")
    p.write("silver/pt.yaml", 'partitions: ["a b", "x#y"]\n')
    assert p.run("*").ok
    with pytest.raises(StorageError, match=r"delta-rs cannot write a table whose local path holds '\[' or '\]'"):
        p.run("silver.pt", partition="a b")
    assert p.version("silver.pt") == 0
    assert sorted(p.read("silver.pt")["city"].to_list()) == ["a b", "x#y"]


def _s3_project(s3_server, tmp_path, monkeypatch, prefix: str) -> RatProject:
    import json

    bucket = s3_server.create_bucket()
    project = RatProject(tmp_path / "project", lake=f"s3://{bucket}/{prefix}", storage_options=s3_server.storage_options)
    monkeypatch.setenv("RAT_PROJECT_DIR", str(project.root))
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps(s3_server.storage_options))
    for var in ("RAT_LAKE", "RAT_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    return project


def test_an_s3_lake_under_a_prefix_with_a_space_is_read(s3_server, tmp_path, monkeypatch):
    """delta-rs names the files of ``s3://bkt/my lake/...`` ``s3://bkt/my%20lake/...`` and Polars escaped
    that ``%`` again (``my%2520lake``): no table of such a lake could be read, so nothing downstream ran."""
    p = _s3_project(s3_server, tmp_path, monkeypatch, "my lake")
    p.write("bronze/raw.yaml", "source: landing/raw/\nformat: csv\n")
    p.write("silver/s.sql", "-- @partition_by: city\nSELECT id, city FROM bronze.raw")
    p.write("gold/g.sql", "SELECT count(*) AS n FROM silver.s")
    p.landing("raw/a b%20.csv", "id,city\n1,New York\n2,100%\n")
    result = p.run("*")
    assert [r["status"] for r in result.results] == ["success", "success", "success"]
    assert p.read("gold.g")["n"].to_list() == [2]
    assert sorted(p.read("silver.s")["city"].to_list()) == ["100%", "New York"]
    assert p.query("SELECT DISTINCT _source_file FROM bronze.raw")["_source_file"].to_list() == ["landing/raw/a b%20.csv"]
    assert [r["status"] for r in p.run("*").results] == ["unchanged"] * 3


@pytest.mark.parametrize("prefix", ["x#y", "why?", "a%20b"])
def test_an_s3_lake_whose_location_delta_rs_reads_as_a_url_is_refused(s3_server, tmp_path, monkeypatch, prefix):
    """``s3://bkt/x#y`` made delta-rs write every table at ``s3://bkt/x/`` (``#y/...`` is a URL fragment):
    all tables in one place, outside the lake; ``a%20b`` put the tables at ``a b/`` and the landing zone at
    ``a%20b/``."""
    from ratatouille import ConfigError

    p = _s3_project(s3_server, tmp_path, monkeypatch, prefix)
    p.write("silver/s.sql", "SELECT 1 AS id")
    p.write("silver/t.sql", "SELECT 2 AS id")
    with pytest.raises(ConfigError, match="must not hold '#', '\\?' or a %-escape"):
        p.run("*")
    assert s3_server.storage_options and not p.lake_handle.fs.find(p.lake.split("://", 1)[1].split("/", 1)[0])


def test_the_cli_prints_paths_and_values_with_brackets_as_they_are(tmp_path, monkeypatch):
    """The CLI prints through rich, which read ``[draft]`` in a path, a landing file name or a value as
    markup and dropped it: ``rat ls`` listed ``.../ /lake/landing/raw/a .csv`` and ``rat query`` showed
    ``[1]`` as an empty cell."""
    from typer.testing import CliRunner

    from ratatouille.cli import app

    p = _project(tmp_path, monkeypatch, "[draft]")
    p.write("bronze/raw.yaml", "source: landing/raw/\nformat: csv\n")
    p.landing("raw/a [1].csv", "id,tag\n1,[1]\n2,[bold]x\n")
    assert p.run("bronze.raw").ok
    cli = CliRunner()
    listed = cli.invoke(app, ["ls", "landing/"])
    assert listed.exit_code == 0
    assert str(tmp_path / "[draft]" / "project" / "lake" / "landing" / "raw" / "a [1].csv") in listed.output
    shown = cli.invoke(app, ["query", "SELECT tag FROM bronze.raw ORDER BY id"])
    assert shown.exit_code == 0 and "[1]" in shown.output and "[bold]x" in shown.output
    created = cli.invoke(app, ["workspace", "create", "bob"])
    assert created.exit_code == 0 and str(tmp_path / "[draft]" / "project" / "workspaces" / "bob") in created.output


def test_a_glob_of_folders_and_a_linked_folder_with_brackets_are_read(tmp_path, monkeypatch):
    """A glob matching folders (``landing/*/``, documented with ``_landing.glob_names_files``) found no
    file: the folders it matched were skipped, so a folder named ``sales [eu]`` could not be a source
    even escaped (``landing/sales [[]eu]/``, ``landing/sales[?]/`` recursed forever); a linked folder
    inside the lake named ``eu [1]`` was listed again as a glob and its files were lost."""
    import os

    p = _project(tmp_path, monkeypatch, "plain")
    p.write("bronze/every.yaml", "source: landing/*/\nformat: csv\n")
    p.write("bronze/eu.yaml", 'source: "landing/sales [[]eu]/"\nformat: csv\n')
    p.write("bronze/q.yaml", 'source: "landing/sales[?]/"\nformat: csv\n')
    p.write("bronze/linked.yaml", "source: landing/in/\nformat: csv\n")
    p.landing("sales [eu]/a.csv", "id\n1\n")
    p.landing("sales?/b.csv", "id\n2\n")
    elsewhere = Path(p.lake) / "elsewhere" / "eu"
    elsewhere.mkdir(parents=True)
    (elsewhere / "c.csv").write_text("id\n3\n")
    (Path(p.lake) / "landing" / "in").mkdir()
    os.symlink(elsewhere, Path(p.lake) / "landing" / "in" / "eu [1]")
    results = {r["table"]: r for r in p.run("*").results}
    assert results["bronze.eu"]["files"] == ["landing/sales [eu]/a.csv"]
    assert results["bronze.q"]["files"] == ["landing/sales?/b.csv"]
    assert results["bronze.linked"]["files"] == ["landing/in/eu [1]/c.csv"]
    assert sorted(results["bronze.every"]["files"]) == ["landing/in/eu [1]/c.csv", "landing/sales [eu]/a.csv",
                                                        "landing/sales?/b.csv"]
    assert all(r["status"] == "unchanged" for r in p.run("*").results)


@pytest.mark.parametrize("folder", ['say "hi"', "l'été \"42\""])
def test_the_testing_project_works_under_a_folder_with_a_double_quote(tmp_path, monkeypatch, folder):
    """``RatProject`` wrote ``lake = "<path>"`` into pyproject.toml as it was: a folder named with ``"``
    made the TOML invalid. (A backslash or a tab in a lake's path is refused by delta-rs itself.)"""
    p = _project(tmp_path, monkeypatch, folder)
    p.write("silver/s.sql", "SELECT 1 AS id")
    assert p.run("silver.s").ok
    assert (tmp_path / folder / "project" / "lake" / "silver" / "s" / "_delta_log").is_dir()
