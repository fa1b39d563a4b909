"""Review of the merge's batched copy-on-write and the rebuild's key check: real Delta tables,
each result compared with an independent Polars upsert (anti-join + concat)."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import SchemaError
from ratatouille.write import Merge, Target, materialization_for

NAN = float("nan")


@pytest.fixture
def small_files(monkeypatch):
    monkeypatch.setattr(Merge, "file_rows", 4)


def _upsert(old: pl.DataFrame, new: pl.DataFrame, key: str) -> pl.DataFrame:
    return pl.concat([old.join(new.select(key), on=key, how="anti", nulls_equal=True), new])


def test_a_nan_key_is_updated_in_place_never_doubled(tmp_path, small_files):
    """Parquet statistics leave NaN out of a float column's min/max: a file holding a NaN key looks
    like a narrow range, so the rewrite must not trust the ranges to find the file of a NaN key.
    Polars' joins (and the rebuild's key check) treat NaN as one key: a NaN source row updates the
    NaN target row."""
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    old = pl.DataFrame({"id": [1.0, NAN, 2.0, 3.0, 4.0, 5.0], "v": [0, 1, 2, 3, 4, 5]})
    m.write(Target(uri), old.lazy())
    new = pl.DataFrame({"id": [NAN, 5.0], "v": [100, 101]})
    out = m.write(Target(uri), new.lazy())
    got = pl.read_delta(uri)
    assert got.sort("id").equals(_upsert(old, new, "id").sort("id"))
    assert got["id"].is_nan().sum() == 1
    assert out.metrics["num_target_rows_updated"] == 2 and out.metrics["num_target_rows_inserted"] == 0


def test_a_rebuild_counts_nan_keys_duplicated_across_staged_files(tmp_path, small_files):
    """Two NaN keys in two staged files whose statistics (NaN left out) look disjoint: still a
    duplicated key, counted as the group_by counts it."""
    data = pl.LazyFrame({"id": [1.0, NAN, 2.0, 3.0, 4.0, 5.0, NAN], "v": list(range(7))})
    with pytest.raises(SchemaError, match="2 rows with a duplicated unique_key"):
        materialization_for("merge", unique_key=("id",)).write(Target(str(tmp_path / "t")), data)
    assert not (tmp_path / "t" / "_delta_log").exists() or pl.read_delta(str(tmp_path / "t")).is_empty()


def test_a_table_with_a_column_named_like_the_split_column_is_merged_exactly(tmp_path, small_files):
    """The rewrite numbers each row's file in a helper column: a table's own ``__file`` column is
    kept as it is (the helper takes another name), not overwritten nor refused."""
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",))
    old = pl.DataFrame({"id": list(range(0, 40, 2)), "__file": [f"f{i}" for i in range(20)]})
    m.write(Target(uri), old.lazy())
    new = pl.DataFrame({"id": [0, 8, 9, 38], "__file": ["n0", "n8", "n9", "n38"]})
    out = m.write(Target(uri), new.lazy())
    assert pl.read_delta(uri).sort("id").equals(_upsert(old, new, "id").sort("id"))
    assert out.metrics["num_target_rows_updated"] == 3 and out.metrics["num_target_rows_inserted"] == 1
    assert out.metrics["num_target_files_removed"] == 3  # still the clustered rewrite: only the touched files


@pytest.mark.parametrize("source", ["frame", "lazy"])
def test_a_nan_key_merged_by_delta_rs_is_updated_never_doubled(tmp_path, source):
    """A partitioned table is merged by delta-rs: from an in-memory source it derives an early filter
    from the source's min/max and the files' statistics (NaN left out) and skipped the file holding
    the NaN key, so the NaN row was inserted a second time."""
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",), partition_by=("p",))
    old = pl.DataFrame({"id": [1.0, NAN, 2.0], "p": ["a", "a", "b"], "v": [0, 1, 2]})
    m.write(Target(uri), old.lazy())
    new = pl.DataFrame({"id": [NAN, 3.0], "p": ["a", "b"], "v": [9, 3]})
    out = m.write(Target(uri), new if source == "frame" else new.lazy())
    got = pl.read_delta(uri).select(old.columns)
    assert got.sort("id").equals(_upsert(old, new, "id").sort("id"))
    assert out.metrics["num_target_rows_updated"] == 1 and out.metrics["num_target_rows_inserted"] == 1


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Paris"])
def test_a_rebuild_counts_timestamp_keys_duplicated_across_staged_files(tmp_path, monkeypatch, zone):
    """A zone-aware timestamp's statistic is text such as ``2020-01-01T00:00:00Z`` (no ``.000``), which
    sorts after ``2020-01-01T00:00:00.500Z``: compared as text, two overlapping files looked disjoint,
    the rows were not sorted and the keys were checked file by file, so a key in both was written twice."""
    import datetime as dt

    monkeypatch.setattr(Merge, "file_rows", 3)
    t0 = dt.datetime(2020, 1, 1)
    ids = pl.Series("id", [t0 + dt.timedelta(milliseconds=ms) for ms in (0, 500, 250, 200, 250, 300)])
    data = pl.LazyFrame({"id": ids.cast(pl.Datetime("us", zone)), "v": list(range(6))})
    with pytest.raises(SchemaError, match="2 rows with a duplicated unique_key"):
        materialization_for("merge", unique_key=("id",)).write(Target(str(tmp_path / "t")), data)


def test_a_streamed_merge_source_bounds_timestamp_keys_by_their_instants(tmp_path, monkeypatch):
    """A large source streams to delta-rs with the key range of its staged files as a predicate. A
    zone-aware timestamp's statistic is text (``...00:00Z`` sorts after ``...00:00.222Z``): the range
    taken over the texts left out the target row of the earliest key, which was then inserted twice."""
    import datetime as dt

    from ratatouille.write import _merge

    monkeypatch.setattr(_merge, "IN_MEMORY_SOURCE_BYTES", 0)
    monkeypatch.setattr(_merge, "STAGE_FILE_BYTES", 1)  # a staged file per part of the source
    t0, utc = dt.datetime(2020, 1, 1), pl.Datetime("us", "UTC")
    uri = str(tmp_path / "t")
    m = materialization_for("merge", unique_key=("id",), partition_by=("p",))  # merged by delta-rs
    old = pl.DataFrame({"id": pl.Series([t0, t0 + dt.timedelta(seconds=5)]).cast(utc), "p": "a", "v": 0})
    m.write(Target(uri), old.lazy())
    step = dt.timedelta(microseconds=1)
    late = pl.datetime_range(t0 + dt.timedelta(milliseconds=400), t0 + dt.timedelta(milliseconds=500), step,
                             eager=True).head(100_000)
    early = pl.datetime_range(t0 + dt.timedelta(milliseconds=200), t0 + dt.timedelta(milliseconds=300), step,
                              eager=True).head(100_000)
    new = pl.DataFrame({"id": pl.concat([pl.Series([t0]), late, early]).cast(utc), "p": "a", "v": 9})
    out = m.write(Target(uri), new.lazy())
    got = pl.read_delta(uri).select(old.columns)
    assert got.height == got["id"].n_unique() == new.height + 1
    assert got.sort("id").equals(_upsert(old, new, "id").sort("id"))
    assert out.metrics["num_target_rows_updated"] == 1


def test_a_merge_table_under_a_folder_named_with_brackets_is_written(tmp_path, small_files):
    """A local lake under ``projects[2024]/lake*/``: the writer scans its staged and touched files by
    path, and Polars read ``[2024]`` and ``*`` as glob patterns (no file found, the run failed)."""
    uri = str(tmp_path / "projects[2024]" / "lake*" / "t")
    m = materialization_for("merge", unique_key=("id",))
    old = pl.DataFrame({"id": list(range(20)), "v": [0] * 20})
    m.write(Target(uri), old.lazy())  # a rebuild
    new = pl.DataFrame({"id": [1, 5, 30], "v": [9] * 3})
    out = m.write(Target(uri), new.lazy())  # the clustered copy-on-write
    assert out.metrics["num_target_rows_updated"] == 2
    newer = pl.DataFrame({"id": [2, 3, 40], "v": [8] * 3})
    m.write(Target(uri), newer.lazy())
    expected = _upsert(_upsert(old, new, "id"), newer, "id")
    assert pl.read_delta(uri).sort("id").equals(expected.sort("id"))
