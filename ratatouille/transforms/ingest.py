"""Ingest transforms: landing files -> a bronze table, each file exactly once.

The stage itself lives in :mod:`ratatouille.ingest` (spec, landing listing, readers,
conform, ledger, bad files) and its write in :mod:`ratatouille.write._ingest`; this
module is the transform kind the project discovers (a YAML with ``source:``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import polars as pl

from .._lake import LandingFile
from .._names import parse_table_name
from ._base import BuildContext, Transform
from ._config import build_config, load_yaml

if TYPE_CHECKING:  # annotations only
    from ..ingest import IngestPlan
    from ..write._ingest import IngestWrite

# The stage's names this module re-exports (``from ratatouille.transforms.ingest import BadFile``). The
# stage itself (ratatouille/ingest/, 14 modules) is imported when a project has an ingest transform,
# not with ``ratatouille.transforms``: a run without one never loads it.
_STAGE_NAMES = frozenset({"APP_ID", "INGESTED_AT", "META_COLUMNS", "SOURCE_FILE", "SOURCE_FINGERPRINT", "BadFile",
                          "IngestPlan", "Rejected", "build", "cast_column", "handle_rejected", "in_predicate",
                          "ingested_state", "parse_source_version", "polars_type", "source_version"})


def __getattr__(name: str) -> Any:
    if name in _STAGE_NAMES:
        from .. import ingest  # lazy: the ingest stage only when an ingest transform (or one of its names) is used

        return getattr(ingest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class IngestTransform(Transform):
    """Landing files of one format under ``source:`` appended to a bronze table."""

    kind = "ingest"

    def __init__(self, name: str, *, config: Any, path: Path | None = None, workspace: str = "default",
                 yaml_text: str = "") -> None:
        super().__init__(name, config=config, path=path, workspace=workspace)
        self._yaml_text = yaml_text

    @classmethod
    def from_file(cls, path: Path, *, layer: str, workspace: str = "default") -> "IngestTransform":
        """The ingest transform of a YAML file (its settings validated once, ``ratatouille/ingest/_spec.py``)."""
        name = f"{layer}.{path.stem}"
        parse_table_name(name, file=str(path))
        text = path.read_text()
        from ..ingest import _spec  # lazy: the ingest stage only for a project with an ingest transform

        config = _spec.validate(build_config(load_yaml(path, text=text), file=str(path)), file=str(path))
        return cls(name, config=config, path=path, workspace=workspace, yaml_text=text)

    @property
    def source_text(self) -> str:
        return self._yaml_text

    @property
    def mode(self) -> str:
        return "append"

    def landing_files(self, lake: Any) -> list[LandingFile]:
        """Every landing file matching ``source:`` with its fingerprint, from one listing."""
        from ..ingest import _landing  # lazy: the ingest stage (see _STAGE_NAMES)

        return _landing.list_landing(self, lake)[0]

    def takes(self, rel: str) -> bool:
        """Whether a landing file (path relative to the lake root) is one this transform ingests.

        >>> from ratatouille.transforms._config import build_config
        >>> t = IngestTransform("bronze.s", config=build_config({"source": "landing/s/", "format": "csv"}))
        >>> t.takes("landing/s/eu/a.csv"), t.takes("landing/s/a.json"), t.takes("landing/sx/a.csv")
        (True, False, False)
        """
        from ..ingest import _landing  # lazy: the ingest stage (see _STAGE_NAMES)

        return _landing.takes(self.config, rel)

    def list_files(self, lake: Any) -> list[str]:
        """Every landing file matching ``source:`` (sorted full paths)."""
        return [f.path for f in self.landing_files(lake)]

    @overload
    def read_file(self, path: str | LandingFile, lake: Any, *, string_columns: tuple[str, ...] = (),
                  scan: None = None) -> pl.DataFrame: ...

    @overload
    def read_file(self, path: str | LandingFile, lake: Any, *, string_columns: tuple[str, ...] = (),
                  scan: contextlib.ExitStack) -> pl.LazyFrame | None: ...

    def read_file(self, path: str | LandingFile, lake: Any, *, string_columns: tuple[str, ...] = (),
                  scan: contextlib.ExitStack | None = None) -> pl.DataFrame | pl.LazyFrame | None:
        """Read one landing file into a frame (raises on a malformed file); ``ratatouille/ingest/_readers.py``.

        ``string_columns`` are read as text (CSV), to be cast later. With ``scan`` (an exit stack the
        pinned file is kept open in, ``Lake.pinned``): its lazy scan, or ``None`` when its reader has
        none (``ratatouille/ingest/_stream.py``).
        """
        from ..ingest import _readers, _stream  # lazy: the ingest stage (see _STAGE_NAMES)

        full = path.path if isinstance(path, LandingFile) else path
        if scan is not None:
            return _stream.scan_file(self, lake, full, scan.enter_context(lake.pinned(full)), string_columns)
        with lake.pinned(full) as src:  # inside the lake only, never swapped
            return _readers.read_file(self, lake, full, src, string_columns).collect()

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        """Read the new (or changed, with ``on_change: reingest``) landing files into one frame
        with ``_source_file``, ``_source_fingerprint`` and ``_ingested_at`` (``ratatouille/ingest/_stage.py``)."""
        from ..ingest import build  # lazy: the ingest stage (see _STAGE_NAMES)

        return build(self, ctx.extra)

    def writer(self, plan: IngestPlan) -> IngestWrite:
        """How this run's rows land: one commit that also records its files."""
        from ..write._ingest import IngestWrite  # lazy: the ingest writer, with the stage (see _STAGE_NAMES)

        return IngestWrite(self, plan)
