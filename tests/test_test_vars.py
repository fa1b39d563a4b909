"""``{{ var('x') }}`` in a test's SQL, as dbt tests have it: the run's vars over the project's."""

from __future__ import annotations

import pytest

from ratatouille import run
from ratatouille.errors import CheckError


def _project(p):
    p.write("silver/t.sql", "SELECT * FROM (VALUES (1, 5), (2, 50)) AS v(id, amount)\n")
    p.write("silver/t.yaml", """
        tests:
          - name: below_limit
            sql: SELECT * FROM {{ this }} WHERE amount > {{ var('limit', 100) }}
    """)


def test_var_in_a_test_uses_the_run_vars_and_its_default(rat_project):
    _project(rat_project)
    assert run("silver.t")["status"] == "success"  # the default 100: no row above it
    with pytest.raises(CheckError) as err:
        run("silver.t", vars={"limit": 10}, full_refresh=True)  # row 2 (50) is above 10
    assert "below_limit" in str(err.value)


def test_an_unset_var_without_default_in_a_test_names_it(rat_project):
    rat_project.write("silver/u.sql", "SELECT 1 AS id\n")
    rat_project.write("silver/u.yaml", """
        tests:
          - name: needs_var
            sql: SELECT * FROM {{ this }} WHERE id > {{ var('nope') }}
    """)
    with pytest.raises(Exception) as err:
        run("silver.u")
    assert "nope" in str(err.value)
