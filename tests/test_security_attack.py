"""Issue 9 attacked: ways around the lake boundary found after it was built, each fixed.

Every test here failed on the code as it was (the defence was bypassed) and passes now.
Real parts throughout: real Delta tables, a real HTTP server on 127.0.0.1 that records hits,
a secret file outside the lake, ``rat`` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ratatouille.errors import SQLError
from ratatouille.testing import run_transform

SECRET = "TOPSECRET-7f3a"


@pytest.fixture
def http_server(http_server):
    """conftest's recording server, answering a CSV that holds the secret."""
    http_server.body = f"a\n{SECRET}\n".encode()
    return http_server


@pytest.fixture
def secret(tmp_path) -> Path:
    """A CSV outside the lake and the project."""
    path = tmp_path / "outside" / "secret.csv"
    path.parent.mkdir()
    path.write_text(f"a\n{SECRET}\n")
    return path


@pytest.fixture
def project(rat_project):
    """A project with one lake table, bronze.items (an Int32 column, so the BIGINT rewrite path runs too)."""
    pl.DataFrame({"sku": ["A1", "B2"], "qty": pl.Series([1, 2], dtype=pl.Int32)}).write_delta(
        str(Path(rat_project.lake) / "bronze" / "items"))
    return rat_project


def _rat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


# -- SQL: text sqlglot reads as a comment, Polars' own lexer reads as SQL -----------------------------
def comment_smuggling(where: str) -> list[str]:
    """Queries the guard saw as harmless (the reader hidden in what sqlglot calls a comment) that
    Polars ran with the reader: MySQL-style ``/*! ... */`` comments are SQL to Polars; the guard's
    raw-text net looked for ``read_csv(`` and a comment between name and parenthesis slips past."""
    return [
        f"SELECT 1 AS a /*! , * FROM read_csv/**/('{where}') */",
        f"SELECT sku /*! , (SELECT MAX(a) FROM read_csv/**/('{where}')) AS leak */ FROM bronze.items",
        # the same through the BIGINT rewrite (Int32 qty: sqlglot regenerates the SQL with its comments)
        f"SELECT SUM(qty) AS s /*! , (SELECT MAX(a) FROM read_csv/**/('{where}')) AS leak */ FROM bronze.items",
        f"SELECT qty + 1 AS s /*!, a AS leak FROM bronze.items, read_csv/**/('{where}') */ FROM bronze.items",
        f"SELECT sku FROM bronze.items /*!UNION ALL SELECT a FROM read_csv/**/('{where}')*/",
    ]


def _leaked(df: pl.DataFrame) -> bool:
    return SECRET in str(df.to_dicts()) or SECRET in str(df.columns)


def test_query_cannot_smuggle_a_reader_in_a_comment(project, secret, http_server):
    for where in (str(secret), http_server.url):
        for sql in comment_smuggling(where):
            try:
                df = project.query(sql)
            except SQLError:
                continue  # refused is fine too
            assert not _leaked(df), sql
            assert list(df.columns) in (["a"], ["sku"], ["s"]), (sql, df.columns)
    assert http_server.hits == []


def test_sql_transform_and_sql_test_cannot_smuggle_a_reader_in_a_comment(project, secret, http_server):
    project.write("silver/sneaky.sql", f"SELECT sku /*! , (SELECT MAX(a) FROM read_csv/**/('{http_server.url}')) "
                                        f"AS leak */ FROM bronze.items")
    project.run("silver.sneaky")
    assert project.table("silver.sneaky").schema().to_arrow().names == ["sku"]
    project.write("silver/checked.sql", "SELECT sku FROM bronze.items")
    project.write("silver/checked.yaml", f"""
        tests:
          - name: sneaky
            sql: SELECT * FROM {{{{ this }}}} WHERE FALSE /*!UNION ALL SELECT a FROM read_csv/**/('{secret}')*/
    """)
    project.run("silver.checked")  # the test's query returns no rows: it passes, having read nothing
    out = run_transform(f"SELECT sku /*!, a FROM bronze.items, read_csv/**/('{http_server.url}') */ "
                        f"FROM bronze.items", inputs={"bronze.items": pl.DataFrame({"sku": ["A1"]})})
    assert out.columns == ["sku"]
    assert http_server.hits == []


@pytest.mark.slow
def test_rat_query_cannot_smuggle_a_reader_in_a_comment(project, secret, http_server):
    for where in (str(secret), http_server.url):
        out = _rat("query", f"SELECT 1 AS a /*! , * FROM read_csv/**/('{where}') */", cwd=project.root)
        assert SECRET not in out.stdout + out.stderr
    assert http_server.hits == []


def test_string_forms_the_two_parsers_may_read_apart_are_refused_or_canonical(project):
    # E'...' strings escape with backslashes in one lexer's rules; refused, with the line
    with pytest.raises(SQLError) as info:
        project.query("SELECT sku\nFROM bronze.items\nWHERE sku = E'A1'")
    assert info.value.line == 3
    # ordinary quoting still means what it says
    df = project.query("SELECT sku AS \"we\"\"ird\", 'it''s' AS s, $$a'b$$ AS d FROM bronze.items -- note\n"
                       "WHERE sku = 'A1' /* a comment */")
    assert df.to_dicts() == [{'we"ird': "A1", "s": "it's", "d": "a'b"}]
    # between tokens Polars gets plain ASCII whitespace; a control character inside a token is refused
    assert project.query("SELECT\u3000sku\u00a0FROM bronze.items WHERE sku = 'A1'").to_dicts() == [{"sku": "A1"}]
    with pytest.raises(SQLError, match="may read differently"):
        project.query("SELECT sku AS a\x00b FROM bronze.items")


# -- names: the validator's regex ended in "$", which also matches before a final newline ------------
def test_a_name_with_a_trailing_newline_is_refused_everywhere(project):
    # (run() selectors are stripped of whitespace first: "bronze.t\n" selects bronze.t, which is fine)
    from ratatouille import read, run, tools
    from ratatouille.workspace import create_workspace
    from ratatouille.errors import ConfigError, WorkspaceError

    pl.DataFrame({"x": [1]}).write_delta(str(Path(project.lake) / "bronze" / "t"))
    for call in (lambda: read("bronze.t\n"), lambda: tools.history("bronze.t\n"),
                 lambda: tools.vacuum("bronze.t\n", retention_hours=0), lambda: tools.optimize("bronze.t\n"),
                 lambda: tools.preview("bronze.t\n"), lambda: tools.diff("bronze.t\n")):
        with pytest.raises(ConfigError, match="invalid"):
            call()
    with pytest.raises(WorkspaceError):
        create_workspace("dev\n")
    with pytest.raises(WorkspaceError):
        run("bronze.t", workspace="dev\n")
    lake = Path(project.lake)
    assert not any("\n" in p.name for p in [*lake.rglob("*"), *project.root.rglob("*")])


@pytest.mark.slow
def test_rat_refuses_a_name_with_a_trailing_newline(project):
    for args in (["vacuum", "bronze.items\n", "--retention-hours", "0"], ["history", "bronze.items\n"], ["workspace", "create", "dev\n"]):
        out = _rat(*args, cwd=project.root)
        assert out.returncode != 0, (args, out.stdout)
        assert "invalid" in (out.stdout + out.stderr).lower(), (args, out.stdout, out.stderr)
    assert not any("\n" in p.name for p in project.root.rglob("*"))


# -- Jinja: the sandbox stopped internals, not a template that exhausts memory or CPU -----------------
BOMBS = [
    # CPU: nested loops (each range within the sandbox's limit), big-integer arithmetic
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ ((9 ** 1000) ** 1000) ** 1000 > 1 }}",
    "{% set ns = namespace(n=7 ** 999) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}"
    "{{ ns.n > 1 }}",
    # memory in one call: padding, format widths, filters
    "{{ 'x'.center(999999999) }}",
    "{{ 'x'|center(999999999) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ('x\n' * 1000000)|indent(1000) }}",
    "{{ ('x' * 9000000).replace('x', 'xxxxxxxxxxxxxxxxxxxxxx') }}",
    # memory by growth: ~ and + doubling, a loop writing out a big string
    "{% set a = 'x' * 9000000 %}{% set b = a ~ a ~ a ~ a %}{% set c = b ~ b ~ b ~ b %}{{ c|length }}",
    "{% set a = 'x' * 9000000 %}{% set b = a + a + a + a %}{% set c = b + b + b + b %}{{ c|length }}",
    "{% set a = 'x' * 9000000 %}{% for i in range(1000) %}{{ a }}{% endfor %}",
    "{% set a = 'x' * 9000000 %}{% macro m() %}{% for i in range(1000) %}{{ a }}{% endfor %}{% endmacro %}"
    "{{ m()|length }}",
]

_RENDER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from ratatouille._jinja import render
from ratatouille.errors import SQLError
try:
    out = render(sys.stdin.read(), {}, transform="silver.bomb", file="silver/bomb.sql")
    print("RENDERED", len(out))
except SQLError as exc:
    print("ERROR", exc)
"""


@pytest.mark.slow
@pytest.mark.parametrize("template", BOMBS)
def test_a_template_cannot_exhaust_memory_or_cpu(template):
    """In a child process (limited to 3 GB; a generous timeout only guards against the old endless render)."""
    out = subprocess.run([sys.executable, "-c", _RENDER], input=template, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.stdout.startswith("ERROR silver.bomb (silver/bomb.sql"), (out.stdout, out.stderr[-500:])
    assert "refused by the sandbox" in out.stdout, out.stdout  # the budget, not a MemoryError after the fact


def test_templates_within_the_budget_render_as_before():
    from ratatouille._jinja import render

    text = ("{{ '{:>5}|{}'.format(1, 'a') }} {{ '%05d' % 3 }} {{ 'a,b'.split(',') | join('-') }} {{ 'x' ~ 1 }} "
            "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m(2) }} {{ [1, 2]|map('string')|join(',') }} "
            "{{ 'ab'|upper|replace('A', 'z') }} {{ 2 ** 64 }} {% for i in range(3) %}{{ i }}{% endfor %}")
    assert render(text, {}) == "    1|a 00003 a-b x1 [2] 1,2 zB 18446744073709551616 012"


@pytest.mark.slow
def test_a_template_bomb_fails_alone_and_the_project_still_loads(project):
    project.write("silver/bomb.sql", "SELECT sku FROM bronze.items {% for i in range(100000) %}"
                                     "{% for j in range(100000) %}{% endfor %}{% endfor %}")
    project.write("silver/fine.sql", "SELECT sku FROM bronze.items")
    ok = subprocess.run([sys.executable, "-m", "ratatouille", "run", "silver.fine"], cwd=project.root,
                        capture_output=True, text=True, timeout=600, check=False,
                        env={k: v for k, v in os.environ.items() if not k.startswith("RAT_")})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with pytest.raises(SQLError) as info:
        project.run("silver.bomb")
    assert info.value.transform == "silver.bomb" and "too long" in str(info.value)


# -- ingest: a glob source listed a file twice through a link back into the folder it covers ----------
def test_a_glob_source_lists_a_file_once_through_a_link_cycle(rat_project):
    from ratatouille import tools

    lake = rat_project.root / "lake"
    orders = lake / "landing" / "orders"
    (orders / "2023").mkdir(parents=True)
    (orders / "2024").mkdir()
    (orders / "2023" / "a.csv").write_text("id,amount\n5,50\n")
    os.symlink(orders / "2023", orders / "2024" / "last_year")  # a folder the glob covers anyway
    os.symlink(orders, orders / "2023" / "all")  # and a cycle
    assert tools.ls("landing/orders/**") == [str(orders / "2023" / "a.csv")]
    assert tools.ls("landing/orders/*/*.csv") == [str(orders / "2023" / "a.csv")]
    rat_project.write("bronze/orders.yaml", "source: landing/orders/**/*.csv\nformat: csv\n")
    rat_project.run("bronze.orders")
    assert rat_project.read("bronze.orders")["id"].to_list() == [5]  # not ingested twice
