"""A relationships test joins the Dagster lineage too (issue 12.3): the other table is a dep of the
asset and is materialized first in the same run, so the check sees this run's rows."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

dg = pytest.importorskip("dagster")

from ratatouille.dagster import build_definitions  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning, module="dagster")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.mark.slow
def test_relationships_test_is_a_dagster_dep_and_runs_after_the_other_table(rat_project):
    pl.DataFrame({"id": [1, 2], "customer_id": [10, 11]}).write_delta(f"{rat_project.lake}/bronze/sales")
    pl.DataFrame({"id": [10, 11]}).write_delta(f"{rat_project.lake}/bronze/customers")
    rat_project.write("silver/customers.sql", "SELECT * FROM bronze.customers")
    rat_project.write("silver/sales.sql", "SELECT * FROM bronze.sales")
    rat_project.write("silver/sales.yaml", "columns:\n  - name: customer_id\n    tests:\n"
                                           "      - relationships: {to: ref('silver.customers'), field: id}\n")
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
              and a.node_def.name.startswith("ratatouille")]
    deps = {s.key.to_user_string(): {d.asset_key.to_user_string() for d in s.deps} for a in assets for s in a.specs}
    assert deps["silver/sales"] == {"bronze/sales", "silver/customers"}
    # a fresh lake: customers is built first in the same run, and the check passes against it
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks[("silver/sales", "relationships_customer_id")].passed
    assert rat_project.version("silver.customers") is not None and rat_project.version("silver.sales") is not None
