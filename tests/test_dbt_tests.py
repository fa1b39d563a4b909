"""Test semantics dbt users expect (issue 12.3): NULLs and `unique`, dbt's YAML forms as written,
relationships in the lineage, thresholds and `where:`, one clear error for an unknown test or a
missing column. Every case runs a real transform over a real Delta table."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import CheckError, ConfigError, RatatouilleError

SALES = [
    {"id": 1, "status": "paid", "customer_id": 10, "amount": 5.0, "day": "2024-01-01"},
    {"id": 2, "status": "open", "customer_id": 11, "amount": 7.0, "day": "2024-01-02"},
    {"id": None, "status": "paid", "customer_id": 10, "amount": 1.0, "day": "2024-01-03"},
    {"id": None, "status": "void", "customer_id": 99, "amount": -3.0, "day": "2024-01-04"},
]
CUSTOMERS = [{"id": 10, "name": "ann"}, {"id": 11, "name": "bob"}]


@pytest.fixture
def sales(rat_project):
    pl.DataFrame(SALES).write_delta(f"{rat_project.lake}/bronze/sales")
    pl.DataFrame(CUSTOMERS).write_delta(f"{rat_project.lake}/bronze/customers")
    rat_project.write("silver/sales.sql", "SELECT * FROM bronze.sales")
    return rat_project


def _checks(result_or_err) -> dict[str, dict]:
    checks = result_or_err.checks if isinstance(result_or_err, RatatouilleError) else result_or_err["checks"]
    return {c["name"]: c for c in checks}


def test_unique_ignores_nulls(sales):
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests: [unique]\n")
    result = sales.run("silver.sales")  # two NULL ids: not duplicates, as in dbt and SQL
    assert result["status"] == "success" and result["rows_written"] == 4
    assert _checks(result)["schema"]["passed"]


def test_unique_with_config_ignores_nulls_and_still_finds_duplicates(sales):
    sales.write("silver/sales.yaml", """
columns:
  - name: id
    tests:
      - unique: {config: {severity: error}}
  - name: customer_id
    tests:
      - unique: {config: {severity: warn}}
""")
    result = sales.run("silver.sales")
    checks = _checks(result)
    assert checks["unique_id"]["passed"]
    assert not checks["unique_customer_id"]["passed"] and checks["unique_customer_id"]["severity"] == "warn"
    assert checks["unique_customer_id"]["failures"] == [{"customer_id": 10, "n_records": 2}]


def test_accepted_values_dbt_form_is_read_as_the_values(sales):
    sales.write("silver/sales.yaml", """
columns:
  - name: status
    tests:
      - accepted_values:
          values: [paid, open, void]
""")
    assert sales.run("silver.sales")["status"] == "success"  # was isin(['values']): every row failed
    sales.write("silver/sales.yaml", """
columns:
  - name: status
    data_tests:
      - accepted_values: {values: [paid, open]}
""")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    failures = _checks(info.value)["schema"]["failures"]
    assert [(f["column"], f["failing_rows"], f["examples"]) for f in failures] == [("status", 1, ["void"])]


def test_data_tests_key_and_not_null_with_severity_warn(sales):
    sales.write("silver/sales.yaml", """
data_tests:
  - name: no_negative
    sql: SELECT * FROM {{ this }} WHERE amount < 0
    config: {severity: warn}
columns:
  - name: id
    data_tests:
      - not_null:
          config:
            severity: warn
""")
    result = sales.run("silver.sales")  # only warnings: written
    assert result["status"] == "success" and sales.version("silver.sales") is not None
    checks = _checks(result)
    assert checks["not_null_id"]["severity"] == "warn" and checks["not_null_id"]["failing_rows"] == 2
    assert checks["no_negative"]["severity"] == "warn" and checks["no_negative"]["failing_rows"] == 1


def test_not_null_error_blocks_the_write(sales):
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests:\n      - not_null: {config: {where: \"amount > 0\"}}\n")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    assert _checks(info.value)["not_null_id"]["failing_rows"] == 1  # the row with amount -3 is filtered out
    assert sales.version("silver.sales") is None


def test_relationships_against_another_table(sales):
    sales.write("silver/customers.sql", "SELECT * FROM bronze.customers")
    sales.write("silver/sales.yaml", """
columns:
  - name: customer_id
    tests:
      - relationships:
          to: ref('silver.customers')
          field: id
""")
    with pytest.raises(RatatouilleError) as info:
        sales.run(["silver.sales", "silver.customers"])
    rel = next(c for r in info.value.results if r["table"] == "silver.sales" for c in r["checks"]
               if c["name"] == "relationships_customer_id")
    assert rel["failing_rows"] == 1 and rel["failures"][0]["customer_id"] == 99
    # customers was built (first) in the same run, on a fresh lake
    assert sales.version("silver.customers") is not None


def test_relationships_joins_the_lineage_and_sees_this_runs_version(sales):
    """On a fresh lake, the other table is built first; later, the test sees this run's rows."""
    sales.write("silver/customers.sql", "SELECT * FROM bronze.customers")
    sales.write("silver/sales.yaml", """
columns:
  - name: customer_id
    tests:
      - relationships: {to: silver.customers, field: id, config: {severity: warn}}
""")
    result = sales.run(["silver.sales", "silver.customers"])
    assert [r["table"] for r in result.results] == ["silver.customers", "silver.sales"]
    assert _checks(result.results[1])["relationships_customer_id"]["failing_rows"] == 1
    # customer 99 arrives upstream: the same run must check against the new customers
    pl.DataFrame([{"id": 99, "name": "zed"}]).write_delta(f"{sales.lake}/bronze/customers", mode="append")
    result = sales.run(["silver.sales", "silver.customers"])
    assert _checks(result.results[1])["relationships_customer_id"]["passed"]


def test_relationships_bare_ref_is_the_same_layer(sales):
    sales.write("silver/customers.sql", "SELECT * FROM bronze.customers")
    sales.write("silver/sales.yaml", """
columns:
  - name: customer_id
    tests:
      - relationships: {to: "ref('customers')", field: id, config: {severity: warn}}
""")
    result = sales.run(["silver.customers", "silver.sales"])
    assert _checks(result.results[1])["relationships_customer_id"]["failing_rows"] == 1


def test_expression_is_true_and_unique_combination_of_columns(sales):
    sales.write("silver/sales.yaml", """
tests:
  - dbt_utils.expression_is_true:
      expression: "amount > 0 OR status = 'void'"
  - dbt_utils.unique_combination_of_columns:
      combination_of_columns: [customer_id, status]
columns:
  - name: amount
    tests:
      - expression_is_true: {expression: ">= 0", config: {severity: warn}}
""")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    checks = _checks(info.value)
    assert checks["expression_is_true"]["passed"]
    combo = checks["unique_combination_of_customer_id_status"]
    assert combo["failing_rows"] == 1 and combo["failures"] == [{"customer_id": 10, "status": "paid", "n_records": 2}]
    assert checks["expression_is_true_amount"]["severity"] == "warn"
    assert checks["expression_is_true_amount"]["failing_rows"] == 1


def test_min_max_regex_still_work_with_settings(sales):
    sales.write("silver/sales.yaml", """
columns:
  - name: amount
    tests:
      - min: {value: 0, config: {severity: warn}}
      - max: 6
  - name: status
    tests:
      - regex: {value: "[a-z]+", config: {where: "id IS NOT NULL"}}
""")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    checks = _checks(info.value)
    assert checks["min_amount"]["failing_rows"] == 1 and checks["min_amount"]["severity"] == "warn"
    assert checks["regex_status"]["passed"]
    assert checks["schema"]["failures"][0]["failing_rows"] == 1  # max 6: the 7.0


@pytest.mark.parametrize("warn_if,error_if,expect", [
    (">1", ">2", ("warn", False)),     # 2 failing rows: a warning
    (">0", ">1", ("error", False)),    # 2 > 1: an error
    (">2", ">3", (None, True)),        # under both thresholds: passes
    (">10%", ">60%", ("warn", False)),  # 2 of 4 rows = 50%
    (">10%", ">40%", ("error", False)),
])
def test_thresholds_counts_and_percentages(sales, warn_if, error_if, expect):
    sales.write("silver/sales.yaml", f"""
columns:
  - name: id
    tests:
      - not_null:
          config:
            warn_if: "{warn_if}"
            error_if: "{error_if}"
""")
    severity, passed = expect
    if severity == "error":
        with pytest.raises(CheckError) as info:
            sales.run("silver.sales")
        check = _checks(info.value)["not_null_id"]
    else:
        check = _checks(sales.run("silver.sales"))["not_null_id"]
    assert check["failing_rows"] == 2 and check["passed"] is passed
    if severity:
        assert check["severity"] == severity


def test_where_filter_on_a_sql_test(sales):
    sales.write("silver/sales.yaml", """
tests:
  - name: no_void
    sql: SELECT * FROM {{ this }} WHERE status = 'void'
    where: "day < '2024-01-04'"
""")
    assert _checks(sales.run("silver.sales"))["no_void"]["passed"]


def test_unknown_test_names_the_yaml_file_and_line(sales):
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests:\n      - not_null\n      - is_great\n")
    with pytest.raises(ConfigError) as info:
        sales.run("silver.sales")
    err = info.value
    assert err.file.endswith("sales.yaml") and err.line == 5 and "is_great" in err.message
    sales.write("silver/sales.yaml", "tests:\n  - frobnicate: {x: 1}\n")
    with pytest.raises(ConfigError) as info:
        sales.run("silver.sales")
    assert info.value.file.endswith("sales.yaml") and info.value.line == 2


@pytest.mark.parametrize("tests,line", [("[not_null]", 3), ("[unique]", 3), ("[accepted_values: {values: [a]}]", 3),
                                        ("[{not_null: {config: {severity: warn}}}]", 4),
                                        ("[{relationships: {to: bronze.customers, field: id}}]", 4)])
def test_a_test_on_a_missing_column_is_one_clear_error(sales, tests, line):
    sales.write("silver/sales.yaml", f"description: sales\ncolumns:\n  - name: idd\n    tests: {tests}\n")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    err = info.value
    assert "column_in_dataframe" not in str(err)
    assert "'idd'" in err.message and err.file.endswith("sales.yaml") and err.line == line
    assert sales.version("silver.sales") is None


def test_missing_column_in_unique_combination(sales):
    sales.write("silver/sales.yaml", "tests:\n  - unique_combination_of_columns: {combination_of_columns: [id, nope]}\n")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    assert "'nope'" in info.value.message and info.value.line == 2


def test_bad_threshold_and_missing_argument_are_config_errors(sales):
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests:\n      - not_null: {config: {warn_if: lots}}\n")
    with pytest.raises(ConfigError, match="warn_if"):
        sales.run("silver.sales")
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests:\n      - relationships: {to: silver.x}\n")
    with pytest.raises(ConfigError, match="field"):
        sales.run("silver.sales")


def test_custom_generic_test_from_the_projects_tests_generic_folder(sales):
    generic = sales.root / "tests" / "generic"
    generic.mkdir(parents=True)
    (generic / "is_even.sql").write_text("SELECT * FROM {{ model }} WHERE {{ column_name }} % 2 <> 0")
    (generic / "at_most.sql").write_text(
                "SELECT * FROM {{ model }} WHERE {{ column_name }} > {{ limit }}"
                "{% if statuses %} AND status IN ('{{ statuses | join(\"', '\") }}'){% endif %}")
    sales.write("silver/sales.yaml", """
columns:
  - name: customer_id
    tests:
      - is_even: {config: {severity: warn}}
  - name: amount
    data_tests:
      - at_most: {limit: 6, statuses: [open, paid]}
""")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales")
    checks = _checks(info.value)
    assert checks["is_even_customer_id"]["severity"] == "warn"
    assert [r["customer_id"] for r in checks["is_even_customer_id"]["failures"]] == [11, 99]
    assert checks["at_most_amount"]["failing_rows"] == 1 and checks["at_most_amount"]["failures"][0]["amount"] == 7.0
    # an error in the generic SQL names that file
    (generic / "is_even.sql").write_text("SELECT * FROM {{ model }} WHERE {{ column_name }} % 2 <> 0 )")
    with pytest.raises(RatatouilleError) as info:
        sales.run("silver.sales")
    assert info.value.file.endswith("is_even.sql")


def test_where_and_expression_must_be_one_condition(sales):
    """The YAML's SQL fragments are parsed by sqlglot as conditions: no statement smuggled in."""
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    tests:\n"
                                     "      - expression_is_true: {expression: \"> 0) UNION SELECT 1 AS x --\"}\n")
    with pytest.raises(ConfigError) as info:
        sales.run("silver.sales")
    assert "not a SQL condition" in info.value.message and info.value.file.endswith("sales.yaml")
    assert info.value.line == 4
    sales.write("silver/sales.yaml", "tests:\n  - name: t\n    sql: SELECT * FROM {{ this }} WHERE id IS NULL\n"
                                     "    where: \"1=1) UNION SELECT * FROM bronze.customers --\"\n")
    with pytest.raises(ConfigError, match="not a SQL condition"):
        sales.run("silver.sales")
