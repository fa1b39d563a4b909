"""What one ingest run does: the files it reads, rejects, leaves waiting or skips, and the commit
metadata that records them (the ledger entry, :mod:`ratatouille.ingest._ledger`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from ._bad import Rejected
from ._ledger import FILES_KEY, LEDGER_KEY, State, entry
from ._settle import Waiting
from ._stream import Pins


@dataclass
class IngestPlan:
    """What an ingest run does: the files it read, rejected, skipped, and the table state it read."""

    files: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # changed files left as they were (on_change: ignore)
    reingested: list[str] = field(default_factory=list)  # changed files read again (on_change: reingest)
    already: int = 0  # files already in the table, unchanged
    waiting: list[Waiting] = field(default_factory=list)  # not complete yet (ingest/_settle.py)
    changes: dict[str, str] = field(default_factory=dict)  # changed file -> what changed
    table: Any = None  # the DeltaTable snapshot the ingested set was read from (None: no table yet)
    full_refresh: bool = False
    state: State | None = None  # the ingested set read from ``table`` (None: not read)
    rows: dict[str, int] = field(default_factory=dict)  # rows of each file read
    pins: Pins = field(default_factory=Pins)  # streamed files, pinned until the write is done
    recover: Callable[[], pl.LazyFrame | None] | None = None  # after a failed streamed write: without the bad files

    @property
    def rows_read(self) -> int:
        """The rows of the run's good files."""
        return sum(self.rows.get(f, 0) for f in self.files)

    def info(self) -> dict[str, Any]:
        """The ingest part of a ``RunResult``."""
        return {"files": list(self.files), "rejected": [r.to_dict() for r in self.rejected],
                "changed": list(self.changed), "reingested": list(self.reingested),
                "files_skipped": self.already, "waiting": [w.to_dict() for w in self.waiting],
                "changes": [{"file": f, "what": w} for f, w in self.changes.items()]}

    def commit_metadata(self) -> dict[str, str]:
        """Commit metadata recording the files of this commit: an audit trail (``ratatouille.files``)
        and the ledger entry later runs read the ingested set from (``ratatouille.ingest.ledger``)."""
        files = {f: self.fingerprints.get(f) for f in self.files}
        state = None if self.table is None else (self.state or State({}, None))
        return {FILES_KEY: json.dumps(files),
                LEDGER_KEY: entry(state, {f: fp for f, fp in files.items() if fp is not None},
                                  full_refresh=self.full_refresh)}
