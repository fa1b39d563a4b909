"""Attacks on the checks (issue 12) as a dbt user porting a project and as an attacker would try
them: each test failed on the code before its fix. Real transforms over real Delta tables."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import CheckError, ConfigError, RatatouilleError

SALES = {"id": [1, 2, None, None], "status": ["paid", "open", "paid", "void"], "cid": [10, 11, 10, 99],
         "amt": [5.0, 7.0, 1.0, -3.0]}


@pytest.fixture
def sales(rat_project):
    pl.DataFrame(SALES).write_delta(f"{rat_project.lake}/bronze/sales")
    rat_project.write("silver/sales.sql", "SELECT * FROM bronze.sales")
    return rat_project


def _checks(result_or_err) -> dict[str, dict]:
    checks = result_or_err.checks if isinstance(result_or_err, RatatouilleError) else result_or_err["checks"]
    return {c["name"]: c for c in checks}


def test_dbt_1_10_arguments_form_is_read(sales):
    """dbt 1.10 writes a generic test's arguments under ``arguments:`` (was: "needs values: [a, b, ...]")."""
    sales.write("silver/sales.yaml", """
columns:
  - name: status
    data_tests:
      - accepted_values:
          arguments:
            values: [paid, open]
          config:
            severity: warn
""")
    result = sales.run("silver.sales")
    check = _checks(result)["accepted_values_status"]
    assert result["status"] == "success" and check["severity"] == "warn" and check["failing_rows"] == 1


def test_enabled_false_leaves_the_test_out(sales):
    """dbt's ``config: {enabled: false}`` disables a test (was: accepted, then run anyway: the write failed)."""
    sales.write("silver/sales.yaml", """
columns:
  - name: id
    data_tests:
      - not_null: {config: {enabled: false}}
      - unique
data_tests:
  - name: negative_amounts
    sql: SELECT * FROM {{ this }} WHERE amt < 0
    config: {enabled: false}
""")
    result = sales.run("silver.sales")
    assert result["status"] == "success" and result["rows_written"] == 4
    assert set(_checks(result)) == {"schema"}
    sales.write("silver/sales.yaml", "columns:\n  - name: id\n    data_tests:\n      - not_null: {enabled: true}\n")
    with pytest.raises(CheckError):  # enabled: true (or unset) still runs it
        sales.run("silver.sales", full_refresh=True)


def test_dbt_meta_and_tags_in_config_are_accepted(sales):
    """``meta:`` is a dbt test config key that documents the test (was: "unknown config key 'meta'")."""
    sales.write("silver/sales.yaml", """
columns:
  - name: id
    data_tests:
      - not_null: {config: {severity: warn, meta: {owner: data-team}, tags: [nightly]}}
data_tests:
  - name: negative_amounts
    sql: SELECT * FROM {{ this }} WHERE amt < 0
    config: {severity: WARN, meta: {owner: finance}}
""")
    checks = _checks(sales.run("silver.sales"))
    assert checks["not_null_id"]["failing_rows"] == 2 and checks["not_null_id"]["severity"] == "warn"
    assert checks["negative_amounts"]["failing_rows"] == 1 and checks["negative_amounts"]["severity"] == "warn"


def test_accepted_values_quote_false_reads_the_values_as_sql_literals(sales):
    """dbt's ``quote: false`` writes the values into the SQL unquoted: '10' is the number 10 (was: compared as
    text, so an integer column failed)."""
    sales.write("silver/sales.yaml", """
columns:
  - name: cid
    data_tests:
      - accepted_values: {values: ['10', '11', '99'], quote: false}
""")
    assert sales.run("silver.sales")["status"] == "success"
    sales.write("silver/sales.yaml", """
columns:
  - name: cid
    data_tests:
      - accepted_values: {values: ['10', '11'], quote: false}
""")
    with pytest.raises(CheckError) as info:
        sales.run("silver.sales", full_refresh=True)
    assert [f["examples"] for f in _checks(info.value)["schema"]["failures"]] == [["99"]]
    sales.write("silver/sales.yaml", """
columns:
  - name: cid
    data_tests:
      - accepted_values: {values: ['10', 'lower(x)'], quote: false}
""")
    with pytest.raises(ConfigError, match="SQL literal") as bad:
        sales.run("silver.sales", full_refresh=True)
    assert bad.value.file.endswith("sales.yaml") and bad.value.line == 4


_CRASH_AFTER_QUARANTINE = """
import os, sys
import ratatouille
from ratatouille.check import _on_fail

original = _on_fail.write_once

def write_then_crash(*args, **kwargs):
    version = original(*args, **kwargs)
    os._exit(3)  # the process dies between the quarantine commit and the table's own commit

_on_fail.write_once = write_then_crash
ratatouille.run(sys.argv[1], full_refresh=sys.argv[2] == "1")
"""


@pytest.mark.slow
@pytest.mark.parametrize("full_refresh", [False, True])
def test_quarantine_retry_after_a_crash_before_the_main_commit_does_not_double_it(rat_project, full_refresh):
    """A process killed after the quarantine commit and before the table's commit: the next run (a new run
    id) redoes the same work and must not quarantine the same rows again (was: a second copy per retry)."""
    import subprocess
    import sys

    p = rat_project
    pl.DataFrame({"id": [1, 2, 3], "name": ["a", None, None]}).write_delta(f"{p.lake}/bronze/src")
    p.write("silver/q.sql", "SELECT * FROM bronze.src\n")
    p.write("silver/q.yaml", "columns:\n  - name: name\n    tests:\n      - not_null: {config: {on_fail: quarantine}}\n")
    crashed = subprocess.run([sys.executable, "-c", _CRASH_AFTER_QUARANTINE, "silver.q", str(int(full_refresh))],
                             cwd=p.root, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr
    assert p.read("silver.q__quarantine").height == 2 and p.version("silver.q") is None
    result = p.run("silver.q", full_refresh=full_refresh)  # the retry
    assert result["status"] == "success" and result["rows_quarantined"] == 2
    assert sorted(p.read("silver.q")["id"].to_list()) == [1]
    assert p.read("silver.q__quarantine").height == 2  # not 4
    pl.DataFrame({"id": [4], "name": [None]}, schema={"id": pl.Int64, "name": pl.String}).write_delta(f"{p.lake}/bronze/src", mode="append")
    p.run("silver.q", full_refresh=full_refresh)  # new input: a new attempt quarantines its failing rows (a table
    q = p.read("silver.q__quarantine")             # is rebuilt whole: ids 2, 3 and 4 again)
    assert q.height == 5 and q["_run_id"].n_unique() == 2


_BLOBS = """
import polars as pl
from ratatouille import transform


@transform("silver.blobs", inputs=[])
def blobs():
    return pl.DataFrame({"id": [1, 2, 3], "blob": ["x" * 1_000_000] * 3})
"""


def _size(value) -> int:
    import json

    return len(json.dumps(value, default=str))


@pytest.mark.slow
def test_failing_rows_with_huge_values_stay_small_in_the_result_and_dagster_metadata(rat_project):
    """Failing rows of megabyte strings: the sample in the RunResult and in Dagster's check metadata is
    clipped (was: every failing row whole, 3 MB in the result and the event log)."""
    dg = pytest.importorskip("dagster")
    from ratatouille.dagster import build_definitions

    p = rat_project
    p.write("silver/blobs.py", _BLOBS)
    p.write("silver/blobs.yaml", """
tests:
  - name: any_row
    sql: SELECT * FROM {{ this }} WHERE id > 0
    severity: warn
  - name: dropped
    sql: SELECT * FROM {{ this }} WHERE id = 3
    on_fail: drop
""")
    result = p.run("silver.blobs")
    checks = _checks(result)
    assert checks["any_row"]["failing_rows"] == 2 and checks["dropped"]["rows_dropped"] == 1
    assert _size(result["checks"]) < 10_000
    sample = checks["any_row"]["failures"][0]
    assert sample["id"] == 1 and sample["blob"].startswith("xxx") and sample["blob"].endswith("(1000000 chars)")
    assert p.read("silver.blobs")["blob"].str.len_chars().to_list() == [1_000_000] * 2  # the data stays whole

    instance = dg.DagsterInstance.ephemeral()
    assets = [a for a in build_definitions().assets
              if isinstance(a, dg.AssetsDefinition) and a.node_def.name.startswith("ratatouille")]
    run = dg.materialize(assets, instance=instance, raise_on_error=False)
    evals = run.get_asset_check_evaluations()
    assert {e.check_name for e in evals} >= {"any_row"}
    for e in evals:
        assert _size({k: str(v.value) for k, v in e.metadata.items()}) < 20_000


def test_a_failing_landing_row_with_a_long_value_is_still_located_by_line(rat_project):
    """The clipped samples must not hide where the failing row is: the rejected landing file's reason
    names the line of a row whose text is longer than a sample keeps."""
    p = rat_project
    p.write("bronze/notes.yaml", """
source: landing/notes/
format: csv
tests:
  - name: no_negative
    sql: SELECT * FROM {{ this }} WHERE qty < 0
""")
    long = "y" * 5000
    p.landing("notes/a.csv", f"id,note,qty\n1,{long},2\n2,{long},-1\n")
    p.landing("notes/b.csv", "id,note,qty\n3,fine,1\n")
    result = p.run("bronze.notes")
    assert result["status"] == "success" and p.read("bronze.notes")["id"].to_list() == [3]
    reason = p.read_text("landing/_rejected/notes/a.csv.reason.txt")
    assert "line 3" in reason and "no_negative" in reason


def test_a_landing_row_failing_a_column_test_is_named_by_its_line(rat_project):
    """A YAML column test (the schema check) on a numeric column of a landing CSV: the rejected file's reason
    names the line of the failing row (was: no line, Pandera's examples are text and never matched -1)."""
    p = rat_project
    p.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\ncolumns:\n  - name: qty\n    tests: [positive]\n")
    p.landing("orders/a.csv", "id,note,qty\n1,a,2\n2,b,3\n3,ok,-1\n")
    p.landing("orders/b.csv", "id,note,qty\n4,fine,1\n")
    result = p.run("bronze.orders")
    assert result["status"] == "success" and p.read("bronze.orders")["id"].to_list() == [4]
    reason = p.read_text("landing/_rejected/orders/a.csv.reason.txt")
    assert "line 4" in reason and "greater_than(0)" in reason


def test_model_level_column_test_with_column_name(sales):
    """dbt's model-level form ``- not_null: {column_name: id}`` (also under ``arguments:``) is the column test
    (was: "unknown test 'not_null' in tests:"); a missing column is the clear missing-column error."""
    sales.write("silver/sales.yaml", """
data_tests:
  - not_null: {column_name: id, config: {severity: warn}}
  - unique:
      arguments: {column_name: cid}
      config: {severity: warn}
""")
    checks = _checks(sales.run("silver.sales"))
    assert checks["not_null_id"]["failing_rows"] == 2 and checks["unique_cid"]["failures"] == [{"cid": 10, "n_records": 2}]
    sales.write("silver/sales.yaml", "data_tests:\n  - not_null: {column_name: nope}\n")
    with pytest.raises(CheckError, match="not_null_nope.*'nope', which the table does not have") as info:
        sales.run("silver.sales", full_refresh=True)
    assert info.value.file.endswith("sales.yaml")


@pytest.mark.parametrize("on_fail", ["drop", "quarantine"])
def test_error_if_still_holds_on_a_drop_or_quarantine_test(sales, on_fail):
    """``on_fail: drop`` with ``error_if: '>25%'``: a few bad rows are removed, too many block the write
    (was: error_if silently ignored, every failing row removed however many)."""
    sales.write("silver/sales.yaml", f"""
columns:
  - name: id
    data_tests:
      - not_null: {{config: {{on_fail: {on_fail}, error_if: '>25%'}}}}
""")
    with pytest.raises(CheckError, match="error_if >25%") as info:
        sales.run("silver.sales")  # 2 NULL ids of 4 rows: 50%
    check = _checks(info.value)["not_null_id"]
    assert check["severity"] == "error" and check["failing_rows"] == 2 and not check["passed"]
    assert sales.version("silver.sales") is None and sales.version("silver.sales__quarantine") is None
    sales.write("silver/sales.yaml", f"""
columns:
  - name: id
    data_tests:
      - not_null: {{config: {{on_fail: {on_fail}, error_if: '>60%', where: "status = 'paid'"}}}}
""")
    result = sales.run("silver.sales")  # 1 NULL id of the 2 paid rows (50%): removed, the rest written
    assert result["status"] == "success" and result["rows_written"] == 3
    assert result[f"rows_{'dropped' if on_fail == 'drop' else 'quarantined'}"] == 1


def test_a_failing_landing_row_after_a_multi_line_field_is_named_by_its_real_line(rat_project):
    """A quoted CSV field holding line breaks: the failing row below it is named by the line an editor
    shows (was: one line per row counted, 'line 3' for a row on line 5)."""
    p = rat_project
    p.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\ncolumns:\n  - name: qty\n    tests: [positive]\n")
    p.landing("orders/a.csv", 'id,note,qty\n1,"multi\nline\nnote",2\n2,ok,-1\n')
    p.run("bronze.orders")
    reason = p.read_text("landing/_rejected/orders/a.csv.reason.txt")
    assert "line 5" in reason, reason


def test_a_where_filter_reading_another_table_joins_the_lineage(rat_project):
    """``where:`` with a subquery on another table: that table is built first in the same run and the
    filter reads this run's version (was: "table bronze.customers is not a lake table registered for this
    query", on a fresh lake and in a dry run)."""
    p = rat_project
    p.write("bronze/orders.yaml", "source: landing/orders/\nformat: csv\n")
    p.write("bronze/customers.yaml", "source: landing/customers/\nformat: csv\n")
    p.write("silver/orders.sql", "SELECT * FROM bronze.orders")
    p.write("silver/orders.yaml", """
columns:
  - name: qty
    data_tests:
      - positive: {config: {where: "cid IN (SELECT id FROM bronze.customers)"}}
""")
    p.landing("orders/a.csv", "id,cid,qty\n1,10,1\n2,99,-1\n")
    p.landing("customers/a.csv", "id\n10\n")
    dry = p.run("silver.orders", dry_run=True, upstream=True)
    assert dry["status"] == "success" and p.version("bronze.customers") is None
    assert [r["table"] for r in dry.results].index("bronze.customers") < [r["table"] for r in dry.results].index("silver.orders")
    result = p.run("silver.orders", upstream=True)  # the 99 row is not a known customer's: filtered out
    assert result["status"] == "success" and p.read("silver.orders").height == 2
    p.landing("customers/b.csv", "id\n99\n")  # now it is: its negative qty fails, against this run's customers
    with pytest.raises(CheckError, match="positive_qty"):
        p.run("silver.orders", upstream=True)
