"""The lake is a boundary (issue 9, items 2, 3, 5, 6; issue 10, item 7).

Names and paths cannot reach outside the lake, ingest reads only the landing zone, symbolic
links are followed only inside the lake, ``rat init`` never writes through a link, the package
passes ruff's security rules, and storage secrets never reach any output. Every test runs real
parts: real Delta tables in tmp folders, the moto S3 server, the ``rat`` command in a process,
really materialized Dagster assets. (SQL table functions and Jinja: tests/test_sql_guard.py and
tests/test_jinja_sandbox.py.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from ratatouille import ConfigError, RatatouilleError, tools
from ratatouille._lake import Lake
from ratatouille.cli import main as rat_main
from ratatouille.errors import SQLError, WorkspaceError

REPO = Path(__file__).resolve().parents[1]
ESCAPE = "bronze./../../../other/lake/silver/t"


# -- helpers ----------------------------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["COLUMNS"] = "200"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def rat(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """The real ``rat`` command in its own process."""
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(**env), timeout=180)


def other_lake(tmp_path: Path) -> Path:
    """A second project's lake beside the test project (``<tmp>/other/lake``) with a Delta table
    ``silver/t`` that has a file no longer referenced (what a vacuum would delete)."""
    table = tmp_path / "other" / "lake" / "silver" / "t"
    write_deltalake(str(table), pl.DataFrame({"x": [1, 2]}).to_arrow())
    write_deltalake(str(table), pl.DataFrame({"x": [3]}).to_arrow(), mode="overwrite")
    return table


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def _ingest(project, source: str = "landing/orders/", on_error: str = "reject") -> Path:
    return project.write("bronze/orders.yaml", f"source: {source}\nformat: csv\non_error: {on_error}\n")


# -- 9.2: one name validator, one containment check -------------------------------------------------
def test_rat_vacuum_cannot_delete_another_projects_files(rat_project, tmp_path):
    assert rat_project.root == tmp_path / "project"  # lake/bronze/../../../ is tmp_path
    victim = other_lake(tmp_path)
    before = files_under(victim)
    out = rat("vacuum", ESCAPE, "--retention-hours", "0", cwd=rat_project.root)
    assert out.returncode == 1
    assert "invalid table name" in out.stderr
    assert files_under(victim) == before
    assert DeltaTable(str(victim)).version() == 1


@pytest.mark.parametrize("command", [
    ["vacuum", "--retention-hours", "0"], ["optimize"], ["history"], ["lineage"], ["run"], ["check"],
    ["diff", "-w", "alice"], ["promote", "-w", "alice", "--yes"],
])
def test_every_rat_command_refuses_a_name_that_leaves_the_lake(rat_project, tmp_path, capsys, command):
    rat_project.write("silver/ok.sql", "SELECT 1 AS x")
    (rat_project.root / "workspaces" / "alice" / "pipelines").mkdir(parents=True)
    victim = other_lake(tmp_path)
    before = files_under(victim)
    args = [command[0], ESCAPE, *command[1:]]
    rc = rat_main(args)
    err = capsys.readouterr().err
    assert rc != 0
    assert "invalid" in err and "name" in err, err
    assert files_under(victim) == before


def test_tools_refuse_names_and_paths_outside_the_lake(lake_project, tmp_path):
    if str(lake_project.lake).startswith("s3://"):
        # another prefix of the same bucket, written by hand: tools must not reach it
        other = Lake(f"s3://{lake_project.bucket}/other", lake_project.lake_handle.storage_options)
        other.write_text(other.path("secret.txt"), "not yours")
        outside_names = ["bronze./../../other/x", "bronze.x/../../../other"]
    else:
        other_lake(tmp_path)
        outside_names = [ESCAPE, "bronze..", "../x.y"]
    lake_project.landing("orders/a.csv", "id\n1\n")
    for name in outside_names:
        for call in (tools.history, tools.optimize, tools.vacuum, tools.schema, tools.preview, tools.lineage,
                     tools.diff):
            with pytest.raises(ConfigError, match="invalid table name"):
                call(name)
    for path in ("../..", "..", "landing/../../..", "landing/../../other/"):
        with pytest.raises(ConfigError, match="outside the lake"):
            tools.ls(path)
    assert tools.ls("landing/") and all("/landing/orders/" in p for p in tools.ls("landing/"))


def test_history_and_optimize_leave_the_other_lake_untouched(rat_project, tmp_path):
    victim = other_lake(tmp_path)
    with pytest.raises(ConfigError):
        tools.optimize(ESCAPE)
    with pytest.raises(ConfigError):
        tools.history("bronze./../../../other/lake/silver/t")
    assert DeltaTable(str(victim)).version() == 1


def test_query_refuses_quoted_names_that_leave_the_lake(lake_project, tmp_path):
    lake_project.write("silver/ok.sql", "SELECT 1 AS x")
    lake_project.run("silver.ok")
    if not str(lake_project.lake).startswith("s3://"):
        other_lake(tmp_path)
    for sql in ('SELECT * FROM "bronze./../../../other/lake/silver/t"',
                'SELECT * FROM bronze."/../../../other/lake/silver/t"',
                'SELECT * FROM bronze."../../other/lake/silver/t"',
                'SELECT * FROM "bronze"."../t"',
                'SELECT * FROM silver.ok JOIN bronze."x/../../y" USING (x)'):
        with pytest.raises(RatatouilleError) as info:
            lake_project.query(sql)
        assert isinstance(info.value, SQLError), (sql, info.value)
    assert lake_project.query("SELECT x FROM silver.ok")["x"].to_list() == [1]


def test_read_run_and_workspaces_validate_names(rat_project):
    from ratatouille import read, run
    from ratatouille.workspace import create_workspace, pin_workspace, reset_workspace
    from ratatouille.dagster import build_definitions

    with pytest.raises(ConfigError, match="invalid table name"):
        read(ESCAPE)
    with pytest.raises(ConfigError, match="invalid table name"):
        run(ESCAPE)
    for bad in ("../x", "a/b", "..", "Alice"):
        with pytest.raises(WorkspaceError):
            create_workspace(bad)
        with pytest.raises(WorkspaceError):
            run("silver.x", workspace=bad)
        with pytest.raises(WorkspaceError):
            reset_workspace(bad)
        with pytest.raises(WorkspaceError):
            pin_workspace(bad)
        with pytest.raises(WorkspaceError):
            build_definitions(workspace=bad)
    assert not (rat_project.root / "x").exists()


def test_a_transform_reading_a_name_that_leaves_the_lake_fails_alone(rat_project, tmp_path):
    victim = other_lake(tmp_path)
    sql = rat_project.write("silver/x.sql", 'SELECT * FROM bronze."../../../other/lake/silver/t"')
    py = rat_project.write("gold/y.py", """
        from ratatouille import transform

        @transform("gold.y", inputs=["bronze./../../../other/lake/silver/t"])
        def y(t):
            return t
    """)
    rat_project.write("silver/ok.sql", "SELECT 1 AS x")
    for name, file in (("silver.x", sql), ("gold.y", py)):
        with pytest.raises(ConfigError) as info:
            rat_project.run(name)
        assert info.value.transform == name and info.value.file == str(file) and "not a table name" in str(info.value)
    assert rat_project.run("silver.ok")["status"] == "success"  # the others still load and run
    assert DeltaTable(str(victim)).version() == 1

    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    defs = build_definitions()  # one bad transform never breaks the code location
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    keys = {k.to_user_string() for a in assets for k in a.keys}
    assert {"silver/x", "gold/y", "silver/ok"} <= keys
    failed = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                            selection=[dg.AssetKey(["silver", "x"])])
    assert not failed.success
    assert DeltaTable(str(victim)).version() == 1


def test_the_lake_checks_every_location_it_touches(tmp_path):
    local = Lake(str(tmp_path / "lake"))
    (tmp_path / "lake" / "landing").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("x")
    for bad in ("../outside.txt", "landing/../../outside.txt"):
        with pytest.raises(ConfigError, match="outside the lake"):
            local.path(bad)
    for op in (local.read_bytes, local.exists, local.open):
        with pytest.raises(ConfigError):
            op(str(tmp_path / "outside.txt"))
    with pytest.raises(ConfigError):
        local.move(str(tmp_path / "outside.txt"), local.path("landing", "x.txt"))
    with pytest.raises(ConfigError):
        local.write_text(str(tmp_path / "written.txt"), "x")
    assert not (tmp_path / "written.txt").exists() and (tmp_path / "outside.txt").exists()
    # a linked folder inside the lake that leads out of it is outside too
    os.symlink(tmp_path, tmp_path / "lake" / "landing" / "up")
    with pytest.raises(ConfigError):
        local.read_bytes(local.uri + "/landing/up/outside.txt")
    s3 = Lake("s3://bkt/lake")
    for bad in ("s3://bkt/lake/../other/t", "s3://bkt/lake/./x", "s3://bkt/lakehouse/t", "s3://other/lake/t",
                "bkt/other", "gs://bkt/lake/t"):
        with pytest.raises(ConfigError):
            s3.check(bad)
    with pytest.raises(ConfigError):
        s3.path("..", "other")
    assert s3.path("landing", "a.csv") == "s3://bkt/lake/landing/a.csv"
    with pytest.raises(WorkspaceError):
        s3.table_uri("bronze.x", workspace="../../y")


# -- 9.3: ingest sources --------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["../../outside/", "landing/../../outside/", "/tmp/outside/", "~/data/",
                                    "s3://other-bucket/data/", "http://127.0.0.1:9/x.csv", "file:///etc/",
                                    "sales/", "landing", "./landing/x/", "landing/./x/", "landing\\..\\x"])
def test_ingest_source_outside_the_landing_zone_is_a_config_error(rat_project, tmp_path, source):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bad.csv").write_text("id\n\"broken\n")
    (outside / "good.csv").write_text("id\n1\n")
    yaml = _ingest(rat_project, json.dumps(source))
    with pytest.raises(ConfigError) as info:
        rat_project.run("bronze.orders")
    assert str(yaml) in str(info.value) and "source:" in str(info.value)
    assert rat_project.table("bronze.orders") is None
    assert sorted(p.name for p in outside.iterdir()) == ["bad.csv", "good.csv"]
    assert not (rat_project.root / "lake" / "landing" / "_rejected").exists()


def test_rat_run_names_the_yaml_of_a_bad_source(rat_project):
    yaml = _ingest(rat_project, "../../outside/")
    out = rat("run", "bronze.orders", cwd=rat_project.root)
    assert out.returncode == 1
    assert str(yaml) in out.stderr.replace("\n", "") and "landing/" in out.stderr


def test_rejected_files_move_only_within_the_landing_zone(rat_project):
    from ratatouille.transforms._landing import quarantine_paths

    lake = Lake(str(rat_project.root / "lake"))
    for rel in ("../x.csv", "landing/../../x.csv", "bronze/x.csv", "/etc/passwd", "s3://b/landing/x"):
        with pytest.raises(ConfigError):
            quarantine_paths(lake, rel)
    # a quarantine folder, or a reason file, planted as a link out of the landing zone is never written through
    (rat_project.root / "elsewhere").mkdir()
    (rat_project.root / "lake" / "landing" / "_rejected").mkdir(parents=True)
    (rat_project.root / "lake" / "landing" / "_rejected" / "trap").symlink_to(rat_project.root / "elsewhere")
    os.symlink(rat_project.root / "elsewhere" / "x.txt",
               rat_project.root / "lake" / "landing" / "_rejected" / "planted.csv.reason.txt")
    for rel in ("landing/trap/bad.csv", "landing/planted.csv"):
        with pytest.raises(ConfigError):
            quarantine_paths(lake, rel)
    _ingest(rat_project)
    rat_project.landing("orders/good.csv", "id,amount\n1,10\n")
    rat_project.landing("orders/bad.csv", "id,amount\n\"1,10\n")
    result = rat_project.run("bronze.orders")
    assert [r["file"] for r in result["rejected"]] == ["landing/orders/bad.csv"]
    files = rat_project.files()
    assert {"landing/_rejected/orders/bad.csv", "landing/_rejected/orders/bad.csv.reason.txt",
            "landing/orders/good.csv"} <= set(files) and "landing/orders/bad.csv" not in files
    assert list((rat_project.root / "elsewhere").iterdir()) == []


# -- 10.7 / 9.3: symbolic links --------------------------------------------------------------------
def _links(project, tmp_path: Path) -> dict[str, Path]:
    lake = project.root / "lake"
    (lake / "landing" / "orders").mkdir(parents=True, exist_ok=True)
    (lake / "archive").mkdir()
    (lake / "archive" / "inside.csv").write_text("id,amount\n1,10\n2,20\n")
    (tmp_path / "outside.csv").write_text("id,amount\n99,999\n")
    links = {"inside": lake / "landing" / "orders" / "inside.csv",
             "outside": lake / "landing" / "orders" / "outside.csv",
             "dangling": lake / "landing" / "orders" / "dangling.csv"}
    os.symlink("../../archive/inside.csv", links["inside"])
    os.symlink(tmp_path / "outside.csv", links["outside"])
    os.symlink(tmp_path / "missing.csv", links["dangling"])
    return links


def test_linked_landing_file_inside_the_lake_is_listed_and_ingested(rat_project, tmp_path):
    links = _links(rat_project, tmp_path)
    _ingest(rat_project)
    assert tools.ls("landing/orders/") == [str(links["inside"])]
    result = rat_project.run("bronze.orders")
    assert result["status"] == "success" and result["rows_written"] == 2
    df = rat_project.read("bronze.orders")
    assert sorted(df["id"].to_list()) == [1, 2] and set(df["_source_file"]) == {"landing/orders/inside.csv"}
    # the fingerprint is the target's: changing the target (not the link) is seen as a change
    target = rat_project.root / "lake" / "archive" / "inside.csv"
    fp = df["_source_fingerprint"][0]
    assert f"size={target.stat().st_size};" in fp
    target.write_text("id,amount\n1,10\n2,20\n3,30\n")
    os.utime(target, (1_800_000_000, 1_800_000_000))
    changed = rat_project.run("bronze.orders")
    assert changed["changed"] == ["landing/orders/inside.csv"]  # on_change: ignore names it
    assert Lake(str(rat_project.root / "lake")).files("landing/orders/")[0].fingerprint != fp.split("@", 1)[1]


def test_linked_landing_file_outside_the_lake_is_rejected_with_a_reason(rat_project, tmp_path):
    links = _links(rat_project, tmp_path)
    _ingest(rat_project, on_error="skip")
    result = rat_project.run("bronze.orders")
    reasons = {r["file"]: r["reason"] for r in result["rejected"]}
    assert set(reasons) == {"landing/orders/outside.csv", "landing/orders/dangling.csv"}
    assert "outside the lake" in reasons["landing/orders/outside.csv"]
    assert "does not exist" in reasons["landing/orders/dangling.csv"]
    assert 99 not in rat_project.read("bronze.orders")["id"].to_list()
    assert links["outside"].is_symlink() and (tmp_path / "outside.csv").read_text() == "id,amount\n99,999\n"

    # the rat command shows it: in rat ls and in rat run's output
    out = rat("ls", "landing/orders/", cwd=rat_project.root)
    assert out.returncode == 0 and "inside.csv" in out.stdout and "outside.csv" not in out.stdout
    assert "outside.csv" in out.stderr and "outside the lake" in out.stderr.replace("\n", " ")
    (tmp_path / "outside.csv").write_text("id,amount\n98,998\n")
    out = rat("run", "-f", "bronze.orders", cwd=rat_project.root)
    assert "rejected" in out.stderr and "outside.csv" in out.stderr and "outside the lake" in out.stderr


def test_linked_file_out_of_the_lake_with_on_error_reject_is_moved_only_as_a_link(rat_project, tmp_path):
    links = _links(rat_project, tmp_path)
    _ingest(rat_project)
    with pytest.raises(RatatouilleError):  # on_error: fail stops the run
        _ingest(rat_project, on_error="fail")
        rat_project.run("bronze.orders")
    assert rat_project.table("bronze.orders") is None
    _ingest(rat_project)
    result = rat_project.run("bronze.orders")
    moved = {r["file"]: r.get("moved_to") for r in result["rejected"]}
    assert moved["landing/orders/outside.csv"] == "landing/_rejected/orders/outside.csv"
    assert (rat_project.root / "lake" / "landing" / "_rejected" / "orders" / "outside.csv").is_symlink()
    assert (tmp_path / "outside.csv").read_text() == "id,amount\n99,999\n"  # the target never moves
    assert not links["outside"].exists()


def test_linked_landing_folder_is_followed_only_inside_the_lake(rat_project, tmp_path):
    lake = rat_project.root / "lake"
    (lake / "landing" / "orders").mkdir(parents=True)
    (lake / "staging" / "eu").mkdir(parents=True)
    (lake / "staging" / "eu" / "a.csv").write_text("id,amount\n5,50\n")
    (tmp_path / "far").mkdir()
    (tmp_path / "far" / "b.csv").write_text("id,amount\n6,60\n")
    os.symlink(lake / "staging" / "eu", lake / "landing" / "orders" / "eu")
    os.symlink(tmp_path / "far", lake / "landing" / "orders" / "far")
    os.symlink(lake / "landing" / "orders", lake / "landing" / "orders" / "loop")  # a cycle is listed once
    _ingest(rat_project)
    assert tools.ls("landing/orders/") == [str(lake / "landing" / "orders" / "eu" / "a.csv")]
    with pytest.raises(ConfigError, match="outside the lake"):
        tools.ls("landing/orders/far/")
    result = rat_project.run("bronze.orders")
    assert rat_project.read("bronze.orders")["id"].to_list() == [5]
    assert [r["file"] for r in result["rejected"]] == ["landing/orders/far"]
    assert (lake / "landing" / "_rejected" / "orders" / "far").is_symlink()  # the link moved, not its target
    assert (tmp_path / "far" / "b.csv").exists()


@pytest.mark.slow
def test_landing_sensor_requests_a_linked_file_inside_the_lake(rat_project, tmp_path):
    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    _ingest(rat_project)
    rat_project.landing("orders/plain.csv", "id,amount\n7,70\n")
    _links(rat_project, tmp_path)
    sensor = next(s for s in build_definitions().sensors if s.name == "bronze__orders_sensor")
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    assert len(tick.run_requests) == 1 and tick.run_requests[0].tags["ratatouille/new_files"] == "2"


# -- 9.5: rat init ------------------------------------------------------------------------------
def test_rat_init_refuses_symbolic_links_and_non_empty_folders(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "dangling").symlink_to(elsewhere)
    out = rat("init", "dangling", cwd=tmp_path)
    assert out.returncode == 1 and "symbolic link" in out.stderr
    assert not elsewhere.exists()
    out = rat("init", "dangling", "--force", cwd=tmp_path)
    assert out.returncode == 1 and not elsewhere.exists()

    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere)
    for extra in ([], ["--force"]):
        out = rat("init", "linked", *extra, cwd=tmp_path)
        assert out.returncode == 1 and "symbolic link" in out.stderr
    assert list(elsewhere.iterdir()) == []

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    out = rat("init", "busy", cwd=tmp_path)
    assert out.returncode == 1 and "not empty" in out.stderr and not (busy / "pyproject.toml").exists()
    out = rat("init", "busy", "--force", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (busy / "pyproject.toml").exists() and (busy / "notes.txt").read_text() == "mine"

    # a linked folder inside the target never carries the scaffold out of it, --force or not
    trap = tmp_path / "trap"
    trap.mkdir()
    (tmp_path / "victim").mkdir()
    (trap / "workspaces").symlink_to(tmp_path / "victim")
    out = rat("init", "trap", "--force", cwd=tmp_path)
    assert out.returncode == 1 and "symbolic link" in out.stderr
    assert list((tmp_path / "victim").iterdir()) == []


# -- 9.6: the static security lint ----------------------------------------------------------------
def test_package_passes_ruffs_security_rules():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    out = subprocess.run([ruff, "check", "ratatouille"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_security_lint_ignore_carries_a_reason():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in config["select"]
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if (line.strip().startswith('"ratatouille/') and '"S' in line) or line.strip().startswith('"S'):
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, line
    import re

    noqa = re.compile(r"#\s*noqa:\s*((?:[A-Z]+\d+[,\s]*)+)(.*)")
    found = 0
    for path in (REPO / "ratatouille").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = noqa.search(line)
            if m and re.search(r"\bS\d{3}\b", m.group(1)):
                found += 1
                assert len(m.group(2).strip(" -()")) > 10, f"{path}:{n}: an S ignore without a reason: {line}"
    assert found  # the check above did look at the ignores


# -- 6: credentials never appear in output ----------------------------------------------------------
def test_storage_secrets_never_appear_in_output(s3_project, caplog):
    from ratatouille._settings import load_settings
    from ratatouille.discover import Project

    secret = s3_project.s3.storage_options["aws_secret_access_key"]
    assert len(secret) > 12
    _ingest(s3_project)
    s3_project.landing("orders/a.csv", "id,amount\n1,10\n")
    s3_project.landing("orders/bad.csv", "id,amount\n\"1,10\n")
    s3_project.write("silver/orders.sql", "SELECT id, amount * 2 AS double FROM bronze.orders")
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        project = Project.load()
        texts += [repr(project), repr(project.lake), repr(project.settings), str(project.settings),
                  repr(project.lake.delta_options()), repr(project.lake._fsspec_options()),
                  repr(project.target("bronze.orders")), repr(project.settings.storage_options)]
        result = s3_project.run(["bronze.orders", "silver.orders"])
        texts += [json.dumps(dict(result), default=str), repr(result)]
        texts += [json.dumps(dict(r), default=str) for r in result.results]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]

    # the rat command: output of success and of failure, with --debug tracebacks too
    env = {"RAT_PROJECT_DIR": str(s3_project.root), "RAT_STORAGE_OPTIONS": json.dumps(s3_project.s3.storage_options)}
    for args in (["tables"], ["history", "bronze.orders"], ["ls", "landing/"], ["run", "silver.orders"],
                 ["query", "SELECT COUNT(*) AS n FROM silver.orders"], ["run", "bronze.nope"],
                 ["--debug", "vacuum", ESCAPE]):
        out = rat(*args, cwd=s3_project.root, **env)
        texts += [out.stdout, out.stderr]

    # a storage failure: the error message, its repr and its traceback
    bad_opts = {**s3_project.s3.storage_options, "aws_endpoint_url": "http://127.0.0.1:9"}
    broken = Lake(s3_project.lake, bad_opts)
    from ratatouille.write import Target

    for attempt in (lambda: Target(broken.table_uri("bronze.orders"), broken.delta_options(), "bronze.orders").open(),
                    lambda: broken.ls("landing/")):
        try:
            attempt()
        except Exception as exc:  # noqa: BLE001 - whatever it is, it must not carry the secret
            import traceback

            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for debug in ([], ["--debug"]):
        out = rat(*debug, "ls", "landing/", cwd=s3_project.root, RAT_PROJECT_DIR=str(s3_project.root),
                  RAT_STORAGE_OPTIONS=json.dumps(bad_opts), AWS_MAX_ATTEMPTS="1")
        assert out.returncode != 0
        texts += [out.stdout, out.stderr]
    settings = load_settings()
    texts += [repr(settings), repr(vars(settings))]
    leaked = [t for t in texts if secret in t]
    assert not leaked, leaked[0][:2000]


@pytest.mark.slow
def test_dagster_metadata_never_carries_storage_secrets(s3_project):
    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    secret = s3_project.s3.storage_options["aws_secret_access_key"]
    _ingest(s3_project)
    s3_project.landing("orders/a.csv", "id,amount\n1,10\n")
    s3_project.write("silver/orders.sql", "SELECT id, amount * 2 AS double FROM bronze.orders")
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    texts = [repr(a.specs_by_key) for a in assets]
    texts += [repr(e.materialization.metadata) for e in result.get_asset_materialization_events()]
    texts += [repr(e) for e in result.all_events]
    texts += [repr(defs.metadata)] if getattr(defs, "metadata", None) else []
    assert not [t for t in texts if secret in t]


def test_a_hand_edited_promotion_journal_cannot_reach_outside_default(tmp_path):
    import json

    from ratatouille.workspace._journal import FOLDER, JOURNAL, recover

    default = tmp_path / "workspaces" / "default"
    (default / FOLDER / "stage").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    staged = default / FOLDER / "stage" / "0.sql"
    staged.write_text("SELECT 1")
    (default / FOLDER / JOURNAL).write_text(json.dumps({"steps": [
        {"action": "remove", "dest": "../../victim.txt"},
        {"action": "replace", "dest": "../../victim.txt", "staged": f"{FOLDER}/stage/0.sql"}]}))
    assert recover(default) is None  # refused: nothing applied
    assert victim.read_text() == "keep me"
    (default / FOLDER / JOURNAL).write_text(json.dumps({"steps": [
        {"action": "replace", "dest": "pipelines/x.sql", "staged": "../../../victim.txt"}]}))
    assert recover(default) is None
    assert victim.read_text() == "keep me" and not (default / "pipelines" / "x.sql").exists()


def test_an_ingest_read_goes_to_the_file_that_was_checked(tmp_path):
    """The landing file is opened once and its open file checked: swapping the path for a link out of
    the lake after the check cannot redirect the read (ingest reads /proc/self/fd/N)."""
    from ratatouille._lake import Lake

    lake_dir = tmp_path / "lake"
    (lake_dir / "landing").mkdir(parents=True)
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nTOP-SECRET\n")
    good = lake_dir / "landing" / "a.csv"
    good.write_text("id\n1\n")
    lake = Lake(str(lake_dir))
    with lake.pinned(str(good)) as src:
        good.unlink()
        good.symlink_to(secret)  # swapped after the check
        assert pl.read_csv(src)["id"].to_list() == [1]  # still the file that was checked
    with pytest.raises(ConfigError, match="outside the lake"):
        with lake.pinned(str(good)):
            pass  # now a link out of the lake: refused when opened
