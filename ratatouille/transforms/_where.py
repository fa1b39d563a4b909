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

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from ..errors import ConfigError

#: one header annotation line: ``-- @key: value``
ANNOTATION = re.compile(r"^\s*--\s*@([A-Za-z_][\w-]*)\s*:?\s*(.*?)\s*$")


@dataclass(frozen=True)
class Where:
    """The file of a transform's settings and, per key, the file and line that set it."""

    file: str | None = None
    line: int | None = None  # where a key not in ``lines`` was set (a decorator's line)
    lines: Mapping[str, tuple[str | None, int | None]] = field(default_factory=dict)

    def place(self, key: str) -> tuple[str | None, int | None]:
        """The file and line that set ``key`` (else the settings' file and :attr:`line`)."""
        return self.lines.get(key, (self.file, self.line))

    def error(self, key: str | None, message: str) -> ConfigError:
        """A :class:`ConfigError` naming the file and line of ``key`` (just the file for ``None``)."""
        file, line = self.place(key) if key is not None else (self.file, self.line)
        return ConfigError(message, file=file, line=line)

    def over(self, other: "Where") -> "Where":
        """These places, with ``other``'s keys winning (the YAML beside a SQL file wins over its header)."""
        return Where(file=other.file or self.file, line=other.line, lines={**self.lines, **other.lines})

    @classmethod
    def of_yaml(cls, path: str | Path | None, text: str | None = None) -> "Where":
        """The lines of the top-level keys of a YAML file (no lines when it cannot be composed).

        Parameters
        ----------
        path
            The YAML file (read when ``text`` is not given).
        text
            Its text, when already read.

        Returns
        -------
        Where
            The file and, per top-level key, its 1-based line.
        """
        file = str(path) if path is not None else None
        try:
            if text is None:
                text = Path(path).read_text() if path is not None else ""
            node = yaml.compose(text)
        except (OSError, yaml.YAMLError):
            return cls(file=file)
        lines: dict[str, tuple[str | None, int | None]] = {}
        if isinstance(node, yaml.MappingNode):
            for key, _value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[str(key.value)] = (file, key.start_mark.line + 1)
        return cls(file=file, lines=lines)

    @classmethod
    def of_header(cls, sql: str, file: str | None) -> "Where":
        """The lines of a SQL file's header annotations (``-- @key: value``)."""
        lines: dict[str, tuple[str | None, int | None]] = {}
        for lineno, text in enumerate(sql.splitlines(), start=1):
            m = ANNOTATION.match(text)
            if m:
                lines[m.group(1)] = (file, lineno)
        return cls(file=file, lines=lines)
