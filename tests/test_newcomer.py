"""What the README tells a newcomer, checked against the code (found by following the README on a
fresh clone): the CLI synopsis lists every option the commands take, and the statuses it promises
for a second run of the sample project are the ones a run returns."""

from __future__ import annotations

import re
from pathlib import Path

from typing import Any

import pytest
import typer.main

from ratatouille.cli import app
from ratatouille.errors import CheckError

README = Path(__file__).resolve().parents[1] / "README.md"


def _cli_block() -> str:
    """The fenced block under ``## CLI`` in the README."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## CLI\n", 1)[1]
    return section.split("```", 2)[1]


def _synopsis(block: str) -> dict[str, str]:
    """``{"run": "NAME... [-f/--full-refresh] ...", "workspace create": "WS [--pin] ..."}``."""
    out: dict[str, str] = {}
    for line in block.splitlines():
        line = line.split("  #", 1)[0]
        for part in re.split(r"(?:^|\s)rat\s+", line)[1:]:
            words = part.split(None, 1)
            name, rest = words[0], (words[1] if len(words) > 1 else "")
            if name == "workspace":
                for sub in rest.split("|"):
                    sub_words = sub.split(None, 1)
                    out[f"workspace {sub_words[0]}"] = sub_words[1] if len(sub_words) > 1 else ""
            else:
                out[name] = rest
    return out


def _commands() -> dict[str, Any]:
    """Every ``rat`` command (typer's own click copy: groups have ``commands``)."""
    group: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            for sub, sub_cmd in cmd.commands.items():
                found[f"{name} {sub}"] = sub_cmd
        else:
            found[name] = cmd
    return found


def test_readme_cli_synopsis_lists_every_command_and_option() -> None:
    # `rat run --threads`, `rat test --store-failures` and `rat history -n` were missing
    synopsis = _synopsis(_cli_block())
    commands = _commands()
    assert set(commands) <= set(synopsis), sorted(set(commands) - set(synopsis))
    missing = []
    for name, cmd in commands.items():
        for param in cmd.params:
            if param.param_type_name != "option" or "--workspace" in param.opts or "--help" in param.opts:
                continue  # -w/--workspace: "every command ... takes -w/--workspace WS" below the block
            written = re.findall(r"--?[a-z][a-z-]*", synopsis[name])
            if not set(param.opts) & set(written):
                missing.append(f"rat {name} {'/'.join(param.opts)}")
    assert not missing, f"options missing from the README's CLI synopsis: {missing}"


def test_second_run_of_the_sample_is_unchanged_as_the_readme_says(sample: Path) -> None:
    # the README said a re-run of an ingest "reports `skipped`" and that `status` is
    # `success` or `skipped`: a second run with nothing new is `unchanged`
    from ratatouille import run

    first = run("*")
    assert {r["status"] for r in first.results} == {"success"}
    ingest = run("bronze.sales")
    assert ingest["status"] == "unchanged"
    assert ingest["files"] == [] and ingest["rejected"] == []
    again = run("*")
    assert again["status"] == "unchanged"
    assert [r["status"] for r in again.results] == ["unchanged"] * len(first.results)
    text = README.read_text(encoding="utf-8")
    assert "re-running reports `skipped`" not in text
    assert "(`success`, `unchanged` or `skipped`)" in text


def test_project_wide_store_failures_keeps_the_samples_plain_column_tests(sample: Path, monkeypatch) -> None:
    # the README's own example, audit.silver_sales__accepted_values_product, was never written: the
    # sample's column tests (`accepted_values: [widget, gadget, gizmo]`, no config:) run inside the
    # Pandera `schema` check, which the failure store did not see

    from ratatouille import query, run

    monkeypatch.setenv("RAT_STORE_FAILURES", "1")
    run("*")
    assert query("SELECT COUNT(*) AS n FROM audit.silver_sales__accepted_values_product")["n"][0] == 0
    assert query("SELECT COUNT(*) AS n FROM audit.silver_sales__unique_order_id")["n"][0] == 0
    (sample / "lake" / "landing" / "sales" / "2024-01-09.csv").write_text(
        "order_id,order_date,product,quantity,unit_price,customer\n2001,2024-01-09,doohickey,1,5.0,zed\n")
    with pytest.raises(CheckError):
        run("+silver.sales")
    stored = query("SELECT order_id, product FROM audit.silver_sales__accepted_values_product")
    assert stored.rows() == [(2001, "doohickey")]


_STRICT = """
    columns:
      - name: code
        tests:
          - accepted_values: [a, b]
      - name: id
        tests: [unique, not_null]
"""


def test_rat_test_store_failures_keeps_plain_column_tests(lake_project) -> None:
    # `rat test --store-failures` ("every test of one run") skipped the plain column tests too
    from ratatouille import tools

    p = lake_project
    p.write("silver/s.sql", "SELECT * FROM (VALUES (1, 'a'), (2, 'zz'), (2, 'b')) AS t(id, code)\n")
    p.write("silver/s.yaml", _STRICT)
    with pytest.raises(CheckError):
        p.run("silver.s")  # without store_failures nothing is stored (and nothing written)
    assert p.version("audit.silver_s__accepted_values_code") is None
    p.write("silver/s.yaml", """
        columns:
          - name: code
            tests:
              - accepted_values: [a, b, zz]
          - name: id
            tests: [not_null]
    """)
    p.run("silver.s")
    p.write("silver/s.yaml", _STRICT)
    report = tools.test("silver.s", store_failures=True)
    assert report["status"] == "failed"
    assert p.read("audit.silver_s__accepted_values_code")["code"].to_list() == ["zz"]
    assert p.read("audit.silver_s__unique_id")["id"].to_list() == [2]
    assert p.read("audit.silver_s__not_null_id").height == 0


def test_a_loaded_transforms_materialization_is_its_kind_as_the_readme_says(sample: Path) -> None:
    # the README said "`transform.materialization` is the kind object", and a newcomer reading the
    # decorator example asks the decorated function for it; it is the loaded transform that has it
    import ratatouille
    from ratatouille.kinds import Merge

    sales = ratatouille.project().transforms["silver.sales"]
    assert sales.materialization == Merge(unique_key=("order_id",))
    assert sales.config.kind == sales.materialization
    assert "transforms[\"silver.sales\"].materialization" in README.read_text(encoding="utf-8")


@pytest.mark.slow
def test_rat_check_on_the_sample_never_hangs(sample: Path) -> None:
    # `rat check` after `rat run --all` hung about one run in ten (found running the README's
    # `rat check`): the two gold transforms, in two threads, resolved the schema of silver.sales'
    # would-be plan (a shared Delta scan, a Python IO source) at once and deadlocked in Polars.
    # Each run is a real process; a hang shows as a TimeoutExpired, not as a slow run.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["RAT_SETTLE_SECONDS"] = "0"
    env["RAT_THREADS"] = "2"
    cmd = [sys.executable, "-m", "ratatouille"]
    assert subprocess.run([*cmd, "run", "--all"], cwd=sample, env=env, capture_output=True, timeout=300).returncode == 0
    for _ in range(12):
        out = subprocess.run([*cmd, "check"], cwd=sample, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "success gold.daily_revenue" in out.stdout and "success gold.sales_summary" in out.stdout


def test_rat_query_json_prints_one_json_line_per_row(sample: Path) -> None:
    # `rat query --json` ("Print rows as JSON lines") pretty-printed each row over several lines:
    # neither one JSON document nor JSON lines, so `| jq -c` or a line reader could not read it
    import json

    from typer.testing import CliRunner

    from ratatouille import run

    run("*")
    out = CliRunner().invoke(app, ["query", "--json", "SELECT order_id, product, customer, total, order_date "
                                   "FROM silver.sales ORDER BY order_id LIMIT 3"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["order_id"] for r in rows] == [1001, 1002, 1004]  # 1003 has quantity 0
    assert rows[0] == {"order_id": 1001, "product": "widget", "customer": "alice", "total": 29.97,
                       "order_date": "2024-01-01"}
