"""SQL transforms: a ``.sql`` file (with an optional ``.yaml`` beside it) run through Polars' SQLContext."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import polars as pl

from .._literals import literal, watermark_literal
from .._names import parse_table_name
from .._sql import execute_sql, referenced_tables, source_line
from .._sql_parse import sql_file
from ..errors import ConfigError, SQLError
from ._base import BuildContext, Transform
from ._config import TransformConfig, build_config, load_yaml, parse_annotations
from ._where import Where

_UNSET: Any = object()  # var() without a default


def _plain(text: str) -> bool:
    """``text`` holds no Jinja (no ``{``) and no carriage return (Jinja would turn ``\\r\\n`` into ``\\n``), and is
    far below the sandbox's size budget: it renders exactly as written, so Jinja is not needed for it."""
    return "{" not in text and "\r" not in text and len(text) < 1_000_000


class SQLTransform(Transform):
    """A transform defined by a SQL ``SELECT`` over layer-qualified tables.

    >>> t = SQLTransform.from_text("silver.x", "SELECT id FROM bronze.y WHERE id > 0")
    >>> t.inputs
    ('bronze.y',)
    """

    kind = "sql"

    def __init__(self, name: str, sql: str, *, config: TransformConfig, path: Path | None = None,
                 workspace: str = "default", yaml_text: str = "") -> None:
        self.sql = sql
        self._yaml_text = yaml_text
        super().__init__(name, config=config, path=path, workspace=workspace)
        self._inputs = tuple(self._discover_inputs())

    @classmethod
    def from_text(cls, name: str, sql: str, *, yaml: Mapping[str, Any] | None = None,
                  path: Path | None = None, workspace: str = "default", yaml_path: Path | None = None,
                  yaml_text: str = "") -> "SQLTransform":
        file = str(path) if path else None
        raw = parse_annotations(sql, file=file)
        raw.update(yaml or {})
        where = Where.of_header(sql, file)  # each key's own file and line (the YAML's keys win)
        if yaml and yaml_path:
            where = where.over(Where.of_yaml(yaml_path, yaml_text or None))
        config = build_config(raw, file=str(yaml_path) if yaml and yaml_path else file, where=where)
        if config.source:
            raise ConfigError("source: belongs to ingest transforms (a YAML without SQL)", file=file)
        return cls(name, sql, config=config, path=path, workspace=workspace, yaml_text=yaml_text)

    @classmethod
    def from_file(cls, path: Path, *, layer: str, workspace: str = "default") -> "SQLTransform":
        name = f"{layer}.{path.stem}"
        parse_table_name(name, file=str(path))
        yaml_path = path.with_suffix(".yaml") if path.with_suffix(".yaml").exists() else path.with_suffix(".yml")
        yaml_text = yaml_path.read_text() if yaml_path.exists() else ""
        data = load_yaml(yaml_path, text=yaml_text) if yaml_text else None
        return cls.from_text(name, sql_file(path).text, yaml=data, path=path, workspace=workspace,
                             yaml_path=yaml_path, yaml_text=yaml_text)

    @property
    def source_text(self) -> str:
        return self.sql + self._yaml_text

    # -- rendering ------------------------------------------------------------
    def render(self, ctx: BuildContext | None = None, *, incremental: bool | None = None,
               discovering: bool = False) -> str:
        """Render the Jinja template: ``ref``, ``is_incremental``, ``watermark``, ``this``, ``var``.

        ``discovering``: rendered to find the inputs, before the project's and the run's vars
        are known, so an unknown ``var()`` renders as ``NULL`` instead of failing."""
        if _plain(self.sql):  # nothing to render: the SQL as written, and jinja2 is never imported for it
            return self.sql
        from .._jinja import render as render_template  # lazy: jinja2 (~15 ms) only for SQL that uses Jinja

        ctx = ctx or BuildContext(inputs={})
        inc = ctx.is_incremental if incremental is None else incremental
        variables = {**self.config.vars, **ctx.vars}

        def ref(name: str) -> str:
            return str(parse_table_name(name, file=self.file))

        def watermark(column: str) -> str:
            if ctx.watermark is None:
                return "NULL"
            if ctx.target is not None:  # typed like the column: unit and time zone (_literals.py)
                return watermark_literal(ctx.target, column, ctx.inputs)  # compared with the inputs' column
            return literal(ctx.watermark(column))

        def var(name: str, default: Any = _UNSET) -> Any:
            if name in variables:
                return variables[name]
            if default is _UNSET:
                if discovering:
                    return "NULL"
                raise SQLError(f"var({name!r}) is not set (set it in vars: or pass vars=)", transform=self.name, file=self.file)
            return default

        return render_template(self.sql, dict(ref=ref, is_incremental=lambda: inc, watermark=watermark,
                                              this=self.name, var=var), transform=self.name, file=self.file)

    def _discover_inputs(self) -> list[str]:
        found: list[str] = []
        for inc in (False, True):
            if inc and self.config.materialized != "incremental":
                continue
            sql = self.render(BuildContext(inputs={}, watermark=lambda col: 0), incremental=inc, discovering=True)
            with self._lines_of(sql):
                names = referenced_tables(sql, transform=self.name, file=self.file)
            for name in names:
                if name != self.name and name not in found:
                    found.append(name)
        return found

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        sql = self.render(ctx)
        frames = dict(ctx.inputs)
        if ctx.target is not None:
            frames[self.name] = ctx.target
        with self._lines_of(sql):
            return execute_sql(sql, frames, transform=self.name, file=self.file)

    @contextlib.contextmanager
    def _lines_of(self, rendered: str) -> Iterator[None]:
        """Errors about the ``rendered`` SQL point at the line of this transform's file."""
        try:
            yield
        except SQLError as exc:
            if exc.line and rendered != self.sql:
                exc.line = source_line(self.sql, rendered, exc.line)
                exc.args = (exc._format(),)
            raise
