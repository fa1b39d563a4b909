"""Integrity attacked as production users and failures would (issue 10), with real processes.

Each test is a hole found by attacking the promise "a run that reports success has all its rows
in the table exactly once, under concurrency and crashes too"; it failed before its fix.
"""

from __future__ import annotations

import polars as pl
import pytest

from test_concurrency import _assert_versions_are_their_commits, _source, run_together

pytestmark = pytest.mark.slow


# -- concurrent incremental appends of one transform on an EXISTING table ---------------------------
APPEND_SQL = """
-- @materialized: incremental
-- @strategy: append
SELECT id, '{{ var("who") }}' AS who FROM bronze.src
{% if is_incremental() %} WHERE id > {{ watermark('id') }} {% endif %}
"""


def test_concurrent_incremental_appends_on_an_existing_table_land_each_new_row_once(lake_project):
    """Three processes run the same watermark append at once after new source rows arrived: each
    computes the same increment from the same snapshot. Before: blind appends, all three committed
    and every new row was in the table three times while each run reported success. Now a run that
    lost the race runs again on the new watermark (nothing new) or fails with "run again"."""
    from deltalake import DeltaTable

    p = lake_project
    _source(p, "bronze.src", pl.DataFrame({"id": [1, 2, 3]}))
    p.write("silver/inc.sql", APPEND_SQL)
    p.run("silver.inc", vars={"who": "first"})
    for rnd in range(2):
        base = 10 * (rnd + 1)
        new = list(range(base, base + 4))
        target = __import__("ratatouille.discover", fromlist=["Project"]).Project.load(p.root).target("bronze.src")
        from ratatouille.write import materialization_for
        materialization_for("append").write(target, pl.DataFrame({"id": new}))
        (outcomes,) = run_together(p.root, [[("silver.inc", {"vars": {"who": f"w{w}"}})] for w in range(3)])
        assert any(o[2] == "success" for o in outcomes), outcomes
        df = p.read("silver.inc")
        assert df["id"].is_duplicated().sum() == 0, (rnd, outcomes, df.sort("id"))
        assert sorted(df["id"].to_list()) == [1, 2, 3] + [i for r in range(rnd + 1) for i in range(10 * (r + 1), 10 * (r + 1) + 4)]
        _assert_versions_are_their_commits(p, "silver.inc", outcomes)
