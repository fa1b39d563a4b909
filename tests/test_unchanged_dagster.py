"""Dagster view of an ``unchanged`` transform: a materialization with ``unchanged: true``, the same
data version (the Delta version) as the run that wrote the table, and no new Delta commit."""

from __future__ import annotations

import pytest

dg = pytest.importorskip("dagster")

from ratatouille.dagster import build_definitions  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _materializations(result) -> dict[str, dg.AssetMaterialization]:
    return {e.materialization.asset_key.to_user_string(): e.materialization
            for e in result.get_asset_materialization_events()}


def _value(mat, key):
    value = mat.metadata[key]
    return getattr(value, "value", value)


@pytest.mark.slow
def test_second_materialization_reports_unchanged_with_the_same_data_version(rat_project):
    p = rat_project
    p.write("bronze/trips.yaml", "source: landing/trips/\nformat: csv\n")
    p.write("silver/trips.sql", "SELECT trip_id, fare FROM bronze.trips WHERE fare > 0")
    p.write("gold/total.sql", "SELECT SUM(fare) AS total FROM silver.trips")
    p.landing("trips/a.csv", "trip_id,fare\n1,10.0\n2,0.0\n3,5.0\n")
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
              and a.node_def.name.startswith("ratatouille")]
    instance = dg.DagsterInstance.ephemeral()
    first = _materializations(dg.materialize(assets, instance=instance))
    second = _materializations(dg.materialize(assets, instance=instance))
    for key in ("bronze/trips", "silver/trips", "gold/total"):
        assert _value(first[key], "status") == "success" and _value(first[key], "unchanged") is False
        assert _value(second[key], "status") == "unchanged" and _value(second[key], "unchanged") is True
        assert _value(second[key], "delta_version") == _value(first[key], "delta_version") == 0
        assert second[key].tags["dagster/data_version"] == first[key].tags["dagster/data_version"] == "v0"
    assert _value(second["gold/total"], "dagster/row_count") == 1
    assert p.version("gold.total") == 0 and p.read("gold.total")["total"].to_list() == [15.0]
