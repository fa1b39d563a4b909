"""Execute: run transforms in dependency order, one Delta commit per table or none.

The runner builds each transform's lazy plan from its inputs, runs its checks
on the data about to be written, writes it with its materialization, and
hands a table's fresh result to the transforms downstream of it in the same
run instead of reading it back from storage.
"""

from __future__ import annotations

from ._result import RunResult
from ._run import run
from ._runner import INCREMENTAL_MODES, Event, Runner, log, watermark

__all__ = ["INCREMENTAL_MODES", "Event", "RunResult", "Runner", "log", "run", "watermark"]
