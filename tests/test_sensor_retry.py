"""Landing sensors retry (issue 10.6): files of a failed run are requested again on later ticks
(bounded attempts with backoff, visible in the cursor and the log), a file fixed in place is picked
up, and one failing file never holds back the files that landed after it.

Dagster's own sensor test utilities (``build_sensor_context`` with a real instance) and real runs
of the requested job (``execute_in_process`` on that instance) on a real local lake.
"""

from __future__ import annotations

import json
import warnings

import pytest

dg = pytest.importorskip("dagster")

from ratatouille.dagster import build_definitions  # noqa: E402
from ratatouille.dagster._sensors import MAX_ATTEMPTS  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning, module="dagster")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

ORDERS = """
source: landing/orders/
format: csv
on_error: fail
columns:
  - name: amount
    tests: [positive]
"""
SENSOR = "bronze__orders_sensor"


class Harness:
    """One project, one Dagster instance, the ingest sensor and its job."""

    def __init__(self, p):
        self.p = p
        p.write("bronze/orders.yaml", ORDERS)
        p.write("silver/orders.sql", "SELECT id, amount * 2 AS double FROM bronze.orders")
        self.defs = build_definitions()
        self.sensor = next(s for s in self.defs.sensors if s.name == SENSOR)
        self.job = self.defs.get_repository_def().get_job(self.sensor.job_name)
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self):
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor) as ctx:
            data = self.sensor.evaluate_tick(ctx)
        if data.cursor is not None:
            self.cursor = data.cursor
        return data

    def execute(self, request) -> bool:
        result = self.job.execute_in_process(instance=self.instance, tags=request.tags, raise_on_error=False)
        return result.success

    def retries(self) -> dict:
        return json.loads(self.cursor)["retries"]

    def time_passes(self) -> None:
        """The backoff of every pending file has elapsed (the cursor's ``next`` moved to the past)."""
        state = json.loads(self.cursor)
        for entry in state["retries"].values():
            entry["next"] = 0.0
        self.cursor = json.dumps(state)

    def ids(self, table="bronze.orders"):
        t = self.p.table(table)
        return sorted(self.p.read(table)["id"].to_list()) if t is not None else []


def test_a_failed_file_is_retried_and_never_holds_back_later_files(lake_project):
    h = Harness(lake_project)  # a local lake, then S3 (moto): a fix in place is seen by its ETag there
    p = h.p
    p.landing("orders/bad.csv", "id,amount\n1,-5\n")  # the blocking check fails the whole run
    [first] = h.tick().run_requests
    assert not h.execute(first)
    assert h.ids() == []

    p.landing("orders/good.csv", "id,amount\n2,10\n")  # lands after the failing one
    second = h.tick()
    [req] = second.run_requests
    assert json.loads(req.tags["ratatouille/hold_files"]) == ["landing/orders/bad.csv"]
    retries = h.retries()
    assert retries["landing/orders/bad.csv"]["failed"] and retries["landing/orders/bad.csv"]["attempts"] == 1
    assert h.execute(req)
    assert h.ids() == [2] and h.ids("silver.orders") == [2]  # the good file landed, downstream too

    waiting = h.tick()  # the failed file waits for its backoff: no request at every tick
    assert not waiting.run_requests and "wait for their run or retry" in waiting.skip_message

    h.time_passes()
    [retry] = h.tick().run_requests
    assert retry.tags["ratatouille/retry"] == "landing/orders/bad.csv" and retry.tags["ratatouille/attempt"] == "2"
    assert "ratatouille/hold_files" not in retry.tags
    assert not h.execute(retry)  # still bad
    assert h.retries()["landing/orders/bad.csv"]["attempts"] == 2

    p.landing("orders/bad.csv", "id,amount\n1,5\n")  # fixed in place: picked up at once
    [fixed] = h.tick().run_requests
    assert fixed.tags["ratatouille/new_files"] == "1"
    assert h.execute(fixed)
    assert h.ids() == [1, 2]
    done = h.tick()
    assert not done.run_requests and done.skip_message.startswith("no new file")
    assert json.loads(h.cursor)["pending"] == []


@pytest.mark.slow
def test_retries_are_bounded_and_logged(rat_project, capfd):
    h = Harness(rat_project)
    p = h.p
    p.landing("orders/bad.csv", "id,amount\n1,-5\n")
    [req] = h.tick().run_requests
    requests = 1
    assert not h.execute(req)
    while True:
        h.time_passes()
        data = h.tick()
        if not data.run_requests:
            break
        [req] = data.run_requests
        requests += 1
        assert not h.execute(req)
        assert requests <= MAX_ATTEMPTS
    assert requests == MAX_ATTEMPTS
    log = capfd.readouterr().err  # the sensor's log (Dagster's console logger)
    assert "retrying landing/orders/bad.csv (attempt 2 of 5)" in log
    assert "gave up on landing/orders/bad.csv after 5 failed runs" in log
    assert "gave up on 1 file(s)" in data.skip_message and "landing/orders/bad.csv" in data.skip_message
    assert h.retries()["landing/orders/bad.csv"]["gave_up"] is True
    assert not h.tick().run_requests  # stays given up...
    p.landing("orders/bad.csv", "id,amount\n1,7\n")  # ...until the file changes
    [req] = h.tick().run_requests
    assert h.execute(req) and h.ids() == [1]


def test_files_in_flight_are_not_requested_until_settled(rat_project, monkeypatch):
    import os
    import time

    h = Harness(rat_project)
    monkeypatch.setenv("RAT_SETTLE_SECONDS", "30")
    path = h.p.landing("orders/a.csv", "id,amount\n1,1\n")
    data = h.tick()
    assert not data.run_requests and "1 file(s) still in flight" in data.skip_message
    old = time.time() - 60
    os.utime(path, (old, old))
    [req] = h.tick().run_requests
    assert h.execute(req) and h.ids() == [1]
