"""Typed materialization kinds (issue 14, item 3): each kind checks its own settings once, at discovery.

Every YAML / header / ``@transform`` form parses to the right kind; a bad setting is one
ConfigError naming the transform, the file and the line of the offending key, raised the same
way by ``run()`` and by ``build_definitions()`` (the Dagster adapter no longer checks on its own).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import polars as pl
import pytest

from ratatouille.discover import Project
from ratatouille.errors import ConfigError
from ratatouille.kinds import Append, Kind, Merge, ReplacePartitions, Table, View, kind_from_settings
from ratatouille.transforms._config import TransformConfig, build_config


def _bronze(project, rows: list[dict], name: str = "bronze.orders") -> None:
    layer, short = name.split(".")
    pl.DataFrame(rows).write_delta(f"{project.lake}/{layer}/{short}", mode="overwrite")


ORDERS = [{"id": 1, "day": "2024-01-01", "amount": 10.0}, {"id": 2, "day": "2024-01-02", "amount": 20.0}]


# -- every form a user types still parses to the right kind ---------------------------------------
FORMS = [
    ("x.sql", "SELECT 1 AS id", None, Table()),
    ("x.sql", "-- @materialized: view\nSELECT 1 AS id", None, View()),
    ("x.sql", "-- @materialized: incremental\nSELECT 1 AS id", None, Append()),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: append\n-- @partition_by: id\nSELECT 1 AS id", None,
     Append(partition_by=("id",))),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: merge\n-- @unique_key: id, day\nSELECT 1 AS id", None,
     Merge(unique_key=("id", "day"))),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: merge\n-- @unique_key: [id]\n-- @delete_missing: true\n"
              "SELECT 1 AS id", None, Merge(unique_key=("id",), delete_missing=True)),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: replace_partitions\n-- @partition_by: day\n"
              "SELECT 1 AS id", None, ReplacePartitions(partition_by=("day",))),
    ("x.sql", "SELECT 1 AS id", "materialized: incremental\nstrategy: merge\nunique_key: [id]\n"
                                "on_schema_change: sync_all_columns\n",
     Merge(unique_key=("id",), on_schema_change="sync_all_columns")),
    ("x.sql", "-- @materialized: view\nSELECT 1 AS id", "materialized: table\npartition_by: id\n",
     Table(partition_by=("id",))),  # the YAML wins over the header
    ("x.sql", "-- @materialized: table\n-- @unique_key: id\nSELECT 1 AS id", None, Table(unique_key=("id",))),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\n\n"
             "@transform('silver.x', materialized='incremental', strategy='merge', unique_key='id')\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n", None, Merge(unique_key=("id",))),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\nfrom ratatouille.kinds import ReplacePartitions\n\n"
             "@transform('silver.x', materialized=ReplacePartitions(partition_by=['id']))\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n", None,
     ReplacePartitions(partition_by=("id",))),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\n\n"
             "@transform('silver.x', materialized='incremental')\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n",
     "strategy: merge\nunique_key: id\n", Merge(unique_key=("id",))),  # the YAML beside a Python transform
]


@pytest.mark.parametrize("file, text, yaml, expected", FORMS, ids=[str(i) for i in range(len(FORMS))])
def test_every_form_parses_to_its_kind(rat_project, file, text, yaml, expected):
    rat_project.write(f"silver/{file}", text)
    if yaml:
        rat_project.write("silver/x.yaml", yaml)
    t = Project.load(rat_project.root).get("silver.x")
    t.config  # a Python transform found by importing is loaded lazily
    assert type(t.materialization) is type(expected) and t.materialization == expected
    assert t.mode == expected.mode and t.config.kind is t.materialization
    assert t.config.unique_key == expected.unique_key and t.config.partition_by == expected.partition_by
    assert t.kind in ("sql", "python")  # `kind` still names the sort of transform


def test_an_ingest_yaml_keeps_its_settings_in_the_ingest_part(rat_project):
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: xlsx\nseparator: ';'\non_error: skip\n")
    t = Project.load(rat_project.root).get("bronze.sales")
    assert t.config.ingest.format == "excel" and t.config.ingest.options == {"separator": ";"}
    assert t.config.ingest.on_error == "skip" and t.config.format == "excel" and t.mode == "append"
    assert t.materialization == Append()  # an ingest transform appends the new landing files


def test_an_ingest_yaml_refuses_another_kind_at_its_line(rat_project):
    rat_project.write("bronze/sales.yaml", "source: landing/sales/\nformat: csv\nmaterialized: table\n")
    with pytest.raises(ConfigError, match="ingest transforms always append") as info:
        rat_project.run("bronze.sales")
    assert info.value.file.endswith("bronze/sales.yaml") and info.value.line == 3
    assert info.value.transform == "bronze.sales"


def test_settings_are_split_per_concern():
    cfg = build_config({"materialized": "incremental", "strategy": "replace_partitions", "partition_by": "d",
                        "group": "finance", "tags": "a, b", "owner": "me", "partitions": ["x", "y"],
                        "triggers": {"schedule": "0 6 * * *"},
                        "columns": [{"name": "d", "tests": ["not_null"]}], "description": "about"})
    assert cfg.kind == ReplacePartitions(partition_by=("d",))
    assert (cfg.orchestration.group, cfg.orchestration.tags, cfg.orchestration.owner) == ("finance", ("a", "b"), "me")
    assert cfg.orchestration.triggers == ({"schedule": "0 6 * * *"},)
    assert [c.name for c in cfg.checks.columns] == ["d"] and cfg.ingest.source is None
    # flat keyword arguments and dataclasses.replace still work, and a changed kind is checked again
    assert dataclasses.replace(cfg, group="ops").orchestration.group == "ops"
    assert dataclasses.replace(cfg, materialized="table").kind == Table(partition_by=("d",))
    assert TransformConfig(materialized="incremental", strategy="merge", unique_key="k").kind == Merge(("k",))
    with pytest.raises(ConfigError, match="strategy 'merge' needs unique_key"):
        dataclasses.replace(cfg, strategy="merge")


def test_kinds_and_settings_survive_pickling():
    """Dagster's multiprocess executor ships transforms and errors between processes."""
    import pickle

    cfg = build_config({"materialized": "incremental", "strategy": "merge", "unique_key": "id", "group": "g",
                        "columns": [{"name": "id", "tests": ["not_null"]}]})
    again = pickle.loads(pickle.dumps(cfg))
    assert again == cfg and again.kind == Merge(unique_key=("id",)) and again.group == "g"
    with pytest.raises(ConfigError) as info:
        Merge(unique_key=())
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)


def test_kind_objects_check_their_own_settings():
    with pytest.raises(ConfigError, match="strategy 'merge' needs unique_key"):
        Merge(unique_key=[])
    with pytest.raises(ConfigError, match="replace_partitions' needs partition_by"):
        ReplacePartitions()
    with pytest.raises(ConfigError, match="on_schema_change must be one of"):
        Append(on_schema_change="sometimes")
    assert Merge("a, b").unique_key == ("a", "b") and isinstance(View(), Kind)
    assert kind_from_settings(Merge(unique_key="id", delete_missing=True).settings()) == \
        Merge(unique_key=("id",), delete_missing=True)
    with pytest.raises(ConfigError, match="set on the kind object"):
        kind_from_settings({"materialized": Merge(unique_key="id"), "unique_key": "other"})


# -- a bad setting: one error, naming the transform, the file and the line ----------------------
BAD = [
    ("x.sql", "-- @description: d\n-- @materialized: incremental\n-- @strategy: merge\nSELECT 1 AS id", None,
     "x.sql", 3, "strategy 'merge' needs unique_key"),
    ("x.sql", "-- @materialized: table\n-- @strategy: merge\nSELECT 1 AS id", None,
     "x.sql", 2, "strategy 'merge' needs materialized: incremental"),
    ("x.sql", "-- @materialized: incremental\n-- @delete_missing: true\nSELECT 1 AS id", None,
     "x.sql", 2, "delete_missing only applies to strategy 'merge'"),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: upsert\nSELECT 1 AS id", None,
     "x.sql", 2, "strategy must be one of append, merge, replace_partitions"),
    ("x.sql", "-- @materialized: view\nSELECT 1 AS id", "description: d\non_schema_change: fail\n",
     "x.yaml", 2, "on_schema_change does not apply to materialized: view"),
    ("x.sql", "SELECT 1 AS id", "materialized: incremental\n\nstrategy: replace_partitions\n",
     "x.yaml", 3, "strategy 'replace_partitions' needs partition_by"),
    ("x.sql", "SELECT 1 AS id", "materialized: incremental\non_schema_change: sometimes\n",
     "x.yaml", 2, "on_schema_change must be one of"),
    ("x.sql", "-- @materialized: incremental\n-- @strategy: merge\n-- @unique_key: id\nSELECT 1 AS id",
     "description: d\nstrategy: replace_partitions\n", "x.yaml", 2, "replace_partitions' needs partition_by"),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\n\n"
             "@transform('silver.x',\n           materialized='incremental',\n           strategy='merge')\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n", None,
     "x.py", 6, "strategy 'merge' needs unique_key"),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\n\n"
             "@transform('silver.x', materialized='incremental', strategy='merge', unique_key='id')\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n",
     "description: d\nstrategy: replace_partitions\n", "x.yaml", 2, "replace_partitions' needs partition_by"),
    ("x.py", "import polars as pl\nfrom ratatouille import transform\nSTRATEGY = 'merge'  # not a literal\n\n"
             "@transform('silver.x', materialized='incremental', strategy=STRATEGY)\n"
             "def x() -> pl.LazyFrame:\n    return pl.LazyFrame({'id': [1]})\n", None,
     "x.py", 5, "strategy 'merge' needs unique_key"),
]


@pytest.mark.parametrize("file, text, yaml, where, line, message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_kind_setting_names_transform_file_and_line(rat_project, file, text, yaml, where, line, message):
    _bronze(rat_project, ORDERS)
    rat_project.write("silver/ok.sql", "SELECT id FROM bronze.orders")
    rat_project.write(f"silver/{file}", text)
    if yaml:
        rat_project.write("silver/x.yaml", yaml)
    with pytest.raises(ConfigError, match=message) as info:
        rat_project.run("silver.x")
    err = info.value
    assert err.transform == "silver.x" and err.file.endswith(f"silver/{where}") and err.line == line
    assert rat_project.version("silver.x") is None  # nothing written
    assert rat_project.run("silver.ok")["status"] == "success"  # the others still load and run


# -- the Dagster adapter no longer checks on its own: the same error, from discovery ----------------
ORCHESTRATION = [
    ("partitions: {daily: 2024-01-01}\n", "partitions: needs partition_by", 1),
    ("partition_by: day\npartitions: {daily: someday}\n", "not a date", 2),
    ("partition_by: day\npartitions: {daily: 2024-01-01, timezone: Mars/Olympus}\n", "unknown time zone", 2),
    ("materialized: view\npartition_by: day\npartitions: [a, b]\n", "partition_by does not apply", 2),
    ("description: d\ntriggers:\n  - schedule: every morning\n", r"triggers\[0\]: schedule must be a cron", 2),
    ("triggers:\n  - schedule: '61 * * * *'\n", r"triggers\[0\]: schedule must be a cron", 1),
    ("triggers:\n  - sensor: landing/x/\n    minimum_interval_seconds: 0\n", "minimum_interval_seconds", 1),
    ("description: d\ngroup: 'bad-group'\n", "group 'bad-group' must use letters", 2),
]


@pytest.mark.parametrize("yaml, message, line", ORCHESTRATION, ids=[str(i) for i in range(len(ORCHESTRATION))])
def test_a_bad_orchestration_setting_fails_at_discovery_the_same_in_run_and_dagster(rat_project, yaml, message,
                                                                                     line):
    from ratatouille.dagster import build_definitions

    _bronze(rat_project, ORDERS)
    rat_project.write("silver/x.sql", "SELECT id, day FROM bronze.orders")
    rat_project.write("silver/x.yaml", yaml)
    with pytest.raises(ConfigError, match=message) as in_run:
        rat_project.run("silver.x")
    assert in_run.value.file.endswith("silver/x.yaml") and in_run.value.line == line
    assert in_run.value.transform == "silver.x"
    with pytest.raises(ConfigError, match=message) as in_dagster:
        build_definitions(rat_project.root, strict=True)
    assert str(in_dagster.value) == str(in_run.value)
    defs = build_definitions(rat_project.root)
    assert defs.metadata["ratatouille/load_errors"].value == [str(in_run.value)]


def test_discovery_checks_orchestration_without_importing_dagster(rat_project):
    """The check lives in the core: loading a project reports a bad ``partitions:`` with no Dagster import."""
    rat_project.write("silver/x.sql", "SELECT 1 AS id")
    rat_project.write("silver/x.yaml", "triggers:\n  - schedule: every morning\n")
    code = ("import sys, json\nfrom ratatouille.discover import Project\n"
            f"t = Project.load({str(rat_project.root)!r}).get('silver.x')\n"
            "print(json.dumps([type(t).__name__, str(t.error), 'dagster' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kind, error, dagster_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert kind == "BrokenTransform" and "schedule must be a cron string" in error and "x.yaml, line 1" in error
    assert dagster_loaded is False


def test_valid_orchestration_settings_still_build_dagster_objects(rat_project):
    import dagster as dg

    from ratatouille.dagster import build_definitions

    rat_project.write("silver/x.sql", "SELECT DATE '2024-01-01' AS day")
    rat_project.write("silver/x.yaml", "partition_by: day\npartitions: {hourly: 2024-01-01, timezone: Europe/Paris}\n"
                                       "triggers:\n  - schedule: '*/15 8-18 * * mon-fri'\n")
    defs = build_definitions(rat_project.root, strict=True)
    asset = next(a for a in defs.assets if dg.AssetKey(["silver", "x"]) in a.keys)
    assert isinstance(asset.partitions_def, dg.HourlyPartitionsDefinition)
    assert asset.partitions_def.timezone == "Europe/Paris"
    assert next(iter(defs.schedules)).cron_schedule == "*/15 8-18 * * mon-fri"


# -- the writer is chosen by the kind's class ------------------------------------------------------
def test_write_dispatches_on_the_kind_class(rat_project):
    from ratatouille import write
    from ratatouille.write._dispatch import writer_for

    assert type(writer_for(Merge(unique_key="id", delete_missing=True))) is write.Merge
    assert writer_for(Merge(unique_key="id", delete_missing=True)).delete_missing is True
    assert type(writer_for(ReplacePartitions("day"))) is write.ReplacePartitions
    assert type(writer_for(View())) is write.View and type(writer_for(Table())) is write.Table

    _bronze(rat_project, ORDERS)
    rat_project.write("silver/m.py", """
        import polars as pl
        from ratatouille import transform
        from ratatouille.kinds import Merge

        @transform("silver.m", inputs=["bronze.orders"], materialized=Merge(unique_key="id", delete_missing=True))
        def m(orders: pl.LazyFrame) -> pl.LazyFrame:
            return orders.select("id", "amount")
    """)
    assert rat_project.run("silver.m")["mode"] == "merge"
    _bronze(rat_project, [{"id": 2, "day": "2024-01-02", "amount": 99.0}, {"id": 3, "day": "x", "amount": 1.0}])
    out = rat_project.run("silver.m")
    assert out["mode"] == "merge" and out["version"] == 1
    assert rat_project.read("silver.m").sort("id").rows() == [(2, 99.0), (3, 1.0)]  # upserted, 1 deleted
