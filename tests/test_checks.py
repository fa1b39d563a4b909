"""Pandera schemas (YAML columns and DataFrameModel) and SQL tests, run before the write."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import CheckError

TRIPS = [
    {"trip_id": 1, "zone": "north", "fare": 12.0, "distance_km": 3.0, "code": "T-1"},
    {"trip_id": 2, "zone": "south", "fare": 0.0, "distance_km": 12.0, "code": "T-2"},
    {"trip_id": 2, "zone": "mars", "fare": 900.0, "distance_km": 1.0, "code": "bad"},
    {"trip_id": None, "zone": "east", "fare": -1.0, "distance_km": 1.0, "code": "T-4"},
]


@pytest.fixture
def trips(rat_project):
    pl.DataFrame(TRIPS).write_delta(f"{rat_project.lake}/bronze/trips")
    rat_project.write("silver/trips.sql", "SELECT * FROM bronze.trips")
    return rat_project


def _failures(err: CheckError) -> dict[tuple[str, str], int]:
    schema = next(c for c in err.checks if c["name"] == "schema")
    return {(f["column"], f["check"]): f["failing_rows"] for f in schema["failures"]}


def test_every_column_test_kind(trips):
    trips.write("silver/trips.yaml", """
        columns:
          - name: trip_id
            type: int64
            tests: [not_null, unique]
          - name: zone
            tests:
              - accepted_values: [north, south, east, west]
          - name: fare
            tests: [positive, {min: 0}, {max: 500}]
          - name: code
            tests: [{regex: "^T-[0-9]+$"}]
    """)
    with pytest.raises(CheckError) as info:
        trips.run("silver.trips")
    failures = _failures(info.value)
    assert failures[("trip_id", "not_nullable")] == 1
    assert failures[("trip_id", "field_uniqueness")] == 2
    assert failures[("zone", "isin(['north', 'south', 'east', 'west'])")] == 1
    assert failures[("fare", "greater_than(0)")] == 2  # 0.0 and -1.0
    assert failures[("fare", "greater_than_or_equal_to(0)")] == 1
    assert failures[("fare", "less_than_or_equal_to(500)")] == 1
    assert failures[("code", "str_matches('^T-[0-9]+$')")] == 1
    assert trips.version("silver.trips") is None  # nothing written


def test_passing_checks_are_reported_in_the_result(trips):
    trips.write("silver/trips.yaml", """
        columns:
          - name: distance_km
            tests: [positive]
        tests:
          - name: has_rows
            sql: SELECT 1 AS x FROM (SELECT COUNT(*) AS n FROM {{ this }}) WHERE n = 0
    """)
    result = trips.run("silver.trips")
    assert [(c["name"], c["passed"]) for c in result["checks"]] == [("schema", True), ("has_rows", True)]


def test_sql_test_error_blocks_and_warn_only_reports(trips):
    trips.write("silver/trips.yaml", """
        tests:
          - name: no_free_long_trips
            sql: SELECT * FROM {{ this }} WHERE distance_km > 10 AND fare = 0
            severity: warn
    """)
    result = trips.run("silver.trips")
    check = result["checks"][0]
    assert result["status"] == "success" and check["passed"] is False and check["failing_rows"] == 1
    assert check["failures"][0]["trip_id"] == 2
    assert trips.version("silver.trips") == 0

    trips.write("silver/trips.yaml", """
        tests:
          - name: no_free_long_trips
            sql: SELECT * FROM {{ this }} WHERE distance_km > 10 AND fare = 0
            severity: error
    """)
    with pytest.raises(CheckError, match="no_free_long_trips: 1 rows"):
        trips.run("silver.trips")
    assert trips.version("silver.trips") == 0


def test_sql_test_may_read_other_tables(trips):
    pl.DataFrame({"zone": ["north", "south", "east"]}).write_delta(f"{trips.lake}/bronze/zones")
    trips.write("silver/trips.yaml", """
        tests:
          - name: known_zone
            sql: SELECT * FROM {{ this }} WHERE zone NOT IN (SELECT zone FROM bronze.zones)
    """)
    with pytest.raises(CheckError) as info:
        trips.run("silver.trips")
    assert info.value.checks[0]["failing_rows"] == 1


def test_pandera_model_on_python_transform(rat_project):
    pl.DataFrame(TRIPS).write_delta(f"{rat_project.lake}/bronze/trips")
    rat_project.write("gold/fares.py", '''
        import pandera.polars as pa
        import polars as pl
        from ratatouille import transform


        class Fares(pa.DataFrameModel):
            zone: str = pa.Field(isin=["north", "south", "east", "west"])
            fare: float = pa.Field(ge=0)


        @transform("gold.fares", inputs=["bronze.trips"], schema=Fares)
        def fares(trips: pl.LazyFrame) -> pl.LazyFrame:
            return trips.select("zone", "fare")
    ''')
    with pytest.raises(CheckError) as info:
        rat_project.run("gold.fares")
    failures = _failures(info.value)
    assert failures[("zone", "isin(['north', 'south', 'east', 'west'])")] == 1
    assert failures[("fare", "greater_than_or_equal_to(0)")] == 1
    assert rat_project.version("gold.fares") is None

    rat_project.write("gold/fares.py", '''
        import pandera.polars as pa
        import polars as pl
        from ratatouille import transform


        class Fares(pa.DataFrameModel):
            fare: float = pa.Field(ge=0)


        @transform("gold.fares", inputs=["bronze.trips"], schema=Fares)
        def fares(trips: pl.LazyFrame) -> pl.LazyFrame:
            return trips.filter(pl.col("fare") >= 0).select("zone", "fare")
    ''')
    result = rat_project.run("gold.fares")
    assert result["checks"][0]["passed"] and result["rows_written"] == 3


def test_unknown_column_test_is_a_config_error(trips):
    from ratatouille import ConfigError

    trips.write("silver/trips.yaml", "columns:\n  - name: fare\n    tests: [is_nice]\n")
    with pytest.raises(ConfigError, match="unknown column test 'is_nice'"):
        trips.run("silver.trips")


def test_yaml_beside_a_python_transform_adds_checks(rat_project):
    pl.DataFrame(TRIPS).write_delta(f"{rat_project.lake}/bronze/trips")
    rat_project.write("gold/zones.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("gold.zones", inputs=["bronze.trips"])
        def zones(trips):
            return trips.select("zone").unique()
    ''')
    rat_project.write("gold/zones.yaml", """
        description: Distinct zones.
        columns:
          - name: zone
            tests: [{accepted_values: [north, south, east]}]
    """)
    with pytest.raises(CheckError, match="gold.zones"):
        rat_project.run("gold.zones")
    from ratatouille.discover import Project

    assert Project.load().get("gold.zones").description == "Distinct zones."


def test_checks_of_a_view_run_on_what_it_reads(trips):
    trips.write("silver/trips.sql", "-- @materialized: view\nSELECT * FROM bronze.trips WHERE trip_id IS NOT NULL")
    trips.write("silver/trips.yaml", "columns:\n  - {name: trip_id, tests: [unique]}\n"
                                     "tests:\n  - {name: cheap, sql: 'SELECT * FROM {{ this }} WHERE fare > 100', "
                                     "severity: warn}\n")
    with pytest.raises(CheckError, match="trip_id") as info:
        trips.run("silver.trips")
    assert {c["name"]: c["passed"] for c in info.value.checks} == {"schema": False, "cheap": False}
    trips.write("silver/trips.sql", "-- @materialized: view\nSELECT * FROM bronze.trips WHERE zone = 'north'")
    ok = trips.run("silver.trips")
    assert ok["status"] == "success" and [c["passed"] for c in ok["checks"]] == [True, True]


@pytest.mark.parametrize("names, message", [
    (["no-neg", "no_neg"], "have the same name as checks"),
    (["dup", "dup"], "tests 'dup' and 'dup' have the same name"),
    (["NoNeg", "noneg"], "have the same name as checks and tables"),  # one store_failures audit table
    (["schema"], "reserved for the columns: check"),
    (["Schema"], "reserved for the columns: check"),
])
def test_test_names_are_unique_and_schema_is_reserved(trips, names, message):
    from ratatouille import ConfigError

    tests = "".join(f"  - {{name: {n}, sql: 'SELECT * FROM {{{{ this }}}} WHERE fare < 0'}}\n" for n in names)
    trips.write("silver/trips.yaml", "tests:\n" + tests)
    with pytest.raises(ConfigError, match=message) as info:
        trips.run("silver.trips")
    assert info.value.file.endswith("silver/trips.yaml")
