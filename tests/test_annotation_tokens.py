"""Issue 14.4: ``-- @key:`` annotations are found with sqlglot's tokens, not by a regular expression alone.

A line inside a string literal or a quoted name is code, even when its text reads like an
annotation: it neither changes the transform's settings nor fails the load as an unknown key.
"""

from __future__ import annotations

import polars as pl

from ratatouille import query
from ratatouille.transforms import SQLTransform
from ratatouille.transforms._config import parse_annotations


def test_an_annotation_like_line_in_a_string_is_data_not_a_setting(rat_project):
    rat_project.write("silver/notes.sql", "-- @description: notes\n"
                                          "SELECT 'first\n-- @materialized: view\nlast' AS note")
    result = rat_project.run("silver.notes")
    assert result["status"] == "success"
    table = rat_project.table("silver.notes")
    assert table is not None  # a table was written: the string's line did not make it a view
    note = pl.read_delta(table.table_uri)["note"][0]
    assert note == "first\n-- @materialized: view\nlast"
    assert query("SELECT note FROM silver.notes")["note"][0] == note


def test_an_unknown_key_inside_a_quoted_name_is_no_error(rat_project):
    rat_project.write("silver/odd.sql", 'SELECT 1 AS "a\n-- @not_a_setting: 1\nb"')
    assert rat_project.run("silver.odd")["status"] == "success"


def test_real_annotations_keep_their_lines():
    sql = "-- @materialized: incremental\n-- @strategy: append\nSELECT 'x\n-- @strategy: merge\n' AS s"
    assert parse_annotations(sql) == {"materialized": "incremental", "strategy": "append"}
    t = SQLTransform.from_text("silver.x", sql)
    assert t.config.mode == "append"


def test_text_sqlglot_cannot_tokenize_is_read_line_by_line():
    # an unterminated string (a Jinja construct sqlglot does not read): every annotation line counts
    sql = "-- @materialized: view\n{% set x = \"it's %}\nSELECT 1 AS a"
    assert parse_annotations(sql) == {"materialized": "view"}
