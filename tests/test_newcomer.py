"""What the README tells a newcomer, checked against the code (found by following the README on a
fresh clone): the CLI synopsis lists every option the commands take, and the statuses it promises
for a second run of the sample project are the ones a run returns."""

from __future__ import annotations

import re
from pathlib import Path

from typing import Any

import typer.main

from ratatouille.cli import app

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
