"""Issue 9, item 4: Jinja is sandboxed and a Jinja error is a located error of THAT transform only.

A broken template never breaks loading the project, ``query()`` over other tables, ``rat run``
of other transforms, or the Dagster definitions (there it is an asset whose materialization fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import polars as pl
import pytest

from ratatouille.discover import Project
from ratatouille.errors import SQLError
from ratatouille.testing import run_transform

# (template, what the error says, the template line it points at)
BROKEN = [
    ("SELECT id\nFROM bronze.items\nWHERE id > {{ 1 // 0 }}", "ZeroDivisionError", 3),
    ("SELECT id\nFROM bronze.items\nWHERE id > {{ nope }}", "'nope' is undefined", 3),
    ("SELECT '{{ ''.__class__.__mro__ }}' AS x\nFROM bronze.items", "unsafe", 1),
    ("SELECT '{{ ''.__class__ }}' AS x FROM bronze.items", "unsafe", 1),
    ("SELECT 1 AS x FROM bronze.items\n{{ cycler.__init__.__globals__ }}", "unsafe", 2),
    ("SELECT '{{ ref.__globals__ }}' AS x FROM bronze.items", "template error", 1),
    ("SELECT 1 AS x FROM bronze.items\n{% if %}\n{% endif %}", "template error", 2),
    ("SELECT 1 AS x FROM bronze.items\n{{ int('x') }}", "template error", 2),
    ("SELECT 1 AS x FROM bronze.items\n{{ [].append.__self__ }}", "unsafe", 2),
]


@pytest.fixture
def project(rat_project):
    pl.DataFrame({"id": [1, 2, 3]}).write_delta(str(Path(rat_project.lake) / "bronze" / "items"))
    rat_project.write("silver/fine.sql", "SELECT id FROM bronze.items WHERE id > {{ var('min', 1) }}")
    return rat_project


@pytest.mark.parametrize("template,message,line", BROKEN)
def test_a_broken_template_is_a_located_error_of_that_transform_only(project, template, message, line):
    path = project.write("silver/broken.sql", template)
    project_loaded = Project.load()  # loading the project never fails
    assert set(project_loaded.transforms) >= {"silver.broken", "silver.fine"}
    with pytest.raises(SQLError) as info:
        project.run("silver.broken")
    err = info.value
    assert message in str(err)
    assert (err.transform, err.file, err.line) == ("silver.broken", str(path), line)
    assert project.table("silver.broken") is None
    # the others: query() and runs are untouched
    assert project.run("silver.fine")["rows_written"] == 2
    assert project.query("SELECT COUNT(*) AS n FROM silver.fine")["n"][0] == 2


def test_the_sandbox_refuses_python_internals():
    from jinja2.sandbox import SandboxedEnvironment

    from ratatouille._jinja import ENV, render

    assert isinstance(ENV, SandboxedEnvironment)
    for text in ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ (1).__class__.__base__ }}",
                 "{{ lipsum.__globals__ }}", "{{ range.__self__ }}"):
        with pytest.raises(SQLError, match="template error"):
            render(text, {}, transform="silver.x", file="silver/x.sql")


def test_the_sandbox_bounds_memory_and_cpu(project):
    """A template cannot exhaust the machine while the project loads (discovery renders every SQL file)."""
    from ratatouille._jinja import render

    for text in ("{{ 'x' * 10**12 }}", "{{ [0] * 10**9 }}", "{{ 2 ** 100000000 }}", "{{ range(10**9) | list }}"):
        with pytest.raises(SQLError, match="template error"):
            render(text, {}, transform="silver.x", file="silver/x.sql")
    assert render("{{ 'ab' * 3 }} {{ 2 ** 10 }}", {}) == "ababab 1024"
    project.write("silver/bomb.sql", "SELECT '{{ 'x' * 10**12 }}' AS x FROM bronze.items")
    assert "silver.fine" in Project.load().transforms
    with pytest.raises(SQLError, match="too large"):
        project.run("silver.bomb")


def test_one_environment_for_the_project():
    """SQL transforms and SQL tests render through the same sandboxed environment."""
    from ratatouille import check
    from ratatouille.transforms import sql

    src = Path(sql.__file__).read_text() + Path(check.__file__).read_text()
    assert "jinja2.Environment(" not in src and "from .._jinja import" in src


def test_a_broken_sql_test_template_fails_only_that_transform(project):
    project.write("silver/tested.sql", "SELECT id FROM bronze.items")
    project.write("silver/tested.yaml", """
        tests:
          - name: boom
            sql: SELECT * FROM {{ this }} WHERE id > {{ 1 // 0 }}
    """)
    with pytest.raises(SQLError) as info:
        project.run("silver.tested")
    assert "silver.tested" in str(info.value) and "ZeroDivisionError" in str(info.value)
    assert project.table("silver.tested") is None
    assert project.run("silver.fine")["status"] == "success"


def test_run_transform_reports_the_template_error():
    with pytest.raises(SQLError, match="ZeroDivisionError"):
        run_transform("SELECT id FROM bronze.items WHERE id > {{ 1 // 0 }}",
                      inputs={"bronze.items": pl.DataFrame({"id": [1]})})


@pytest.mark.slow
def test_rat_run_of_other_transforms_works_with_a_broken_one(project):
    project.write("silver/broken.sql", "SELECT id FROM bronze.items WHERE id > {{ 1 // 0 }}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}

    def rat(*args):
        return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=project.root, capture_output=True,
                              text=True, env=env, timeout=120, check=False)

    ok = rat("run", "silver.fine")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert project.table("silver.fine") is not None
    bad = rat("run", "silver.broken")
    assert bad.returncode != 0 and "ZeroDivisionError" in bad.stdout + bad.stderr
    assert "broken.sql" in bad.stdout + bad.stderr
    q = rat("query", "SELECT COUNT(*) AS n FROM silver.fine")
    assert q.returncode == 0 and "2" in q.stdout


@pytest.mark.slow
def test_dagster_definitions_load_and_the_broken_asset_fails_with_the_error(project):
    dg = pytest.importorskip("dagster")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from ratatouille.dagster import build_definitions

    project.write("silver/broken.sql", "SELECT id\nFROM bronze.items\nWHERE id > {{ 1 // 0 }}")
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.name.startswith("ratatouille")]
    keys = {s.key.to_user_string() for a in assets for s in a.specs}
    assert {"silver/broken", "silver/fine"} <= keys
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    done = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "silver/fine" in done and "silver/broken" not in done
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "ZeroDivisionError" in message and "broken.sql" in message and "silver.broken" in message


def test_a_helper_error_at_run_time_names_the_template_line(project):
    """An error raised by a helper only on an incremental run (an unknown watermark column)."""
    path = project.write("silver/inc.sql", """
        -- @materialized: incremental
        SELECT id FROM bronze.items
        {% if is_incremental() %}
        WHERE id > {{ watermark('nope') }}
        {% endif %}
    """)
    assert project.run("silver.inc")["rows_written"] == 3
    with pytest.raises(SQLError) as info:
        project.run("silver.inc", vars={"again": 1})  # a changed var: runs (else unchanged), incrementally
    err = info.value
    assert (err.transform, err.file, err.line) == ("silver.inc", str(path), 4)
    assert "'nope' is not in the target table" in err.message
