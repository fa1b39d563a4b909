"""Independent branches overlap (execute/_schedule.py): correctness, not timing.

Many independent branches on the S3 server: every table right, results in the run's order whatever
the order they finished in, a failure raising after the independent branches finished with every
result, downstream of a failure skipped, callbacks in the calling thread."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from ratatouille import RatatouilleError, run, transform
from ratatouille.errors import ConfigError
from ratatouille.execute._schedule import workers_for

BRANCHES = 8


def _branches(p, broken: int | None = None) -> None:
    p.write("bronze/src.yaml", "source: landing/src/\nformat: csv\n")
    p.landing("src/a.csv", "id,v\n" + "".join(f"{i},{i * 10}\n" for i in range(1, 6)))
    for i in range(BRANCHES):
        col = "nope" if i == broken else "v"
        p.write(f"silver/s{i}.sql", f"SELECT id, {col} * {i + 1} AS v FROM bronze.src")  # noqa: S608
        p.write(f"gold/g{i}.sql", f"SELECT SUM(v) AS total, COUNT(*) AS n FROM silver.s{i}")  # noqa: S608


def _order(result) -> list[str]:
    return [r["table"] for r in result.results]


@pytest.mark.slow
def test_independent_branches_on_s3_all_tables_right_in_order(s3_project):
    p = s3_project
    _branches(p)
    events: list[tuple[str, str, str]] = []
    result = run("*", threads=4, on_event=lambda e, n, r: events.append((e, n, threading.current_thread().name)))
    assert result["status"] == "success"
    for i in range(BRANCHES):
        assert p.read(f"gold.g{i}").rows() == [(150 * (i + 1), 5)]
        assert p.version(f"silver.s{i}") == 0 and p.version(f"gold.g{i}") == 0
    # results in the run's topological order, the same as a serial run's
    order = _order(result)
    assert order[0] == "bronze.src" and len(order) == 1 + 2 * BRANCHES
    for i in range(BRANCHES):
        assert order.index(f"silver.s{i}") < order.index(f"gold.g{i}")
    p.landing("src/b.csv", "id,v\n6,60\n")
    serial = run("*", threads=1)
    assert _order(serial) == order
    assert p.read("gold.g0").rows() == [(210, 6)]
    # every callback in the calling thread, each transform started before it ended
    assert {thread for _, _, thread in events} == {threading.current_thread().name}
    for name in order:
        assert events.index(("start", name, threading.current_thread().name)) < \
            events.index(("end", name, threading.current_thread().name))


@pytest.mark.slow
def test_failure_in_one_branch_on_s3_others_finish_downstream_skipped(s3_project):
    p = s3_project
    _branches(p, broken=3)
    with pytest.raises(RatatouilleError) as info:
        run("*", threads=4)
    results = info.value.results
    statuses = {r["table"]: r["status"] for r in results}
    assert statuses["silver.s3"] == "failed" and statuses["gold.g3"] == "skipped"
    assert "upstream" in next(r for r in results if r["table"] == "gold.g3")["reason"]
    for i in (0, 1, 2, 4, 5, 6, 7):
        assert statuses[f"silver.s{i}"] == statuses[f"gold.g{i}"] == "success"
        assert p.read(f"gold.g{i}").rows() == [(150 * (i + 1), 5)]
    assert p.version("silver.s3") is None and p.version("gold.g3") is None
    # the same results in the same order as a serial run of the same project
    p.write("silver/s3.sql", "SELECT id, nope * 4 AS v FROM bronze.src")  # still broken
    with pytest.raises(RatatouilleError) as serial:
        run("*", threads=1)
    assert [r["table"] for r in serial.value.results] == [r["table"] for r in results]


def test_independent_transforms_really_run_at_the_same_time(rat_project):
    met = threading.Barrier(2, timeout=60)  # only passes when both run at once (else BrokenBarrierError)

    @transform("gold.left", inputs=[], materialized="table")
    def left() -> pl.LazyFrame:
        met.wait()
        return pl.LazyFrame({"x": [1]})

    @transform("gold.right", inputs=[], materialized="table")
    def right() -> pl.LazyFrame:
        met.wait()
        return pl.LazyFrame({"x": [2]})

    result = run([left, right], threads=2)
    assert [r["status"] for r in result.results] == ["success", "success"]
    assert rat_project.read("gold.left")["x"].to_list() == [1] and rat_project.read("gold.right")["x"].to_list() == [2]


def test_one_thread_runs_in_the_calling_thread(rat_project):
    seen: list[str] = []

    @transform("gold.one", inputs=[], materialized="table")
    def one() -> pl.LazyFrame:
        seen.append(threading.current_thread().name)
        return pl.LazyFrame({"x": [1]})

    assert run(one, threads=1)["status"] == "success"
    assert seen == [threading.current_thread().name]


def test_threads_setting(monkeypatch):
    monkeypatch.delenv("RAT_THREADS", raising=False)
    assert workers_for("s3://b/lake") == 4 and workers_for("/data/lake") == 2
    assert workers_for("/data/lake", setting=3) == 3
    monkeypatch.setenv("RAT_THREADS", "6")
    assert workers_for("s3://b/lake", setting=3) == 6 and workers_for("s3://b/lake", threads=1) == 1
    monkeypatch.setenv("RAT_THREADS", "zero")
    with pytest.raises(ConfigError, match="RAT_THREADS"):
        workers_for("/data/lake")


def test_rat_run_threads_option(rat_project):
    from typer.testing import CliRunner

    from ratatouille.cli import app

    rat_project.write("silver/a.sql", "SELECT 1 AS x")
    rat_project.write("silver/b.sql", "SELECT 2 AS x")
    out = CliRunner().invoke(app, ["run", "--all", "--threads", "2"])
    assert out.exit_code == 0, out.output
    assert rat_project.read("silver.a")["x"].to_list() == [1] and rat_project.read("silver.b")["x"].to_list() == [2]
    again = CliRunner().invoke(app, ["run", "--all", "--threads", "1"])
    assert again.exit_code == 0 and again.output.count("unchanged") >= 2
    assert CliRunner().invoke(app, ["run", "--all", "--threads", "0"]).exit_code != 0
