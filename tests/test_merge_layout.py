"""Merge (issue 13 items 3-4): keys checked by a streaming aggregation, a lazy source staged on
disk, and a layout (files sorted by the key) that makes an update rewrite only what it touches."""

from __future__ import annotations

import os
import tempfile

import polars as pl
import pytest
from deltalake import DeltaTable

from ratatouille import SchemaError
from ratatouille.write import Merge, Target, materialization_for
from ratatouille.write import _merge

N = 200_000


def _source(n: int = N) -> pl.LazyFrame:
    ids = pl.int_range(0, n, eager=True).shuffle(seed=7)
    return pl.LazyFrame({"id": ids, "v": ids * 2})


@pytest.fixture
def small_files(monkeypatch):
    monkeypatch.setattr(Merge, "file_rows", 25_000)


def _ranges(uri: str) -> list[tuple[int, int]]:
    adds = DeltaTable(uri).get_add_actions(flatten=True)
    return sorted(zip(adds.column("min.id").to_pylist(), adds.column("max.id").to_pylist()))


def test_a_rebuild_is_sorted_by_the_key_into_files_of_disjoint_ranges(tmp_path, small_files):
    uri = str(tmp_path / "t")
    out = materialization_for("merge", unique_key=("id",)).write(Target(uri), _source())
    assert out.rows_written == N
    ranges = _ranges(uri)
    assert len(ranges) > 3
    assert all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))  # disjoint: one file per key range
    assert pl.read_delta(uri).sort("id").equals(_source().collect().sort("id"))


def test_an_update_of_a_key_range_rewrites_only_the_files_it_touches(tmp_path, small_files):
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    m.write(Target(uri), _source())
    files = len(_ranges(uri))
    update = pl.LazyFrame({"id": [10, 11, N + 1], "v": [-1, -2, -3]})  # two updates in the first file, one insert
    out = m.write(Target(uri), update)
    assert out.metrics["num_target_rows_updated"] == 2 and out.metrics["num_target_rows_inserted"] == 1
    # the first file (the updates) and the last one (the new key above every range): not all the files
    assert out.metrics["num_target_files_removed"] == 2
    assert out.metrics["num_target_files_skipped_during_scan"] == files - 2
    ranges = _ranges(uri)
    assert all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))  # still clustered by the key
    spread = pl.LazyFrame({"id": list(range(0, N, 997)), "v": [0] * len(range(0, N, 997))})
    out = m.write(Target(uri), spread)  # updates all over the key range: every file, one at a time
    assert out.metrics["num_target_files_removed"] == len(ranges)
    after = _ranges(uri)
    assert len(after) == len(ranges) and all(hi < lo for (_, hi), (lo, _) in zip(after, after[1:]))
    assert pl.read_delta(uri).height == N + 1
    table = pl.read_delta(uri)
    assert table.height == N + 1
    assert table.filter(pl.col("id").is_in([10, 11, N + 1])).sort("id")["v"].to_list() == [-1, -2, -3]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_large_source_is_merged_from_the_staged_files(tmp_path, monkeypatch, streamed):
    """Above IN_MEMORY_SOURCE_BYTES the staged source streams into delta-rs' merge (with the key range
    from the files' footers); the result is the same upsert, delete_missing included."""
    if streamed:
        monkeypatch.setattr(_merge, "IN_MEMORY_SOURCE_BYTES", 0)
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    m.write(Target(uri), _source(1000))
    new = pl.LazyFrame({"id": list(range(500, 1500)), "v": [-1] * 1000})
    out = m.write(Target(uri), new)
    assert out.metrics["num_target_rows_updated"] == 500 and out.metrics["num_target_rows_inserted"] == 500
    assert pl.read_delta(uri).height == 1500
    keep = materialization_for("merge", unique_key=("id",), delete_missing=True)
    keep.write(Target(uri), pl.LazyFrame({"id": [1, 1499], "v": [7, 8]}))
    assert sorted(pl.read_delta(uri).rows()) == [(1, 7), (1499, 8)]


def test_key_checks_count_nulls_and_duplicates_on_a_lazy_source(tmp_path):
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id", "k"))
    with pytest.raises(SchemaError, match="3 rows with a duplicated unique_key"):
        m.write(Target(uri), pl.LazyFrame({"id": [1, 1, 1, 2, 2], "k": ["a", "a", "a", "a", "b"], "v": range(5)}))
    with pytest.raises(SchemaError, match="1 rows with a NULL in unique_key"):
        m.write(Target(uri), pl.LazyFrame({"id": [1, None], "k": ["a", "a"], "v": [1, 2]}))
    with pytest.raises(SchemaError, match=r"unique_key column\(s\) \['k'\]"):
        m.write(Target(uri), pl.LazyFrame({"id": [1], "v": [1]}))
    assert Target(uri).open() is None  # no table was created ...
    assert not [f for _, _, files in os.walk(uri) for f in files]  # ... and no staged file is left


def test_the_staged_source_is_removed_after_the_merge(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    m.write(Target(uri), _source(100))
    m.write(Target(uri), _source(150))
    with pytest.raises(SchemaError):
        m.write(Target(uri), pl.LazyFrame({"id": [1, 1], "v": [0, 0]}))
    assert list(scratch.iterdir()) == []
    assert pl.read_delta(uri).height == 150


def test_a_merge_on_a_stale_snapshot_fails_clearly_and_never_duplicates_a_key(tmp_path):
    """Two merges computed from the same snapshot: the second commit is refused (the files it
    rewrites were rewritten meanwhile) as a ConcurrentCommitError; each key is there once."""
    from ratatouille.errors import ConcurrentCommitError

    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    m.write(Target(uri), _source(1000))
    stale = Target(uri).open()
    m.write(Target(uri), pl.LazyFrame({"id": [1, 5000], "v": [-1, -1]}))
    with pytest.raises(ConcurrentCommitError, match="concurrent commit"):
        m.write(Target(uri), pl.LazyFrame({"id": [1, 5000], "v": [-2, -2]}), table=stale)
    table = pl.read_delta(uri)
    assert table.height == 1001 and table["id"].n_unique() == 1001
    assert table.filter(pl.col("id").is_in([1, 5000]))["v"].to_list() == [-1, -1]


def test_a_composite_key_merge_keeps_every_other_row(tmp_path):
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("a", "b"))
    m.write(Target(uri), pl.LazyFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1, 2, 3]}))
    out = m.write(Target(uri), pl.LazyFrame({"a": [1, 3], "b": ["y", "z"], "v": [20, 30]}))
    assert out.metrics["num_target_rows_updated"] == 1 and out.metrics["num_target_rows_inserted"] == 1
    assert sorted(pl.read_delta(uri).rows()) == [(1, "x", 1), (1, "y", 20), (2, "x", 3), (3, "z", 30)]


def test_an_empty_source_makes_no_commit(tmp_path):
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    m.write(Target(uri), _source(10))
    out = m.write(Target(uri), _source(10).filter(pl.col("id") < 0))
    assert out.skipped and out.version == 0 and DeltaTable(uri).version() == 0


@pytest.mark.parametrize("key_type", [pl.Int64, pl.String])
def test_a_spread_update_rewritten_in_batches_of_files_is_the_exact_upsert(tmp_path, small_files, monkeypatch,
                                                                           key_type):
    """Updates in every file, rewritten a few files per streaming plan: each key once, with the new
    values where updated, every other row as it was, and the files still of disjoint key ranges."""
    from ratatouille.write import _merge_rewrite

    monkeypatch.setattr(_merge_rewrite, "REWRITE_BATCH", 3)  # 8 touched files: batches of 3, 3 and 2
    as_key = (lambda c: pl.col(c).cast(pl.String).str.zfill(7)) if key_type == pl.String else pl.col
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    base = _source().with_columns(as_key("id"))
    m.write(Target(uri), base)
    files = DeltaTable(uri).get_add_actions(flatten=True).num_rows
    ids = list(range(3, N, 1009)) + [N + 5, N + 6]  # spread over every file, and two new keys
    batch = pl.LazyFrame({"id": ids, "v": [-i for i in ids]}).with_columns(as_key("id"))
    out = m.write(Target(uri), batch)
    assert out.metrics["num_target_files_removed"] == files
    assert out.metrics["num_target_rows_updated"] == len(ids) - 2
    assert out.metrics["num_target_rows_inserted"] == 2
    got = pl.read_delta(uri).sort("id")
    want = pl.concat([base.join(batch, on="id", how="anti"), batch]).collect().sort("id")
    assert got.equals(want)
    adds = DeltaTable(uri).get_add_actions(flatten=True)
    ranges = sorted(zip(adds.column("min.id").to_pylist(), adds.column("max.id").to_pylist()))
    assert all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))


def test_a_rebuild_counts_every_row_of_a_duplicated_key_in_sorted_files(tmp_path, small_files):
    """The rebuild's key check reads each sorted file's keys (neighbours compared, no hash table):
    every row whose key another row has is counted, a NULL key too, and nothing is committed."""
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    dupes = pl.LazyFrame({"id": [7, 7, 7, N - 1, N - 1], "v": [0] * 5})
    with pytest.raises(SchemaError, match="merge source has 7 rows with a duplicated unique_key"):
        m.write(Target(uri), pl.concat([_source(), dupes]))
    with pytest.raises(SchemaError, match="merge source has 1 rows with a NULL in unique_key"):
        m.write(Target(uri), pl.concat([_source(), pl.LazyFrame({"id": [None], "v": [1]},
                                                                 schema={"id": pl.Int64, "v": pl.Int64})]))
    assert Target(uri).open() is None
    assert not [f for _, _, files in os.walk(uri) for f in files]


def test_a_source_with_null_and_duplicated_keys_names_both(tmp_path):
    m = materialization_for("merge", unique_key=("id",))
    with pytest.raises(SchemaError, match="1 rows with a NULL in unique_key.* and 2 rows with a duplicated"):
        m.write(Target(str(tmp_path / "t")), pl.LazyFrame({"id": [None, 1, 1, 2], "v": [0, 1, 2, 3]}))
