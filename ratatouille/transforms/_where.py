"""Where each setting of a transform was written: the file and the line of its key.

Settings come from a YAML file (the keys at its top level), from SQL header
annotations (``-- @key: value``) or from ``@transform(...)`` keyword arguments.
A :class:`Where` remembers, per key, the file and line that set it, so that a
bad value is reported at its own line.

>>> w = Where.of_header("-- @materialized: incremental\\n-- @strategy: merge\\nSELECT 1", "silver/x.sql")
>>> w.place("strategy")
('silver/x.sql', 2)
>>> w.error("strategy", "strategy 'merge' needs unique_key").line
2
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import sqlglot.errors
import yaml

from .._sql_parse import Polars
from ..errors import ConfigError

#: one header annotation line: ``-- @key: value``
ANNOTATION = re.compile(r"^\s*--\s*@([A-Za-z_][\w-]*)\s*:?\s*(.*?)\s*$")


def annotation_lines(sql: str) -> Iterator[tuple[int, str, str]]:
    """``(line, key, raw value)`` of each ``-- @key: value`` annotation line of a SQL text.

    A line is an annotation when it is a ``--`` comment of its own: sqlglot's tokens (their
    positions) tell code from comments, so a string literal or a quoted name spanning lines
    whose text looks like an annotation is not one. Text sqlglot cannot tokenize (a Jinja
    construct it does not read) is read line by line.

    Parameters
    ----------
    sql
        The SQL file's text (its Jinja not rendered).

    Returns
    -------
    Iterator[tuple[int, str, str]]
        One entry per annotation line, 1-based line numbers, in file order.

    Examples
    --------
    >>> list(annotation_lines("-- @materialized: view\\nSELECT 1"))
    [(1, 'materialized', 'view')]
    >>> list(annotation_lines("SELECT '\\n-- @materialized: view\\n' AS s"))
    []
    """
    code = _code_spans(sql)
    offset = 0
    for lineno, text in enumerate(sql.splitlines(keepends=True), start=1):
        m = ANNOTATION.match(text)
        if m and not _inside(code, offset + text.index("--")):
            yield lineno, m.group(1), m.group(2)
        offset += len(text)


def _code_spans(sql: str) -> tuple[list[int], list[int]]:
    """The (starts, ends) of sqlglot's tokens of ``sql``, ends inclusive (empty if it cannot tokenize)."""
    try:
        tokens = Polars().tokenize(sql)
    except sqlglot.errors.TokenError:
        return [], []
    return [t.start for t in tokens], [t.end for t in tokens]


def _inside(spans: tuple[list[int], list[int]], at: int) -> bool:
    starts, ends = spans
    i = bisect.bisect_right(starts, at) - 1
    return i >= 0 and at <= ends[i]


@dataclass(frozen=True)
class Where:
    """The file of a transform's settings and, per key, the file and line that set it.

    The lines of a YAML file's keys are found only when an error asks for one (discovery
    stays as fast as parsing the YAML once).
    """

    file: str | None = None
    line: int | None = None  # where a key not in ``lines`` was set (a decorator's line)
    lines: Mapping[str, tuple[str | None, int | None]] = field(default_factory=dict)
    yaml: Path | None = None  # a YAML file whose top-level keys win over ``lines``
    yaml_text: str | None = field(default=None, repr=False)  # its text, when already read

    def place(self, key: str) -> tuple[str | None, int | None]:
        """The file and line that set ``key`` (else the settings' file and :attr:`line`)."""
        if self.yaml is not None:
            found = _yaml_lines(self.yaml, self.yaml_text).get(key)
            if found is not None:
                return str(self.yaml), found
        return self.lines.get(key, (self.file, self.line))

    def error(self, key: str | None, message: str) -> ConfigError:
        """A :class:`ConfigError` naming the file and line of ``key`` (just the file for ``None``)."""
        file, line = self.place(key) if key is not None else (self.file, self.line)
        return ConfigError(message, file=file, line=line)

    def over(self, other: "Where") -> "Where":
        """These places, with ``other``'s keys winning (the YAML beside a SQL file wins over its header)."""
        return Where(file=other.file or self.file, line=other.line, lines={**self.lines, **other.lines},
                     yaml=other.yaml or self.yaml, yaml_text=other.yaml_text if other.yaml else self.yaml_text)

    @classmethod
    def of_yaml(cls, path: str | Path, text: str | None = None) -> "Where":
        """The places of a YAML file's settings: its top-level keys' lines.

        Parameters
        ----------
        path
            The YAML file (read when a line is asked for and ``text`` is not given).
        text
            Its text, when already read.

        Returns
        -------
        Where
        """
        return cls(file=str(path), yaml=Path(path), yaml_text=text)

    @classmethod
    def of_header(cls, sql: str, file: str | None) -> "Where":
        """The lines of a SQL file's header annotations (``-- @key: value``)."""
        lines: dict[str, tuple[str | None, int | None]] = {}
        for lineno, key, _raw in annotation_lines(sql):
            lines[key] = (file, lineno)
        return cls(file=file, lines=lines)


def _yaml_lines(path: Path, text: str | None) -> dict[str, int]:
    """The 1-based line of each top-level key of a YAML file (none when it cannot be composed)."""
    try:
        node = yaml.compose(text if text is not None else path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
