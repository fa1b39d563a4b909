"""A lake under a folder whose name holds a space (``~/My Projects/...``, common on macOS): delta-rs
percent-encodes a local table's root in ``file_uris()`` and Polars read ``My%20Projects``, so no table
could be read (ratatouille/_delta_scan.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_medallion  # noqa: E402  (the users'-shaped pipeline: ingest, incremental merge, gold table)


@pytest.mark.parametrize("folder", ["My Projects", "100% done", "a+b=c"])
def test_the_medallion_pipeline_runs_and_reads_under_a_folder_with_a_space(tmp_path, monkeypatch, folder):
    from ratatouille import query, read, run

    monkeypatch.setenv("RAT_SETTLE_SECONDS", "0")
    home = tmp_path / folder / "pipeline"
    home.mkdir(parents=True)
    data = tmp_path / "data"
    data.mkdir()
    first, second = bench_medallion.make_data(data, 2_000)
    bench_medallion.make_project(home)
    landing = home / "lake" / "landing" / "trips"
    landing.mkdir(parents=True)
    (landing / first.name).write_bytes(first.read_bytes())
    assert run("*", project_dir=str(home)).ok
    (landing / second.name).write_bytes(second.read_bytes())
    assert run("*", project_dir=str(home)).ok  # the incremental merge reads silver and bronze

    trips = pl.concat([pl.read_parquet(first), pl.read_parquet(second)]).unique("trip_id", keep="last")
    want = trips.filter(pl.col("distance_km") > 1)
    silver = read("silver.trips", project_dir=str(home)).collect()
    assert silver.height == want.height and silver["trip_id"].n_unique() == want.height
    assert silver["fare"].sum() == pytest.approx(want["fare"].sum())
    gold = query("SELECT sum(trips) AS n FROM gold.trips_by_zone", project_dir=str(home))
    assert gold["n"].to_list() == [want.height]
    assert run("*", project_dir=str(home))["status"] == "unchanged"
