"""Where a write lands (:class:`Target`) and what it did (:class:`WriteOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DeltaMissing

from .._delta_scan import scan_delta
from .._errors_map import first_line as _first
from ..errors import StorageError

Frame = pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class Target:
    """A Delta table location and how to reach it."""

    uri: str
    storage_options: Mapping[str, str] | None = None
    name: str = ""

    def open(self, version: int | None = None) -> DeltaTable | None:
        """The Delta table, or ``None`` when it does not exist yet."""
        try:
            opts = dict(self.storage_options) if self.storage_options else None
            dt_ = DeltaTable(self.uri, storage_options=opts)
            if version is not None:
                dt_.load_as_version(version)
            return dt_
        except _DeltaMissing:  # also a folder whose _delta_log holds no commit yet
            return None
        except Exception as exc:  # noqa: BLE001 - surface storage problems clearly
            raise StorageError(f"cannot open {self.uri}: {_first(exc)}", transform=self.name or None) from None

    def scan(self, version: int | None = None) -> pl.LazyFrame:
        opts = dict(self.storage_options) if self.storage_options else None
        return scan_delta(self.uri, version=version, storage_options=opts)


@dataclass
class WriteOutcome:
    """What a write did: the new version and how many rows it wrote."""

    version: int | None
    rows_written: int
    skipped: bool = False
    metrics: Mapping[str, Any] | None = None
