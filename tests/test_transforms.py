"""Discovery and the transform kinds: annotations, YAML, Jinja, sqlglot inputs, Python by AST."""

from __future__ import annotations

import datetime as dt
import sys

import polars as pl
import pytest

from ratatouille import ConfigError, SQLError
from ratatouille.discover import Project
from ratatouille.testing import run_transform
from ratatouille.transforms import SQLTransform


def test_inputs_come_from_parsing_not_ctes():
    t = SQLTransform.from_text("gold.x", """
        WITH recent AS (SELECT * FROM silver.orders WHERE d > '2024-01-01'),
             names AS (SELECT id, name FROM bronze.customers)
        SELECT * FROM recent JOIN names USING (id)
        WHERE id IN (SELECT id FROM silver.vip)
    """)
    assert set(t.inputs) == {"silver.orders", "bronze.customers", "silver.vip"}


def test_unqualified_table_is_an_error_with_line():
    with pytest.raises(SQLError, match=r"line 2\).*'orders' is not layer-qualified"):
        SQLTransform.from_text("gold.x", "SELECT *\nFROM orders", path=None).inputs
    # (path None: the message still carries the line)


def test_yaml_wins_over_annotations(rat_project):
    rat_project.write("silver/x.sql", "-- @materialized: view\n-- @description: from sql\nSELECT 1 AS a")
    rat_project.write("silver/x.yaml", "materialized: table\n")
    t = Project.load().get("silver.x")
    assert t.config.materialized == "table" and t.config.description == "from sql"


def test_jinja_ref_var_this_and_incremental(rat_project):
    rat_project.write("silver/x.sql", """
        -- @materialized: incremental
        -- @vars: {min_id: 2}
        SELECT id, '{{ this }}' AS me FROM {{ ref('bronze.src') }}
        WHERE id >= {{ var('min_id') }}
        {% if is_incremental() %} AND ts > {{ watermark('ts') }} {% endif %}
    """)
    t = Project.load().get("silver.x")
    assert t.inputs == ("bronze.src",)
    src = pl.DataFrame({"id": [1, 2, 3], "ts": [dt.datetime(2024, 1, d) for d in (1, 2, 3)]})
    out = run_transform("silver.x", inputs={"bronze.src": src})
    assert out["id"].to_list() == [2, 3] and out["me"][0] == "silver.x"
    out = run_transform("silver.x", inputs={"bronze.src": src}, incremental=True,
                        target=src.filter(pl.col("id") <= 2))
    assert out["id"].to_list() == [3]  # only rows past the watermark read from the target
    out = run_transform("silver.x", inputs={"bronze.src": src}, vars={"min_id": 3})
    assert out["id"].to_list() == [3]


def test_watermark_is_read_from_the_target_table(rat_project):
    pl.DataFrame({"id": [1, 2], "ts": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]}).write_delta(
        f"{rat_project.lake}/bronze/src")
    rat_project.write("silver/x.sql", """
        -- @materialized: incremental
        SELECT id, ts FROM bronze.src
        {% if is_incremental() %} WHERE ts > {{ watermark('ts') }} {% endif %}
    """)
    assert rat_project.run("silver.x")["rows_written"] == 2
    pl.DataFrame({"id": [3], "ts": [dt.datetime(2024, 1, 3)]}).write_delta(f"{rat_project.lake}/bronze/src", mode="append")
    assert rat_project.run("silver.x")["rows_written"] == 1
    assert sorted(rat_project.read("silver.x")["id"].to_list()) == [1, 2, 3]


def test_empty_incremental_table_is_built_like_a_first_run(rat_project):
    pl.DataFrame({"id": [1, 2]}).write_delta(f"{rat_project.lake}/bronze/src")
    rat_project.write("silver/x.sql", """
        -- @materialized: incremental
        SELECT id FROM bronze.src
        {% if is_incremental() %} WHERE id > {{ watermark('id') }} {% endif %}
    """)
    pl.DataFrame({"id": []}, schema={"id": pl.Int64}).write_delta(f"{rat_project.lake}/silver/x")
    assert rat_project.run("silver.x")["rows_written"] == 2


def test_template_errors_name_the_file(rat_project):
    rat_project.write("silver/x.sql", "SELECT 1 AS a\n{% if %}\n")
    with pytest.raises(SQLError, match=r"x.sql, line 2\): template error"):
        rat_project.run("silver.x")
    rat_project.write("silver/x.sql", "SELECT {{ var('missing') }} AS a\n")
    with pytest.raises(SQLError, match="var\\('missing'\\) is not set"):
        rat_project.run("silver.x")


def test_python_transforms_are_discovered_without_importing(rat_project):
    rat_project.write("gold/lazy.py", '''
        import polars as pl
        from ratatouille import transform
        import ratatouille_canary_module_that_does_not_exist  # importing would fail

        @transform("gold.lazy", inputs=["silver.a"], materialized="table", group="finance")
        def lazy(a):
            """Docstring becomes the description."""
            return a
    ''')
    t = Project.load().get("gold.lazy")
    assert t.kind == "python" and t.inputs == ("silver.a",) and t.config.group == "finance"
    assert t.description == "Docstring becomes the description."
    assert not any("gold_lazy" in m for m in sys.modules)
    pl.DataFrame({"id": [1]}).write_delta(f"{rat_project.lake}/silver/a")
    with pytest.raises(ConfigError, match="lazy.py, line 3\\): importing failed: ModuleNotFoundError"):
        rat_project.run("gold.lazy")


def test_python_inputs_bind_by_name_and_context(rat_project):
    pl.DataFrame({"id": [1, 2]}).write_delta(f"{rat_project.lake}/bronze/a")
    pl.DataFrame({"id": [2], "flag": [True]}).write_delta(f"{rat_project.lake}/bronze/b")
    rat_project.write("gold/joined.py", '''
        import polars as pl
        from ratatouille import transform

        @transform(inputs={"right": "bronze.b", "left": "bronze.a"})
        def joined(left, right, context):
            assert context.is_incremental is False
            return left.join(right, on="id", how="left")
    ''')
    result = rat_project.run("gold.joined")  # the name comes from the folder and the function
    assert result["rows_written"] == 2
    assert rat_project.read("gold.joined").sort("id")["flag"].to_list() == [None, True]


def test_code_version_changes_with_the_text(rat_project):
    path = rat_project.write("silver/x.sql", "SELECT 1 AS a")
    v1 = Project.load().get("silver.x").code_version
    assert Project.load().get("silver.x").code_version == v1
    path.write_text("SELECT 2 AS a")
    assert Project.load().get("silver.x").code_version != v1


def test_settings_from_pyproject_and_env(rat_project, monkeypatch, tmp_path):
    from ratatouille._settings import load_settings

    s = load_settings()
    assert s.lake == rat_project.lake and s.workspace == "default"
    monkeypatch.setenv("RAT_LAKE", str(tmp_path / "other"))
    monkeypatch.setenv("RAT_STORAGE_OPTIONS", '{"aws_secret_access_key": "s3cr3t"}')
    s = load_settings()
    assert s.lake == str(tmp_path / "other")
    assert "s3cr3t" not in repr(s) and s.storage_options["aws_secret_access_key"] == "s3cr3t"
    (rat_project.root / "pyproject.toml").write_text("[tool.ratatouille]\nlakes = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings()


def test_project_root_is_found_by_walking_up(tmp_path, monkeypatch):
    from ratatouille._settings import find_project_dir

    (tmp_path / "pyproject.toml").write_text("[tool.ratatouille]\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.delenv("RAT_PROJECT_DIR", raising=False)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert find_project_dir() == tmp_path
    (tmp_path / "pyproject.toml").write_text("[tool.other]\n")
    with pytest.raises(ConfigError, match="no Ratatouille project found"):
        find_project_dir()
