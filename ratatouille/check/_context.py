"""The names a SQL test's text sees and where a test is written.

``test_context`` gives ``this``/``model``, ``ref()`` and ``var()`` (the run's
vars, :data:`RUN_VARS`, over the transform's own) to a test's Jinja;
``yaml_file`` and ``_test_place`` name the YAML and line a test comes from,
for its errors.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Mapping

from sqlglot import exp

from ..errors import CheckError
from ..transforms import SqlTestSpec, Transform
from ..transforms._generic_tests import where_condition


def where_filter(table: str, where: str, *, file: str | None = None, line: int | None = None) -> str:
    """``SELECT * FROM table WHERE <where>``, built with sqlglot (the filter must be one condition)."""
    return exp.select("*").from_(exp.to_table(table)).where(where_condition(where, file=file, line=line)).sql()


#: The vars of the run checking (the project's, the workspace's, ``run(vars=...)``), set by the runner.
RUN_VARS: ContextVar[Mapping[str, Any]] = ContextVar("ratatouille_run_vars", default={})
_UNSET: Any = object()


def test_context(test: SqlTestSpec, t: Transform, *, discovering: bool = False) -> dict[str, Any]:
    """The names a test's SQL sees: ``this`` and ``model`` (the table), ``ref()``, ``var()`` (the
    run's vars over the transform's own, as in its SQL), and for a custom generic test ``column_name``
    and its YAML arguments. ``discovering``: rendered to find the tables a test reads, when an unset
    ``var()`` renders as ``NULL`` instead of failing."""
    variables = {**t.config.vars, **RUN_VARS.get()}

    def var(name: str, default: Any = _UNSET) -> Any:
        if name in variables:
            return variables[name]
        if default is not _UNSET:
            return default
        if discovering:
            return "NULL"
        raise CheckError(f"test {test.name}: var({name!r}) is not set (set it in vars: or pass vars=)",
                         transform=t.name, file=yaml_file(t) or t.file)

    return {**dict(test.context), "this": t.name, "model": t.name, "ref": lambda n: ref_name(n, t), "var": var}


def ref_name(name: str, t: Transform) -> str:
    """``ref('x')`` in a test: a ``layer.name`` as written, a bare name in the model's own layer."""
    return name if "." in name else f"{t.layer}.{name}"


def _yaml_candidates(path: Path) -> list[Path]:
    """Where the YAML of the transform at ``path`` may be: itself (an ingest YAML), else beside it."""
    return [path] if path.suffix in (".yaml", ".yml") else [path.with_suffix(".yaml"), path.with_suffix(".yml")]


def yaml_file(t: Transform) -> str | None:
    """The YAML that configures ``t`` (itself for an ingest YAML), if any."""
    if t.path is None:
        return None
    return next((str(c) for c in _yaml_candidates(t.path) if c.is_file()), None)



def _test_place(t: Transform, test: SqlTestSpec) -> tuple[str | None, int]:
    """The file that holds a SQL test (the YAML beside the transform) and the line its SQL starts on,
    minus one, so errors name the test's own line."""
    path = t.path
    if path is None:
        return t.file, 0
    for candidate in _yaml_candidates(path):
        try:
            lines = candidate.read_text().splitlines() if candidate.is_file() else None
        except OSError:
            lines = None
        if not lines:
            continue
        first = next((ln.strip() for ln in test.sql.splitlines() if ln.strip()), "")
        start = next((i for i, line in enumerate(lines) if "name" in line and test.name in line), 0)
        for i, line in enumerate(lines[start:], start=start):
            if first and first in line:
                return str(candidate), i
        return str(candidate), 0
    return t.file, 0
