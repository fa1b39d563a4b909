"""A run whose fingerprint changed but that had nothing to write records its fingerprint, so the
next run with the same code and inputs is ``unchanged`` (issue 13.6: only changed work runs)."""

from __future__ import annotations

import polars as pl
from deltalake import DeltaTable

from ratatouille import run


def test_a_merge_of_no_new_rows_records_its_fingerprint(rat_project):
    p = rat_project
    src = f"{p.lake}/bronze/src"
    pl.DataFrame({"id": [1, 2], "v": [1.0, 2.0]}).write_delta(src)
    p.write("silver/m.sql", "-- @materialized: incremental\n-- @strategy: merge\n-- @unique_key: id\n"
                            "SELECT id, v FROM bronze.src WHERE v < 10\n"
                            "{% if is_incremental() %} AND id > {{ watermark('id') }} {% endif %}\n")
    assert run("silver.m")["status"] == "success"
    # a new input version whose rows the transform filters out: nothing to merge
    pl.DataFrame({"id": [3], "v": [99.0]}).write_delta(src, mode="append")
    second = run("silver.m")
    assert second["status"] == "skipped" and second["rows_written"] == 0
    table = DeltaTable(f"{p.lake}/silver/m")
    assert table.history(1)[0].get("ratatouille.fingerprint")  # recorded by a commit without data
    assert sorted(pl.read_delta(f"{p.lake}/silver/m")["id"].to_list()) == [1, 2]
    third = run("silver.m")
    assert third["status"] == "unchanged"
    assert DeltaTable(f"{p.lake}/silver/m").version() == table.version()
