"""Integrity attacked as production users and failures would (issue 10), with real processes.

Each test is a hole found by attacking the promise "a run that reports success has all its rows
in the table exactly once, under concurrency and crashes too"; it failed before its fix.
"""

from __future__ import annotations

import polars as pl
import pytest

from test_concurrency import _assert_versions_are_their_commits, _source, run_together

pytestmark = pytest.mark.slow


# -- concurrent incremental appends of one transform on an EXISTING table ---------------------------
APPEND_SQL = """
-- @materialized: incremental
-- @strategy: append
SELECT id, '{{ var("who") }}' AS who FROM bronze.src
{% if is_incremental() %} WHERE id > {{ watermark('id') }} {% endif %}
"""


def test_concurrent_incremental_appends_on_an_existing_table_land_each_new_row_once(lake_project):
    """Three processes run the same watermark append at once after new source rows arrived: each
    computes the same increment from the same snapshot. Before: blind appends, all three committed
    and every new row was in the table three times while each run reported success. Now a run that
    lost the race runs again on the new watermark (nothing new) or fails with "run again"."""
    from deltalake import DeltaTable

    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"id": [1, 2, 3]}))
    p.write("silver/inc.sql", APPEND_SQL)
    p.run("silver.inc", vars={"who": "first"})
    for rnd in range(2):
        base = 10 * (rnd + 1)
        new = list(range(base, base + 4))
        target = __import__("ratatouille.discover", fromlist=["Project"]).Project.load(p.root).target("bronze.src")
        from ratatouille.write import materialization_for
        materialization_for("append").write(target, pl.DataFrame({"id": new}))
        (outcomes,) = run_together(p.root, [[("silver.inc", {"vars": {"who": f"w{w}"}})] for w in range(3)])
        assert any(o[2] == "success" for o in outcomes), outcomes
        df = p.read("silver.inc")
        assert df["id"].is_duplicated().sum() == 0, (rnd, outcomes, df.sort("id"))
        assert sorted(df["id"].to_list()) == [1, 2, 3] + [i for r in range(rnd + 1) for i in range(10 * (r + 1), 10 * (r + 1) + 4)]
        _assert_versions_are_their_commits(p, "silver.inc", outcomes)


def test_full_refresh_during_incremental_appends_never_doubles_rows(lake_project):
    """One process rebuilds (full_refresh) while two run the incremental append, after new source rows
    arrived: whatever order the commits land in, each source row is in the table exactly once."""
    from ratatouille.discover import Project
    from ratatouille.write import materialization_for

    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"id": [1, 2, 3]}))
    p.write("silver/inc.sql", APPEND_SQL)
    p.run("silver.inc", vars={"who": "first"})
    expected = [1, 2, 3]
    for rnd in range(2):
        new = list(range(10 * (rnd + 1), 10 * (rnd + 1) + 4))
        expected += new
        materialization_for("append").write(Project.load(p.root).target("bronze.src"), pl.DataFrame({"id": new}))
        jobs = [[("silver.inc", {"vars": {"who": "full"}, "full_refresh": True})]] + \
            [[("silver.inc", {"vars": {"who": f"w{w}"}})] for w in range(2)]
        (outcomes,) = run_together(p.root, jobs)
        assert any(o[2] == "success" for o in outcomes), outcomes
        df = p.read("silver.inc")
        assert sorted(df["id"].to_list()) == expected, (rnd, outcomes, df.sort("id"))
        _assert_versions_are_their_commits(p, "silver.inc", outcomes)


# -- vacuum with pins in several workspaces ---------------------------------------------------------
def test_vacuum_keeps_every_version_pinned_by_any_workspace(lake_project):
    """alice pins v0, bob pins v1, carol (not pinned) reads default; a vacuum with no retention keeps
    v0's and v1's files, removes the rest, and every workspace still reads what it read before."""
    from ratatouille import query, run, tools
    from ratatouille.workspace import create_workspace

    p = lake_project
    p.write("silver/a.sql", "SELECT 1 AS x")
    run("silver.a")
    create_workspace("alice", pin=True, project_dir=p.root)
    p.write("silver/a.sql", "SELECT 2 AS x")
    run("silver.a")
    create_workspace("bob", pin=True, project_dir=p.root)
    create_workspace("carol", project_dir=p.root)
    for x in (3, 4):
        p.write("silver/a.sql", f"SELECT {x} AS x")
        run("silver.a")
    removed = tools.vacuum("silver.a", retention_hours=0)
    assert removed.kept == {0: ["alice"], 1: ["bob"]}, removed.kept
    assert len(removed) == 1  # v2's file only (v3 is current)
    assert query("SELECT x FROM silver.a", workspace="alice")["x"].to_list() == [1]
    assert query("SELECT x FROM silver.a", workspace="bob")["x"].to_list() == [2]
    assert query("SELECT x FROM silver.a", workspace="carol")["x"].to_list() == [4]
    assert query("SELECT x FROM silver.a")["x"].to_list() == [4]


# -- files in flight: deleted between listing and read ------------------------------------------------
@pytest.mark.parametrize("on_error", ["reject", "fail"])
def test_a_file_deleted_between_listing_and_read_is_not_a_bad_file(lake_project, monkeypatch, on_error):
    """A producer removes (or is replacing) b.csv after the ingest listed it and before it read it.
    The file is not bad input: the other files land, b.csv is neither recorded, nor rejected (nothing
    moved to landing/_rejected/), nor a failed run; once it is back, the next run ingests it once."""
    from ratatouille.transforms.ingest import IngestTransform

    p = lake_project
    p.write("bronze/sales.yaml", f"source: landing/sales/\nformat: csv\non_error: {on_error}\n")
    p.landing("sales/a.csv", "order_id\n1\n")
    p.landing("sales/b.csv", "order_id\n2\n")
    original = IngestTransform.read_file

    def read_after_delete(self, path, lake, **kw):  # the deletion happens right between listing and read
        if str(getattr(path, "rel", path)).endswith("b.csv"):
            p.remove("landing/sales/b.csv")
        return original(self, path, lake, **kw)

    monkeypatch.setattr(IngestTransform, "read_file", read_after_delete)
    result = p.run("bronze.sales")
    monkeypatch.setattr(IngestTransform, "read_file", original)
    assert result["status"] == "success", result
    assert p.read("bronze.sales")["order_id"].to_list() == [1]
    assert not [f for f in p.files("landing/") if "_rejected" in f], p.files("landing/")
    p.landing("sales/b.csv", "order_id\n2\n")
    p.run("bronze.sales")
    assert sorted(p.read("bronze.sales")["order_id"].to_list()) == [1, 2]


# -- folder sensors: whole-second (S3) and start-of-upload modification times --------------------------
def test_folder_sensor_requests_files_landing_in_the_same_second_or_with_an_earlier_time(rat_project):
    """S3's LastModified has whole seconds and, for a multipart upload, is when the upload STARTED.
    b.txt is seen at second T; then a.txt lands stamped T too and c.txt (a long upload) stamped T-20.
    Before: the cursor (newest time, path) made both look old: never requested. Now each is requested
    exactly once."""
    import json
    import os

    import dagster as dg

    from ratatouille.dagster import build_definitions

    p = rat_project
    p.write("silver/a.sql", "SELECT 1 AS x")
    p.write("silver/a.yaml", "triggers:\n  - sensor: landing/drops/\n    status: running\n")
    sensor = next(s for s in build_definitions().sensors if s.name == "silver__a_sensor")
    T = 1_800_000_000.0

    def land(name: str, when: float) -> None:
        path = p.landing(f"drops/{name}", "hello")
        os.utime(p.lake_handle._strip(path), (when, when))

    def tick(cursor):
        data = sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))
        return data.run_requests, data.cursor or cursor

    land("b.txt", T)
    requests, cursor = tick(None)
    assert len(requests) == 1
    land("a.txt", T)  # the same whole second, a smaller path
    requests, cursor = tick(cursor)
    assert len(requests) == 1, cursor
    land("c.txt", T - 20)  # a multipart upload started before b.txt, finished after
    requests, cursor = tick(cursor)
    assert len(requests) == 1, cursor
    requests, cursor = tick(cursor)
    assert not requests  # nothing twice
    assert json.loads(cursor)["path"].endswith("b.txt")


# -- files in flight: a marker older than the file ------------------------------------------------------
def test_a_file_written_after_its_folders_marker_waits_for_the_marker_again(lake_project):
    """A producer reuses a folder: batch 1 (part-0 + _SUCCESS) was ingested; then part-1.csv is being
    written into the same folder, whose _SUCCESS is batch 1's. Before: the old marker made the
    half-written file ready and its cut-off content landed (2.0 for 2.75). Now it waits until the
    marker is written again after it, then lands whole, once."""
    import time

    from ratatouille import run

    p = lake_project
    p.write("bronze/pay.yaml", "source: landing/pay/\nformat: csv\nsettle_seconds: 0\nready_marker: _SUCCESS\n"
            "columns:\n  - name: id\n    type: int64\n  - name: amount\n    type: float64\n")
    p.landing("pay/day=1/part-0.csv", "id,amount\n1,1.5\n")
    p.landing("pay/day=1/_SUCCESS", "")
    assert run("bronze.pay")["files"] == ["landing/pay/day=1/part-0.csv"]
    time.sleep(1.1)  # S3 stamps whole seconds: the new file is a later second than the marker
    p.landing("pay/day=1/part-1.csv", "id,amount\n2,2.")  # still being written
    waiting = run("bronze.pay")
    assert [w["file"] for w in waiting["waiting"]] == ["landing/pay/day=1/part-1.csv"], waiting
    assert "ready marker" in waiting["waiting"][0]["reason"]
    p.landing("pay/day=1/part-1.csv", "id,amount\n2,2.75\n")  # finished
    time.sleep(1.1)
    p.landing("pay/day=1/_SUCCESS", "")  # and the batch marked ready
    assert run("bronze.pay")["files"] == ["landing/pay/day=1/part-1.csv"]
    df = p.read("bronze.pay").sort("id")
    assert df["amount"].to_list() == [1.5, 2.75]


# -- sensors: a file changed in place after it landed, with on_change: reingest -------------------------
def test_landing_sensor_requests_a_file_changed_in_place_with_on_change_reingest(rat_project):
    """orders.csv was ingested; then the producer corrects it in place. With on_change: reingest the
    next ingest replaces its rows, but before the sensor never requested that run (the table holds the
    file by name): the correction waited for an unrelated new file. Now it is requested at once, the
    run replaces the rows (no old row left, none doubled), and nothing more is requested after."""
    import dagster as dg

    from ratatouille.dagster import build_definitions
    from test_sensor_retry import Harness

    p = rat_project
    p.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\non_change: reingest\n")
    p.landing("orders/a.csv", "id,amount\n1,10\n2,20\n")
    h = Harness.__new__(Harness)
    h.p, h.cursor, h.instance = p, None, dg.DagsterInstance.ephemeral()
    h.defs = build_definitions()
    h.sensor = next(s for s in h.defs.sensors if s.name == "bronze__orders_sensor")
    h.job = h.defs.get_repository_def().get_job(h.sensor.job_name)
    [first] = h.tick().run_requests
    assert h.execute(first)
    assert not h.tick().run_requests
    p.landing("orders/a.csv", "id,amount\n1,11\n2,22\n3,33\n")  # corrected in place
    [fix] = h.tick().run_requests
    assert h.execute(fix)
    df = p.read("bronze.orders").sort("id")
    assert df.select("id", "amount").rows() == [(1, 11), (2, 22), (3, 33)]
    assert not h.tick().run_requests
