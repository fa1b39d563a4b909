"""The transform model: what every kind (SQL, Python, ingest) has in common."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import polars as pl

from ..kinds import Kind
from ._config import TransformConfig


@dataclass
class BuildContext:
    """What a transform sees while it builds its plan.

    ``inputs`` maps each input table name to a LazyFrame; ``target`` is the
    current table (a LazyFrame) when it exists, else ``None``.
    """

    inputs: Mapping[str, pl.LazyFrame]
    is_incremental: bool = False
    target: pl.LazyFrame | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    watermark: Callable[[str], Any] | None = None
    # set by ingest transforms: the lake, the files already ingested, etc.
    extra: dict[str, Any] = field(default_factory=dict)


class Transform:
    """A registered transform: one table ``<layer>.<name>``.

    Subclasses set ``kind`` and implement :meth:`build`.
    """

    kind: ClassVar[str] = "transform"

    def __init__(self, name: str, *, config: TransformConfig, path: Path | None = None,
                 workspace: str = "default", inputs: tuple[str, ...] = ()) -> None:
        self.name = name
        self.layer, self.short_name = name.split(".", 1)
        self.config = config
        self.path = path
        self.workspace = workspace
        self._inputs = tuple(inputs)

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"<{type(self).__name__} {self.name}{where}>"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Table names this transform reads, in binding order."""
        return self._inputs

    @property
    def file(self) -> str | None:
        """The defining file, for error messages."""
        return str(self.path) if self.path else None

    @property
    def description(self) -> str | None:
        return self.config.description

    @property
    def source_text(self) -> str:
        """The text that defines the transform (its code version derives from it)."""
        return ""

    @property
    def code_version(self) -> str:
        """A short hash of the transform's text and settings: changes when logic changes."""
        digest = hashlib.sha256(self.source_text.encode())
        digest.update(repr(self.config).encode())
        return digest.hexdigest()[:12]

    @property
    def mode(self) -> str:
        """How the table is written: table, view, append, merge or replace_partitions."""
        return self.config.mode

    @property
    def materialization(self) -> Kind:
        """The typed materialization kind (:mod:`ratatouille.kinds`), checked at discovery.

        (``kind`` names the sort of transform: ``sql``, ``python``, ``ingest``.)
        """
        return self.config.kind

    @property
    def has_schema_checks(self) -> bool:
        return bool(self.config.columns)

    def line_of(self, text: str) -> int | None:
        """The 1-based line of the defining file where ``text`` first appears (for error messages)."""
        if not self.path or not self.path.is_file():
            return None
        needle = text.lower()
        for lineno, line in enumerate(self.path.read_text().splitlines(), start=1):
            if needle in line.lower():
                return lineno
        return None

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        raise NotImplementedError


class BrokenTransform(Transform):
    """A transform file that failed to load: its error is raised when it runs.

    Keeping it in the project (instead of failing discovery) lets every other
    transform run and every table stay readable while one file is broken.
    """

    kind = "broken"

    def __init__(self, name: str, error: Exception, *, path: Path | None = None, workspace: str = "default") -> None:
        super().__init__(name, config=TransformConfig(), path=path, workspace=workspace)
        self.error = error

    @property
    def source_text(self) -> str:
        return self.path.read_text() if self.path and self.path.exists() else ""

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        raise self.error
