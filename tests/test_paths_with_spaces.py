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


def test_a_partitioned_table_and_an_old_version_read_under_a_folder_with_a_space(tmp_path):
    """Partition folders keep their own escaping on disk (``city=New%20York``): only the table's
    root is read as it is on disk."""
    from deltalake import DeltaTable

    from ratatouille._delta_scan import scan_delta

    uri = str(tmp_path / "My Projects" / "t")
    pl.DataFrame({"city": ["New York", "Paris", None], "n": [1, 2, 3]}).write_delta(
        uri, delta_write_options={"partition_by": ["city"]})
    pl.DataFrame({"city": ["New York"], "n": [4]}).write_delta(uri, mode="append")

    def rows(lf: pl.LazyFrame) -> list[tuple]:
        return sorted(lf.select("city", "n").collect().rows(), key=lambda r: r[1])

    assert rows(scan_delta(uri)) == [("New York", 1), ("Paris", 2), (None, 3), ("New York", 4)]
    assert rows(scan_delta(uri, version=0)) == [("New York", 1), ("Paris", 2), (None, 3)]
    assert rows(scan_delta(DeltaTable(uri, version=0))) == [("New York", 1), ("Paris", 2), (None, 3)]
    assert rows(scan_delta(uri).filter(pl.col("city") == "New York")) == [("New York", 1), ("New York", 4)]
