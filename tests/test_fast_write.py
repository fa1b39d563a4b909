"""The fast local writer (Polars writes the parquet files, delta-rs commits them) keeps every guarantee
of delta-rs' own writer: one commit or none, statistics readers can trust, the same data back."""

from __future__ import annotations

import datetime as dt
import json
import os

import polars as pl
import pytest
from deltalake import DeltaTable

from ratatouille.write import _stage as w  # the staged (fast) writer moved out of write/__init__.py
from ratatouille.write import Target, delta_stats, fast_write_eligible, footer_stats, materialization_for


def _frame(n: int = 50) -> pl.DataFrame:
    return pl.DataFrame({
        "id": pl.int_range(n, eager=True),
        "small": pl.Series([i % 7 - 3 for i in range(n)], dtype=pl.Int8),
        "x": [float(i) / 3 if i % 5 else None for i in range(n)],
        "ok": [i % 2 == 0 for i in range(n)],
        "s": [f"name-{i:03d}" if i % 4 else None for i in range(n)],
        "d": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)],
        "ts": [dt.datetime(2024, 1, 1, 12, 0, 0, 123456) + dt.timedelta(seconds=i) for i in range(n)],
        "tz": pl.Series([dt.datetime(2024, 1, 1) + dt.timedelta(microseconds=1001 * i) for i in range(n)])
        .dt.replace_time_zone("UTC"),
    })


def _adds(uri: str, version: int) -> list[dict]:
    path = os.path.join(uri, "_delta_log", f"{version:020d}.json")
    with open(path) as fh:
        return [json.loads(line)["add"] for line in fh if '"add"' in line]


def _write(uri: str, data, mode: str = "table"):
    return materialization_for(mode).write(Target(uri, None, "t.x"), data, metadata={"who": "test"})


def test_rerun_uses_the_fast_writer_and_reads_back_the_same(tmp_path):
    uri = str(tmp_path / "t")
    first = _write(uri, _frame())  # first write: delta-rs creates the table
    table = DeltaTable(uri)
    assert fast_write_eligible(_frame(), Target(uri), table, "overwrite")
    data = _frame(80)
    out = _write(uri, data)
    assert (out.version, out.rows_written) == (first.version + 1, 80)
    back = pl.read_delta(uri)
    assert back.sort("id").equals(data)
    assert back.schema == data.schema
    history = DeltaTable(uri).history(1)[0]
    assert history["operation"] == "WRITE" and history["who"] == "test"
    assert history["operationMetrics"]["num_added_rows"] == 80
    (add,) = _adds(uri, out.version)
    assert json.loads(add["stats"])["numRecords"] == 80
    assert len(DeltaTable(uri).file_uris()) == 1  # the old file is removed by the overwrite


def test_append_uses_the_fast_writer(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, _frame(10))
    out = _write(uri, _frame(10).with_columns(pl.col("id") + 100), mode="append")
    assert out.rows_written == 10
    assert pl.read_delta(uri).height == 20
    assert len(_adds(uri, out.version)) == 1


def test_statistics_bound_the_data_and_prune_files(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    out = _write(uri, _frame())
    (add,) = _adds(uri, out.version)
    stats = json.loads(add["stats"])
    assert stats["minValues"]["id"] == 0 and stats["maxValues"]["id"] == 49
    assert stats["nullCount"]["x"] == 10 and stats["nullCount"]["s"] == 13
    assert stats["minValues"]["d"] == "2024-01-01"
    # timestamps at millisecond precision, rounded outwards so the bounds hold
    assert stats["minValues"]["ts"] == "2024-01-01 12:00:00.123"
    assert stats["maxValues"]["ts"] == "2024-01-01 12:00:49.124"
    assert stats["minValues"]["tz"] == "2024-01-01T00:00:00Z"
    assert stats["maxValues"]["tz"] == "2024-01-01T00:00:00.050Z"
    # delta-rs parses them with the table's types
    actions = pl.DataFrame(DeltaTable(uri).get_add_actions(flatten=True))
    assert actions["max.ts"][0] == dt.datetime(2024, 1, 1, 12, 0, 49, 124000)
    assert actions["min.d"][0] == dt.date(2024, 1, 1)
    # and readers use them: a filter outside [min, max] reads nothing, inside finds the rows
    assert pl.scan_delta(uri).filter(pl.col("id") > 1000).collect().height == 0
    assert pl.scan_delta(uri).filter(pl.col("ts") >= dt.datetime(2024, 1, 1, 12, 0, 49, 123456)).collect().height == 1


def test_delta_stats_edge_cases():
    frame = pl.DataFrame({
        "f": [1.5, float("nan"), -2.0],
        "inf": [1.0, float("inf"), 0.0],
        "long": ["a" * 100, "b", None],
        "nulls": pl.Series([None, None, None], dtype=pl.Int64),
        "b": [True, False, None],
    })
    stats = delta_stats(frame)
    assert (stats["minValues"]["f"], stats["maxValues"]["f"]) == (-2.0, 1.5)  # NaN ignored
    assert "inf" not in stats["minValues"] and "long" not in stats["maxValues"] and "nulls" not in stats["minValues"]
    assert stats["nullCount"] == {"f": 0, "inf": 0, "long": 1, "nulls": 3, "b": 1}
    assert (stats["minValues"]["b"], stats["maxValues"]["b"]) == (False, True)


def test_failed_commit_leaves_the_table_and_no_files(tmp_path, monkeypatch):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    before = DeltaTable(uri).version()
    files = set(os.listdir(uri))

    def boom(self, *args, **kwargs):
        raise RuntimeError("commit refused")

    monkeypatch.setattr(DeltaTable, "create_write_transaction", boom)
    with pytest.raises(Exception, match="commit refused"):
        _write(uri, _frame(60))
    assert DeltaTable(uri).version() == before
    assert set(os.listdir(uri)) == files
    assert pl.read_delta(uri).height == 50


@pytest.mark.parametrize("case", ["schema change", "unsigned", "partitioned", "empty", "constraint"])
def test_other_writes_go_through_delta_rs(tmp_path, case):
    uri = str(tmp_path / "t")
    data = _frame()
    if case == "partitioned":
        materialization_for("table", partition_by=("ok",)).write(Target(uri), data)
    else:
        _write(uri, data)
    table = DeltaTable(uri)
    if case == "constraint":
        table.alter.add_constraint({"id_positive": "id >= 0"})
        table = DeltaTable(uri)
    new = {"schema change": data.with_columns(extra=pl.lit(1)),
           "unsigned": data.with_columns(pl.col("small").abs().cast(pl.UInt8)),
           "empty": data.clear()}.get(case, data)
    assert not fast_write_eligible(new, Target(uri), table, "overwrite")
    out = materialization_for("table", partition_by=("ok",) if case == "partitioned" else ()).write(Target(uri), new)
    assert out.version == table.version() + 1


def test_object_storage_is_never_written_by_the_fast_path(tmp_path):
    _write(str(tmp_path / "t"), _frame())
    table = DeltaTable(str(tmp_path / "t"))
    assert not fast_write_eligible(_frame(), Target("s3://bucket/t"), table, "overwrite")
    assert w._local_path("file:///x/y") == "/x/y"


def test_big_frames_are_split_into_several_files(tmp_path, monkeypatch):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    monkeypatch.setattr(w, "FAST_FILE_BYTES", 1000)
    data = _frame(500)
    out = _write(uri, data)
    adds = _adds(uri, out.version)
    assert len(adds) > 1
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 500
    assert pl.read_delta(uri).sort("id").equals(data)


def test_a_lazy_frame_streams_through_sink_parquet(tmp_path, monkeypatch):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    monkeypatch.setattr(w, "FAST_FILE_BYTES", 2000)  # several files (the engine splits between morsels)
    data = _frame(300_000)
    assert fast_write_eligible(data.lazy(), Target(uri), DeltaTable(uri), "overwrite")
    out = _write(uri, data.lazy())
    assert out.rows_written == 300_000
    adds = _adds(uri, out.version)
    assert len(adds) > 1
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 300_000
    assert pl.read_delta(uri).sort("id").equals(data)
    assert pl.scan_delta(uri).filter(pl.col("id") == 299_999).collect().height == 1


def test_footer_statistics_match_frame_statistics(tmp_path):
    frame = pl.DataFrame({
        "i": [5, None, -1, 7] * 50,
        "f": [1.5, float("nan"), -2.0, None] * 50,
        "s": ["b", "a" * 70, None, "é" * 40] * 50,
        "t": ["x", "y", None, "z"] * 50,
        "d": [dt.date(2024, 1, 1), None, dt.date(2023, 5, 5), dt.date(2030, 1, 1)] * 50,
        "ts": [dt.datetime(2024, 1, 1, 0, 0, 0, 1500), None, dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1)] * 50,
        "b": [True, None, False, True] * 50,
        "none": pl.Series([None] * 200, dtype=pl.Int32),
    }).with_columns(tz=pl.col("ts").dt.replace_time_zone("UTC"))
    path = str(tmp_path / "x.parquet")
    frame.write_parquet(path, compression="snappy", row_group_size=30)
    assert footer_stats(path) == delta_stats(frame)


def test_an_empty_lazy_result_commits_no_file(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    out = _write(uri, _frame().clear().lazy(), mode="append")
    assert out.rows_written == 0 and pl.read_delta(uri).height == 50
    out = _write(uri, _frame().clear().lazy())
    assert out.rows_written == 0 and pl.read_delta(uri).height == 0
    assert [f for f in os.listdir(uri) if f.endswith(".parquet") and f in str(DeltaTable(uri).file_uris())] == []


def test_a_failing_stream_commits_nothing_and_leaves_no_files(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, _frame())
    before, files = DeltaTable(uri).version(), set(os.listdir(uri))
    bad = _frame(100).lazy().with_columns(
        small=pl.when(pl.col("id") < 90).then(pl.col("small")).otherwise(pl.lit("x").cast(pl.Int8, strict=True)))
    with pytest.raises(Exception):
        _write(uri, bad)
    assert DeltaTable(uri).version() == before
    assert set(os.listdir(uri)) == files


def test_an_overwrite_replaces_rows_appended_since_the_table_was_opened(tmp_path):
    uri = str(tmp_path / "t")
    _write(uri, _frame(10))
    stale = DeltaTable(uri)
    _write(uri, _frame(5), mode="append")  # another writer, after we opened the table
    out = w.fast_write(_frame(3), Target(uri), stale, "overwrite", w.CommitProperties())
    assert out.rows_written == 3 and pl.read_delta(uri).height == 3


def test_values_python_cannot_represent_only_lose_their_bounds(tmp_path):
    frame = pl.DataFrame({"d": pl.Series([0, 10**7], dtype=pl.Int32).cast(pl.Date), "i": [1, None]})
    stats = delta_stats(frame)
    assert stats["numRecords"] == 2 and stats["nullCount"] == {"d": 0, "i": 1} and "d" not in stats["maxValues"]
    path = str(tmp_path / "x.parquet")
    frame.write_parquet(path)
    assert "d" not in footer_stats(path)["maxValues"]
