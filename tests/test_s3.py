"""Object storage: an ``s3://`` lake on a real S3 protocol server (moto, 127.0.0.1).

Settings and storage options, safe concurrent commits (conditional put, never an unsafe
rename), the tools, and credentials that never show in reprs, logs, errors, results,
the CLI or Dagster metadata.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import polars as pl
import pytest

from ratatouille import RatatouilleError, query, read, run, tools
from ratatouille._lake import Lake
from ratatouille._settings import load_settings
from ratatouille.discover import Project
from ratatouille.write import materialization_for


def test_settings_from_pyproject_and_env(s3_server, tmp_path, monkeypatch):
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.ratatouille]\nlake = "s3://from-file/lake"\n'
        '[tool.ratatouille.storage_options]\naws_region = "eu-west-1"\nAWS_S3_ALLOW_UNSAFE_RENAME = "true"\n')
    for var in ("RAT_LAKE", "RAT_STORAGE_OPTIONS", "RAT_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(root)
    assert settings.lake == "s3://from-file/lake"
    monkeypatch.setenv("RAT_LAKE", "s3://from-env/prefix/")
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps(s3_server.storage_options))
    settings = load_settings(root)
    assert settings.lake == "s3://from-env/prefix"
    assert settings.storage_options["aws_region"] == s3_server.region  # the env wins per key
    lake = Lake(settings.lake, settings.storage_options)
    opts = lake.delta_options()
    assert opts["aws_conditional_put"] == "etag" and opts["aws_allow_http"] == "true"
    assert opts["aws_endpoint_url"] == s3_server.endpoint
    assert not any("unsafe" in k for k in opts)  # never an unsafe rename
    fs_opts = lake._fsspec_options()
    assert fs_opts["key"] == s3_server.key_id and fs_opts["secret"] == s3_server.secret
    assert fs_opts["endpoint_url"] == s3_server.endpoint and fs_opts["client_kwargs"] == {"region_name": "us-east-1"}
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", "{not json")
    with pytest.raises(RatatouilleError, match="RAT_STORAGE_OPTIONS is not valid JSON"):
        load_settings(root)
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", '["aws_secret_access_key"]')
    with pytest.raises(RatatouilleError, match="must be a JSON object"):
        load_settings(root)


@pytest.mark.parametrize("endpoint_key", ["endpoint", "endpoint_url", "AWS_ENDPOINT"])
def test_any_spelling_of_an_http_endpoint_allows_http(s3_server, tmp_path, monkeypatch, endpoint_key):
    from ratatouille.testing import RatProject

    opts = dict(s3_server.storage_options)
    opts[endpoint_key] = opts.pop("aws_endpoint_url")
    p = RatProject(tmp_path / "p", lake=f"s3://{s3_server.create_bucket()}/lake", storage_options=opts)
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps(opts))
    monkeypatch.delenv("RAT_LAKE", raising=False)
    assert Lake(p.lake, opts).delta_options()["aws_allow_http"] == "true"
    p.write("silver/one.sql", "SELECT 1 AS x")
    assert p.run("silver.one")["version"] == 0 and p.read("silver.one")["x"].to_list() == [1]


def test_the_server_enforces_put_if_absent(s3_server):
    """What delta-rs' conditional put relies on: a PUT with If-None-Match: * fails when the key exists."""
    from botocore.exceptions import ClientError

    bucket = s3_server.create_bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="_delta_log/00000000000000000000.json", Body=b"{}", IfNoneMatch="*")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        client.put_object(Bucket=bucket, Key="_delta_log/00000000000000000000.json", Body=b"{}", IfNoneMatch="*")


def test_concurrent_writers_lose_no_commit(s3_project):
    """Four writers appending at once: every commit lands with its own version (conditional put)."""
    project = Project.load(s3_project.root)
    target = project.target("bronze.concurrent")
    materialization_for("append").write(target, pl.DataFrame({"writer": [-1], "i": [0]}), full_refresh=True)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(4):
                materialization_for("append").write(target, pl.DataFrame({"writer": [w], "i": [i]}))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    table = target.open()
    assert table.version() == 16
    df = target.scan().collect()
    assert df.height == 17 and df.select("writer", "i").unique().height == 17
    assert sorted(h["version"] for h in table.history()) == list(range(17))


def test_tools_query_read_history_and_maintenance_on_s3(s3_project):
    p = s3_project
    p.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\n")
    p.write("silver/sales.sql", "SELECT order_id, qty * 2 AS qty2 FROM bronze.sales")
    for i in range(3):
        p.landing(f"sales/{i}.csv", f"order_id,qty\n{i},{i}\n")
        run("bronze.sales")
    run("silver.sales")
    assert tools.ls("landing/sales/") == [f"s3://{p.bucket}/lake/landing/sales/{i}.csv" for i in range(3)]
    assert tools.ls("landing/sales/*.csv")[0].endswith("/0.csv")
    tables = tools.tables()
    assert dict(zip(tables["table"], tables["version"])) == {"bronze.sales": 2, "silver.sales": 0}
    assert tools.schema("silver.sales") == pl.Schema({"order_id": pl.Int64, "qty2": pl.Int64})
    assert tools.preview("bronze.sales", 2).height == 2
    history = tools.history("bronze.sales")
    assert history["version"].to_list() == [2, 1, 0] and history["transform"].to_list() == ["bronze.sales"] * 3
    assert query("SELECT SUM(qty2) AS s FROM silver.sales")["s"][0] == 6
    assert read("bronze.sales", version=0).collect().height == 1

    metrics = tools.optimize("bronze.sales")
    assert metrics["numFilesRemoved"] == 3 and metrics["numFilesAdded"] == 1
    removed = tools.vacuum("bronze.sales", retention_hours=0)
    assert len(removed) == 3
    assert query("SELECT COUNT(*) AS n FROM bronze.sales")["n"][0] == 3
    assert run("bronze.sales")["status"] == "unchanged"  # the ingested set survives compaction


def _project_with_pipeline(p) -> None:
    p.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\ncolumns:\n  - {name: order_id, type: int64}\n")
    p.write("silver/sales.sql", "SELECT order_id, qty FROM bronze.sales")
    p.landing("sales/a.csv", "order_id,qty\n1,2\n")
    p.landing("sales/bad.csv", "order_id,qty\nx,2\n")


def test_credentials_never_show(s3_project, caplog, monkeypatch):
    p = s3_project
    secret = p.s3.secret
    _project_with_pipeline(p)
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        result = run("silver.sales", upstream=True)
        seen += [json.dumps(result), repr(result)]
        project = Project.load(p.root)
        seen += [repr(project), repr(project.settings), str(project.settings), repr(project.lake),
                 repr(project.target("bronze.sales")), repr(project.lake.delta_options()),
                 repr(project.lake._fsspec_options()), repr(project.settings.storage_options), repr(p)]
        seen += [str(tools.history("bronze.sales").to_dicts()), str(tools.tables().to_dicts())]
        # errors: a missing bucket, an unreachable endpoint, a bad option value
        for lake, options in [(f"s3://no-such-bucket-{p.bucket}/lake", p.s3.storage_options),
                              (p.lake, {**p.s3.storage_options, "aws_endpoint_url": "http://127.0.0.1:9"}),
                              (p.lake, {**p.s3.storage_options, "aws_allow_http": "maybe"})]:
            monkeypatch.setenv("RAT_LAKE", lake)
            monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps({**options, "aws_max_retries": "0",
                                                                  "aws_retry_timeout": "1s"}))
            for call in (lambda: run("bronze.sales"), lambda: query("SELECT * FROM bronze.sales"),
                         lambda: tools.history("bronze.sales")):
                try:
                    call()
                except Exception as exc:  # noqa: BLE001 - any failure, any type: its text must be clean
                    seen += [str(exc), repr(exc)]
                    cause = exc.__cause__ or exc.__context__
                    while cause is not None:
                        seen.append(str(cause))
                        cause = cause.__cause__ or cause.__context__
        monkeypatch.delenv("RAT_LAKE")
        monkeypatch.setenv("RAT_STORAGE_OPTIONS", json.dumps(p.s3.storage_options))
    seen += [r.getMessage() for r in caplog.records]
    assert any("rejected landing/sales/bad.csv" in s for s in seen)
    assert len(seen) > 20
    leaks = [s for s in seen if secret in s]
    assert not leaks, leaks[:3]


def test_cli_output_never_shows_credentials(s3_project):
    p = s3_project
    _project_with_pipeline(p)
    env = {k: v for k, v in __import__("os").environ.items()}
    outputs = []
    for args in (["run", "silver.sales", "+silver.sales"], ["ls", "landing/"], ["history", "bronze.sales"],
                 ["--debug", "run", "gold.nope"], ["query", "SELECT * FROM bronze.nope"]):
        proc = subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=p.root, env=env,
                              capture_output=True, text=True, timeout=120)
        outputs.append(proc.stdout + proc.stderr)
    assert "landing/sales/a.csv" in outputs[1]
    assert not [o for o in outputs if p.s3.secret in o]


def test_dagster_metadata_never_shows_credentials(s3_project):
    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    p = s3_project
    _project_with_pipeline(p)
    defs = build_definitions(p.root)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(assets, instance=instance, raise_on_error=False)
    assert result.success
    mats = [e.materialization for e in result.get_asset_materialization_events()]
    bronze = next(m for m in mats if m.asset_key == dg.AssetKey(["bronze", "sales"]))
    assert bronze.metadata["dagster/uri"].value.startswith(f"s3://{p.bucket}/lake/bronze/sales")
    text = [str(m.metadata) for m in mats] + [str(e) for e in result.all_events]
    text += [str(r) for r in instance.all_logs(result.run_id)]
    assert not [t for t in text if p.s3.secret in t]


def test_an_incremental_run_with_nothing_new_makes_no_commit_on_any_lake(lake_project):
    p = lake_project
    p.write("bronze/src.sql", "SELECT 1 AS id UNION ALL SELECT 2 AS id")
    p.write("silver/inc.sql", "-- @materialized: incremental\nSELECT id FROM bronze.src\n"
                              "{% if is_incremental() %}WHERE id > {{ watermark('id') }}{% endif %}")
    p.run("bronze.src")
    assert p.run("silver.inc")["version"] == 0
    again = p.run("silver.inc")
    assert again["status"] == "unchanged" and again["version"] == 0 and p.version("silver.inc") == 0
