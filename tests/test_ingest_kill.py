"""Exactly once under SIGKILL: an ingest process is killed at random moments, many times,
with new files landing between the runs; afterwards every file's rows are in the table exactly once and
the table reads cleanly. Runs on the local lake and on S3 (moto)."""

from __future__ import annotations

import random
import selectors
import subprocess
import sys
import time

import polars as pl

from ratatouille import tools
from ratatouille.discover import Project

KILLS = 15

CHILD = r"""
import sys
from ratatouille import run
from ratatouille.errors import RatatouilleError

print("ready", flush=True)
for line in sys.stdin:
    try:
        result = run("bronze.events")
        print("done", result["status"], flush=True)
    except RatatouilleError as exc:
        print("error", str(exc).replace("\n", " "), flush=True)
"""


class Worker:
    """A Python process that has imported Ratatouille and runs the ingest on each "go"."""

    def __init__(self, cwd) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert self.readline(60) == "ready"

    def readline(self, timeout: float) -> str | None:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout):
                return None
            return self.proc.stdout.readline().strip()
        finally:
            sel.close()

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def run(self, timeout: float = 120) -> str:
        self.go()
        line = self.readline(timeout)
        assert line and line.startswith("done"), line
        return line

    def kill(self) -> bool:
        """SIGKILL; True if the run was still going (no "done" line yet)."""
        self.proc.kill()
        out = self.proc.stdout.read()
        self.proc.wait()
        return "done" not in out and "error" not in out


def test_sigkill_at_random_moments_never_loses_or_duplicates_a_file(lake_project):
    p = lake_project
    p.write("bronze/events.yaml", "source: landing/events/\nformat: csv\n")
    rng = random.Random(f"kill-{p.lake.split(':')[0]}")
    expected: dict[str, int] = {}
    bad: set[str] = set()
    next_id = 0

    def land(files: int) -> None:
        nonlocal next_id
        for _ in range(files):
            rows = rng.randint(20, 300)
            name = f"landing/events/{len(expected) + len(bad):05d}.csv"
            body = "id,kind,value\n" + "".join(f"{i},k{i % 7},{i * 0.5}\n" for i in range(next_id, next_id + rows))
            p.landing(name.removeprefix("landing/"), body)
            expected[name] = rows
            next_id += rows

    def land_bad() -> None:
        name = f"landing/events/{len(expected) + len(bad):05d}.csv"
        p.landing(name.removeprefix("landing/"), b"")
        bad.add(name)

    worker = Worker(p.root)
    land(10)
    started = time.monotonic()
    worker.run()
    land(5)
    worker.run()
    duration = (time.monotonic() - started) / 2  # one run, roughly

    mid_run = 0
    for kill in range(KILLS):
        land(rng.randint(2, 6))
        if kill % 4 == 1:
            land_bad()
        worker.go()
        time.sleep(rng.uniform(0.0, duration * 1.1))
        mid_run += worker.kill()
        worker = Worker(p.root)
    land(3)
    worker.run()  # a clean run picks up whatever the killed ones left
    worker.run()
    worker.proc.stdin.close()
    worker.proc.wait(timeout=30)
    print(f"{'s3' if p.lake.startswith('s3://') else 'local'}: one run ~{duration:.2f}s, {mid_run} of {KILLS} kills hit a running ingest")
    assert mid_run >= KILLS // 3, f"only {mid_run} of {KILLS} kills hit a running ingest"

    target = Project.load(p.root).target("bronze.events")
    table = target.open()
    assert table is not None
    df = pl.scan_delta(target.uri, storage_options=target.storage_options).collect()
    counts = df.group_by("_source_file").len()
    assert dict(zip(counts["_source_file"].to_list(), counts["len"].to_list())) == expected
    assert df.height == sum(expected.values()) == next_id
    assert df["id"].n_unique() == df.height and sorted(df["id"].to_list()) == list(range(next_id))
    assert p.read("bronze.events").height == next_id  # the public reader agrees
    # every bad file was either moved aside or is still waiting in landing: never in the table
    files = set(p.files("landing/"))
    for name in bad:
        moved = name.replace("landing/events/", "landing/_rejected/events/")
        assert name in files or moved in files
    assert not (set(df["_source_file"].unique()) & bad)
    history = tools.history("bronze.events")
    assert history["version"].max() == table.version()
