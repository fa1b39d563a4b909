"""Attacks on the write path's integrity ("nothing lost, nothing doubled, nothing leaked") and on
``unchanged`` (execute/_fingerprint.py): each test failed on the code before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ratatouille.discover import _cache as discovery_cache

SRC = "SELECT 1 AS id, 10.0 AS fare UNION ALL SELECT 2, -20.0"


# -- unchanged must never skip work that changed --------------------------------------------------------
HELPER_USER = '''
from ratatouille import transform
import polars as pl
from atk_helpers.rates import FACTOR

@transform("gold.scaled", inputs=["silver.src"])
def scaled(src):
    return src.select("id", (pl.col("fare").cast(pl.Float64) * FACTOR).alias("fare"))
'''


def _rat(p, *args: str) -> subprocess.CompletedProcess:
    """``rat ...`` in a new process (the project's own modules on its path, as a user's setup has)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(p.root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=p.root, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=300)


def test_a_changed_helper_module_imported_by_a_python_transform_rebuilds_it(rat_project):
    p = rat_project
    package = p.root / "atk_helpers"  # the project's own package of helpers
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rates.py").write_text("FACTOR = 1\n")
    p.write("silver/src.sql", SRC)
    p.write("gold/scaled.py", HELPER_USER)
    assert _rat(p, "run", "+gold.scaled").returncode == 0
    again = _rat(p, "run", "gold.scaled")
    assert again.returncode == 0 and p.version("gold.scaled") == 0  # unchanged: nothing written
    (package / "rates.py").write_text("FACTOR = 3\n")  # the transform's own file is the same
    changed = _rat(p, "run", "gold.scaled")
    assert changed.returncode == 0, changed.stderr
    assert p.version("gold.scaled") == 1
    assert sorted(p.read("gold.scaled")["fare"].to_list()) == [-60.0, 30.0]
    assert _rat(p, "run", "gold.scaled").returncode == 0 and p.version("gold.scaled") == 1


def test_a_changed_custom_generic_test_rebuilds_in_the_same_process(rat_project):
    """A long-lived process (Dagster's code server, a session) must see tests/generic/ change: the
    discovery cache watched only pipelines/, so the old test ran (or the table stayed unchanged)."""
    p = rat_project
    discovery_cache.clear()
    p.write("silver/src.sql", SRC)
    p.write("gold/t.sql", "SELECT * FROM silver.src")
    p.write("gold/t.yaml", "columns:\n  - name: fare\n    tests:\n      - is_ok:\n          config: {on_fail: drop}\n")
    generic = p.root / "tests" / "generic"
    generic.mkdir(parents=True)
    (generic / "is_ok.sql").write_text("SELECT * FROM {{ this }} WHERE {{ column_name }} < -100")
    for path in p.root.rglob("*"):  # written long ago: the discovery cache keeps what it found
        os.utime(path, ns=(10**18, 10**18))
    p.run("*")
    assert sorted(p.read("gold.t")["id"].to_list()) == [1, 2]
    assert p.run("gold.t")["status"] == "unchanged"
    (generic / "is_ok.sql").write_text("SELECT * FROM {{ this }} WHERE {{ column_name }} < 0")
    os.utime(generic / "is_ok.sql", ns=(10**18 + 10**10, 10**18 + 10**10))
    result = p.run("gold.t")
    assert result["status"] == "success"
    assert p.read("gold.t")["id"].to_list() == [1]  # the new test drops the negative fare


# -- a merge during an optimize: nothing doubled ---------------------------------------------------------
def _compact_in_another_process(uri: str) -> None:
    code = f"from deltalake import DeltaTable; DeltaTable({uri!r}).optimize.compact()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)  # noqa: S603 - our own script


def test_a_copy_on_write_merge_on_a_snapshot_an_optimize_compacted_never_doubles_rows(tmp_path, monkeypatch):
    """The copy-on-write merge removed the files of its snapshot and added their rewritten rows; an
    optimize had meanwhile replaced those files by a compacted one, which stayed: every row twice."""
    from ratatouille.errors import ConcurrentCommitError
    from ratatouille.write import Target, materialization_for
    from ratatouille.write._merge import Merge

    monkeypatch.setattr(Merge, "file_rows", 10)  # several files of disjoint key ranges
    uri = str(tmp_path / "t")
    materialization_for("merge", unique_key=("id",)).write(Target(uri), pl.LazyFrame({"id": range(40), "v": ["a"] * 40}))
    stale = Target(uri).open()
    assert len(stale.file_uris()) == 4
    _compact_in_another_process(uri)
    with pytest.raises(ConcurrentCommitError, match="concurrent commit"):
        materialization_for("merge", unique_key=("id",)).write(
            Target(uri), pl.LazyFrame({"id": [5, 100], "v": ["new", "new"]}), table=stale)
    table = pl.read_delta(uri)
    assert table.height == 40 and table["id"].n_unique() == 40
    assert {p.name for p in Path(uri).glob("*.parquet")} == {Path(u).name for u in Target(uri).open().file_uris()} | {
        Path(u).name for u in stale.file_uris()}  # the staged files were removed


OPTIMIZED_MIDWAY = '''
import os, subprocess, sys
from pathlib import Path
from ratatouille import transform

MARK = Path({mark!r})

@transform("silver.m", inputs=["bronze.src"], materialized="incremental", strategy="merge", unique_key=["id"])
def m(src):
    if not MARK.exists():  # once: another process compacts this table between the run's snapshot and its commit
        MARK.touch()
        subprocess.run([sys.executable, "-c", "from deltalake import DeltaTable; DeltaTable({uri!r}).optimize.compact()"],
                       check=True)
    return src
'''


def test_a_merge_run_during_an_optimize_lands_each_key_once(rat_project, monkeypatch):
    from ratatouille.write._merge import Merge

    p = rat_project
    monkeypatch.setattr(Merge, "file_rows", 10)
    pl.DataFrame({"id": range(40), "v": ["a"] * 40}).write_delta(f"{p.lake}/bronze/src")
    mark = p.root / "optimized"
    mark.touch()
    p.write("silver/m.py", OPTIMIZED_MIDWAY.format(mark=str(mark), uri=f"{p.lake}/silver/m"))
    assert p.run("silver.m")["status"] == "success" and len(p.table("silver.m").file_uris()) == 4
    pl.DataFrame({"id": [5, 100], "v": ["new", "new"]}).write_delta(f"{p.lake}/bronze/src", mode="overwrite")
    mark.unlink()
    result = p.run("silver.m")
    assert result["status"] == "success" and mark.exists()
    table = p.read("silver.m")
    assert table.height == 41 and table["id"].n_unique() == 41
    assert table.filter(pl.col("id").is_in([5, 100]))["v"].to_list() == ["new", "new"]


# -- a run killed between stage and commit: vacuum cleans up ----------------------------------------------
KILLED_WRITER = """
import time, polars as pl
from ratatouille.write import Target, materialization_for
m = materialization_for("table")
def hang(staged):
    open({marker!r}, "w").close()
    time.sleep(300)
m.validate = hang
m.write(Target({uri!r}), pl.LazyFrame({{"id": pl.int_range(50_000, eager=True).cast(pl.Int32)}}))
"""


@pytest.mark.slow
def test_vacuum_removes_the_files_a_killed_run_staged_and_keeps_a_running_writes(rat_project):
    """Vacuum ran delta-rs' "lite" mode, which only deletes files a commit removed: the files staged
    by a run killed before its commit were never referenced, so never removed."""
    import signal
    import time

    from deltalake import DeltaTable

    from ratatouille import tools

    p = rat_project
    p.write("silver/t.sql", "SELECT 1 AS id UNION ALL SELECT 2")
    p.run("silver.t")
    uri = f"{p.lake}/silver/t"
    marker = p.root / "staged"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(marker=str(marker), uri=uri)])  # noqa: S603
    try:
        deadline = time.monotonic() + 200
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    referenced = {Path(u).name for u in DeltaTable(uri).file_uris()}
    staged = {f for f in Path(uri).glob("*.parquet") if f.name not in referenced}
    assert staged and DeltaTable(uri).version() == 0 and p.read("silver.t").height == 2

    tools.vacuum("silver.t", retention_hours=0)  # a write may be staging right now: its files stay
    assert all(f.exists() for f in staged)
    two_days_ago = time.time() - 2 * 86400
    for f in staged:
        os.utime(f, (two_days_ago, two_days_ago))
    removed = tools.vacuum("silver.t", retention_hours=0)
    assert not any(f.exists() for f in staged) and len(removed) >= len(staged)
    assert sorted(p.read("silver.t")["id"].to_list()) == [1, 2]
    assert {f.name for f in Path(uri).glob("*.parquet")} == referenced


def test_turning_on_the_project_store_failures_setting_rebuilds(rat_project):
    """``store_failures = true`` in [tool.ratatouille] keeps every test's failing rows: a run after
    turning it on was ``unchanged`` and stored nothing."""
    p = rat_project
    p.write("silver/src.sql", SRC)
    p.write("gold/t.sql", "SELECT * FROM silver.src")
    p.write("gold/t.yaml", "tests:\n  - name: neg\n    severity: warn\n    sql: SELECT * FROM {{ this }} WHERE fare < 0\n")
    p.run("*")
    assert p.run("gold.t")["status"] == "unchanged"
    pyproject = p.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "store_failures = true\n")
    assert p.run("gold.t")["status"] == "success" and p.version("gold.t") == 1
    assert p.read("audit.gold_t__neg")["id"].to_list() == [2]
    assert p.run("gold.t")["status"] == "unchanged"


# -- the ingested-file ledger must agree with the rows ------------------------------------------------------
@pytest.mark.parametrize("change", ["restore", "delete"])
def test_files_whose_rows_another_commit_removed_are_ingested_again(rat_project, change):
    """The ledger walked past every commit that carries none as if it left the set unchanged: after a
    restore to an older version (or a DELETE of a file's rows), the files whose rows were gone still
    counted as ingested, so their rows were lost for good."""
    from deltalake import DeltaTable

    p = rat_project
    p.write("bronze/trips.yaml", "source: landing/trips/\nformat: csv\n")
    p.landing("trips/a.csv", "trip_id,fare\n1,10.0\n2,20.0\n")
    p.run("bronze.trips")
    p.landing("trips/b.csv", "trip_id,fare\n3,30.0\n")
    p.run("bronze.trips")
    assert sorted(p.read("bronze.trips")["trip_id"].to_list()) == [1, 2, 3]
    table = DeltaTable(f"{p.lake}/bronze/trips")
    if change == "restore":  # back to the version before b.csv
        table.restore(0)
    else:  # rows of b.csv deleted (to ingest it again)
        table.delete("trip_id = 3")
    assert sorted(p.read("bronze.trips")["trip_id"].to_list()) == [1, 2]
    result = p.run("bronze.trips")
    assert result["status"] == "success"
    assert sorted(p.read("bronze.trips")["trip_id"].to_list()) == [1, 2, 3]  # b.csv once, a.csv once
    assert p.run("bronze.trips")["status"] == "unchanged"


@pytest.mark.slow
def test_concurrent_copy_on_write_merges_in_real_processes_land_each_key_once(rat_project):
    """Three processes merge overlapping keys into one local table at once (the copy-on-write path):
    a merge that loses the race runs again on the new table or fails clearly; no key is doubled."""
    from test_concurrency import _source, run_together

    p = rat_project
    _source(p, "bronze.src", pl.DataFrame({"id": list(range(1, 31))}))
    p.write("silver/out.sql", """
        -- @materialized: incremental
        -- @strategy: merge
        -- @unique_key: key
        SELECT CAST(id AS VARCHAR) AS key, '{{ var("who") }}' AS who FROM bronze.src
        UNION ALL SELECT '{{ var("who") }}' AS key, '{{ var("who") }}' AS who
    """)
    p.run("silver.out", vars={"who": "w0"})
    (outcomes,) = run_together(p.root, [[("silver.out", {"vars": {"who": f"w{w}"}})] for w in (1, 2, 3)])
    ok = {f"w{o[1] + 1}" for o in outcomes if o[2] == "success"}
    assert ok, outcomes
    df = p.read("silver.out")
    assert df["key"].n_unique() == df.height  # nothing doubled
    assert set(df["key"].to_list()) == {str(i) for i in range(1, 31)} | {"w0"} | ok  # nothing lost


def test_a_changed_helper_module_is_imported_again_in_a_long_lived_process(rat_project, monkeypatch):
    """Dagster's code server (or any session) runs a Python transform again after its helper module
    changed: the fingerprint saw the change and rebuilt the table, but with the helper Python had
    already loaded, and recorded the new fingerprint, so the stale table then stayed `unchanged`."""
    p = rat_project
    package = p.root / "atk_helpers_live"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rates.py").write_text("FACTOR = 1\n")
    monkeypatch.syspath_prepend(str(p.root))
    for name in [m for m in sys.modules if m.startswith("atk_helpers_live")]:
        monkeypatch.delitem(sys.modules, name)
    p.write("silver/src.sql", SRC)
    p.write("gold/scaled.py", HELPER_USER.replace("atk_helpers.rates", "atk_helpers_live.rates"))
    p.run("*")
    assert sorted(p.read("gold.scaled")["fare"].to_list()) == [-20.0, 10.0]
    (package / "rates.py").write_text("FACTOR = 3\n")  # the transform's own file is the same
    stat = (package / "rates.py").stat()
    os.utime(package / "rates.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    p.run("gold.scaled")
    assert sorted(p.read("gold.scaled")["fare"].to_list()) == [-60.0, 30.0]
    assert p.run("gold.scaled")["status"] == "unchanged"
