"""Bad input: one clear error naming the place, and the table keeps its version and contents."""

from __future__ import annotations

import polars as pl
import pytest

from ratatouille import (
    CheckError,
    ConfigError,
    CycleError,
    RatatouilleError,
    RunError,
    SQLError,
    TableNotFoundError,
    TransformError,
)

ROWS = [{"id": 1, "amount": 10.0}, {"id": 2, "amount": 20.0}]


@pytest.fixture
def built(rat_project):
    """A project whose silver.orders is built at version 0."""
    pl.DataFrame(ROWS).write_delta(f"{rat_project.lake}/bronze/orders")
    sql = rat_project.write("silver/orders.sql", "SELECT id, amount FROM bronze.orders\n")
    rat_project.run("silver.orders")
    assert rat_project.version("silver.orders") == 0
    return rat_project, sql


def _unchanged(project) -> None:
    assert project.version("silver.orders") == 0
    assert project.read("silver.orders").sort("id").rows() == [(1, 10.0), (2, 20.0)]


def test_sql_syntax_error_names_file_and_line(built):
    project, sql = built
    sql.write_text("SELECT id,\n  amount\nFROM\nWHERE id > 1\n")
    with pytest.raises(SQLError) as info:
        project.run("silver.orders")
    err = info.value
    assert err.transform == "silver.orders" and err.file.endswith("silver/orders.sql") and err.line == 4
    assert "silver/orders.sql, line 4" in str(err)
    _unchanged(project)


def test_unknown_column_names_the_line(built):
    project, sql = built
    sql.write_text("SELECT id,\n  amount,\n  nope\nFROM bronze.orders\n")
    with pytest.raises(SQLError) as info:
        project.run("silver.orders")
    assert info.value.line == 3 and "nope" in str(info.value)
    _unchanged(project)


def test_missing_table_lists_close_names(built):
    project, sql = built
    sql.write_text("SELECT * FROM bronze.order\n")
    with pytest.raises(TableNotFoundError, match=r"bronze\.order'.*did you mean bronze\.orders"):
        project.run("silver.orders")
    _unchanged(project)


def test_unknown_transform_in_run_lists_close_names(built):
    project, _ = built
    with pytest.raises(TableNotFoundError, match="did you mean silver.orders"):
        project.run("silver.order")


def test_cycle_names_the_transforms(rat_project):
    rat_project.write("silver/a.sql", "SELECT * FROM silver.b")
    rat_project.write("silver/b.sql", "SELECT * FROM gold.c")
    rat_project.write("gold/c.sql", "SELECT * FROM silver.a")
    with pytest.raises(CycleError) as info:
        rat_project.run("silver.a")
    for name in ("silver.a", "silver.b", "gold.c"):
        assert name in str(info.value)


def test_duplicate_transform_name(rat_project):
    rat_project.write("silver/x.sql", "SELECT 1 AS a")
    rat_project.write("other.py", '''
        from ratatouille import transform

        @transform("silver.x")
        def x():
            import polars as pl
            return pl.LazyFrame({"a": [1]})
    ''')
    with pytest.raises(ConfigError, match=r"duplicate transform 'silver.x'.*x.sql.*other.py"):
        rat_project.run("silver.x")


def test_unknown_annotation_and_yaml_key(rat_project):
    rat_project.write("silver/x.sql", "-- @materialised: table\nSELECT 1 AS a")
    with pytest.raises(ConfigError, match=r"x.sql, line 1\): unknown key 'materialised'; did you mean 'materialized'"):
        rat_project.run("silver.x")
    rat_project.write("silver/x.sql", "SELECT 1 AS a")
    rat_project.write("silver/x.yaml", "unique_keys: [a]\n")
    with pytest.raises(ConfigError, match=r"x.yaml\): unknown key 'unique_keys'"):
        rat_project.run("silver.x")


def test_merge_without_unique_key(rat_project):
    rat_project.write("silver/x.sql", "-- @materialized: incremental\n-- @strategy: merge\nSELECT 1 AS a")
    with pytest.raises(ConfigError, match="merge' needs unique_key"):
        rat_project.run("silver.x")


def test_invalid_names_are_refused(rat_project):
    rat_project.write("silver/Bad-Name.sql", "SELECT 1 AS a")
    with pytest.raises(ConfigError, match="invalid transform name 'Bad-Name'"):
        rat_project.run("silver.x")
    (rat_project.root / "workspaces/default/pipelines/silver/Bad-Name.sql").unlink()
    with pytest.raises(ConfigError, match="invalid table name"):
        rat_project.run("silver.a.b")
    rat_project.write("silver/y.py", '''
        from ratatouille import transform

        @transform("../etc")
        def y():
            pass
    ''')
    with pytest.raises(ConfigError, match=r"invalid table name '\.\./etc'"):
        rat_project.run("silver.y")


def test_python_transform_that_raises(built):
    project, sql = built
    sql.unlink()
    project.write("silver/orders.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("silver.orders", inputs=["bronze.orders"])
        def orders(src):
            raise ValueError("bad business rule")
    ''')
    with pytest.raises(TransformError) as info:
        project.run("silver.orders")
    err = info.value
    assert "ValueError: bad business rule" in str(err) and err.file.endswith("orders.py") and err.line == 6
    _unchanged(project)


def test_python_transform_failing_at_collect(built):
    project, sql = built
    sql.unlink()
    project.write("silver/orders.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("silver.orders", inputs=["bronze.orders"])
        def orders(src):
            return src.select(pl.col("id").str.to_uppercase())
    ''')
    with pytest.raises(RatatouilleError, match="silver.orders"):
        project.run("silver.orders")
    _unchanged(project)


def test_failed_check_blocks_the_write(built):
    project, sql = built
    sql.write_text("SELECT id, amount - 15 AS amount FROM bronze.orders\n")
    project.write("silver/orders.yaml", """
        columns:
          - name: amount
            tests: [positive]
    """)
    with pytest.raises(CheckError) as info:
        project.run("silver.orders")
    err = info.value
    assert err.transform == "silver.orders"
    assert err.checks and err.checks[0]["name"] == "schema" and err.checks[0]["failing_rows"] == 1
    assert err.results[0]["status"] == "failed"
    _unchanged(project)


def test_failure_in_one_branch_lets_independent_branches_finish(built):
    project, _ = built
    project.write("gold/broken.sql", "SELECT nope FROM silver.orders")
    project.write("gold/after_broken.sql", "SELECT * FROM gold.broken")
    project.write("gold/fine.sql", "SELECT COUNT(*) AS n FROM silver.orders")
    with pytest.raises(SQLError) as info:
        project.run("silver.orders+")
    statuses = {r["table"]: r["status"] for r in info.value.results}
    assert statuses == {"silver.orders": "unchanged", "gold.broken": "failed", "gold.after_broken": "skipped",
                        "gold.fine": "success"}
    assert project.read("gold.fine")["n"][0] == 2


def test_two_failures_raise_a_run_error_with_every_result(built):
    project, _ = built
    project.write("gold/b1.sql", "SELECT nope FROM silver.orders")
    project.write("gold/b2.sql", "SELECT nope2 FROM silver.orders")
    with pytest.raises(RunError) as info:
        project.run(["gold.b1", "gold.b2"])
    assert len(info.value.errors) == 2 and {r["status"] for r in info.value.results} == {"failed"}
    assert "gold.b1" in str(info.value) and "gold.b2" in str(info.value)


def test_sql_error_lines_point_into_the_file_past_jinja_blocks(rat_project):
    pl.DataFrame(ROWS).write_delta(f"{rat_project.lake}/bronze/orders")
    rat_project.write("silver/d.sql", """\
        -- @materialized: incremental
        SELECT id, amount
        FROM bronze.orders
        WHERE 1 = 1
        {% if is_incremental() %}
          AND id > {{ watermark('id') }}
        {% endif %}
        {#
          a comment
        #}
        AND nosuchcol > 1
    """)
    with pytest.raises(SQLError, match="nosuchcol") as info:
        rat_project.run("silver.d")
    assert info.value.line == 11 and info.value.file.endswith("silver/d.sql")
    rat_project.write("silver/d.sql", "{# one\ntwo #}\nSELECT id FROM bronze.orders\nWHERE {{ undefined_thing.x }} > 1\n")
    with pytest.raises(SQLError, match="undefined_thing") as info:
        rat_project.run("silver.d")
    assert info.value.line == 4
    rat_project.write("silver/d.sql", "{# one\ntwo #}\nSELECT id\nFROM bronze.orderz\n")
    with pytest.raises(TableNotFoundError, match="did you mean bronze.orders") as info:
        rat_project.run("silver.d")
    assert info.value.line == 4


def test_a_missing_watermark_column_is_a_sql_error_naming_the_transform(built):
    project, sql = built
    sql.write_text("-- @materialized: incremental\nSELECT id, amount FROM bronze.orders\n"
                   "{% if is_incremental() %}WHERE id > {{ watermark('nope') }}{% endif %}\n")
    project.run("silver.orders", full_refresh=True)
    with pytest.raises(SQLError, match="watermark column 'nope' is not in the target table") as info:
        project.run("silver.orders", vars={"again": 1})  # a changed var: runs (else unchanged), incrementally
    assert info.value.transform == "silver.orders" and info.value.file.endswith("silver/orders.sql")


def test_an_unknown_input_fails_its_transform_only(built):
    project, _ = built
    project.write("silver/ok.sql", "SELECT id FROM bronze.orders")
    project.write("silver/bad.sql", "SELECT id FROM bronze.missing")
    with pytest.raises(TableNotFoundError, match="unknown table 'bronze.missing'") as info:
        project.run(["silver.ok", "silver.bad"])
    status = {r["table"]: r["status"] for r in info.value.results}
    assert status == {"silver.ok": "success", "silver.bad": "failed"}
    assert project.version("silver.ok") == 0


def test_read_of_a_version_that_does_not_exist(built):
    from ratatouille import read

    project, _ = built
    with pytest.raises(TableNotFoundError, match=r"silver.orders has no version 5 \(versions 0 to 0"):
        read("silver.orders", version=5, project_dir=str(project.root))
    assert read("silver.orders", version=0, project_dir=str(project.root)).collect().height == 2


def test_a_plan_that_fails_to_compute_is_the_transform_s_error_not_storage(rat_project):
    pl.DataFrame(ROWS).write_delta(f"{rat_project.lake}/bronze/orders")
    rat_project.write("gold/py.py", '''
        import polars as pl
        from ratatouille import transform

        @transform("gold.py", inputs=["bronze.orders"])
        def py(orders: pl.LazyFrame) -> pl.LazyFrame:
            return orders.select(pl.col("missing"))
    ''')
    with pytest.raises(TransformError, match="the returned plan does not resolve.*missing") as info:
        rat_project.run("gold.py")
    assert info.value.file.endswith("gold/py.py") and info.value.line == 5
    rat_project.write("gold/sq.sql", "SELECT CAST(CAST(amount AS VARCHAR) || 'x' AS INT) AS n FROM bronze.orders")
    with pytest.raises(TransformError, match="computing the output failed while writing it") as info:
        rat_project.run("gold.sq")
    assert info.value.file.endswith("gold/sq.sql") and "Generic DeltaTable" not in str(info.value)
    assert rat_project.version("gold.sq") is None and rat_project.version("gold.py") is None


def test_a_bad_annotation_value_names_the_sql_file_and_line_even_with_a_yaml_beside(rat_project):
    rat_project.write("silver/hd.sql", "-- @description: x\n-- @materialized: incrementl\nSELECT 1 AS x\n")
    rat_project.write("silver/hd.yaml", "description: from the yaml\n")
    with pytest.raises(ConfigError, match="materialized must be one of") as info:
        rat_project.run("silver.hd")
    assert info.value.file.endswith("silver/hd.sql") and info.value.line == 2


def test_a_misnamed_file_fails_alone(rat_project):
    rat_project.write("silver/ok.sql", "SELECT 1 AS a")
    rat_project.write("silver/Bad-Name.sql", "SELECT 2 AS a")
    assert rat_project.run("silver.ok")["status"] == "success"  # the project still loads and runs
    assert rat_project.query("SELECT a FROM silver.ok")["a"].to_list() == [1]
    with pytest.raises(ConfigError, match="invalid transform name 'Bad-Name'") as info:
        rat_project.run("*")  # a run of everything names the file that is not a transform
    assert [r["table"] for r in info.value.results] == ["silver.ok"]
    from ratatouille.dagster import build_definitions

    keys = {k.to_user_string() for k in build_definitions(project_dir=str(rat_project.root)).resolve_all_asset_keys()}
    assert "silver/ok" in keys  # the Dagster code location loads
