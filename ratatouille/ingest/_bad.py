"""Bad landing files: why a file is not ingested, and setting it aside after the run's commit.

A bad file (unreadable, malformed, empty, a value that will not cast, a schema
drift under ``schema: strict``, an error-severity check failing on its rows)
never stops the good files of the run: it is reported in the ``RunResult`` with
its reason and, after the commit, moved to ``landing/_rejected/`` with a
``.reason.txt`` beside it (``on_error: reject``), left in place (``skip``), or
fails the whole run with nothing written (``fail``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

from .._errors_map import is_storage_read_error
from ..errors import ConfigError
from . import _landing

log = logging.getLogger("ratatouille")


class BadFile(Exception):
    """A landing file that cannot be ingested (the message is the reason).

    ``column`` and ``value``: a value that does not fit (to find its line); ``line``: where in the
    file (``"line 3"``, ``"row 3"``) when known.
    """

    def __init__(self, message: Any = "", *, column: str | None = None, value: Any = None,
                 line: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.value = value
        self.line = line


@dataclass
class Rejected:
    """A landing file that could not be ingested, and why."""

    file: str
    reason: str
    moved_to: str | None = None
    line: str | None = None  # where in the file ("line 3"), when known

    def to_dict(self) -> dict[str, str]:
        """The file as reported in a ``RunResult``."""
        out = {"file": self.file, "reason": self.reason}
        if self.line:
            out["line"] = self.line
        if self.moved_to:
            out["moved_to"] = self.moved_to
        return out


def reason(exc: BaseException) -> str:
    """The reason a file is rejected, from the error reading or conforming it.

    >>> reason(BadFile("empty file")), reason(ValueError("bad quoting\\nmore"))
    ('empty file', 'ValueError: bad quoting')
    """
    if isinstance(exc, BadFile):
        return str(exc)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_storage_error(exc: BaseException) -> bool:
    """Whether reading a file failed because of the store (network, permissions), not the file
    (``ratatouille/_errors_map.py``).

    >>> is_storage_error(PermissionError("denied")), is_storage_error(ValueError("bad quoting"))
    (True, False)
    >>> is_storage_error(ValueError("could not parse `request timed out` as dtype i64"))
    False
    """
    return is_storage_read_error(exc, content_errors=(BadFile,))


def handle_rejected(t: Any, lake: Any, rejected: list[Rejected], *, workspace: str = "default",
                    others: Iterable[Any] = ()) -> None:
    """After the commit: move rejected files to ``landing/_rejected/`` with a ``.reason.txt``
    beside each (``on_error: reject``), or leave them in place (``skip``).

    The landing zone is production's: a run in another workspace reports bad files, never moves
    them; nor is a file moved that another ingest transform of the project (``others``) also
    takes: bad for this one, it may be good for that one.

    Parameters
    ----------
    t : IngestTransform
        The transform whose run rejected the files.
    lake : Lake
        The lake holding the landing zone.
    rejected : list of Rejected
        The files; ``moved_to`` is set on those moved.
    workspace : str
        The run's workspace (files are moved only in ``default``).
    others : iterable of IngestTransform
        The project's other ingest transforms.
    """
    if t.config.on_error != "reject":
        return
    if workspace != "default":
        for r in rejected:
            log.warning("%s (workspace %s): rejected %s, left in place: %s", t.name, workspace, r.file, r.reason)
        return
    others = [o for o in others if o.name != t.name]
    for r in rejected:
        rel = r.file
        shared = next((o.name for o in others if o.takes(rel)), None)
        if shared:
            log.warning("%s: rejected %s, left in place (%s ingests it too): %s", t.name, rel, shared, r.reason)
            continue
        try:
            src, dest = _landing.quarantine_paths(lake, rel)  # both in the landing zone, or not moved
        except ConfigError as exc:
            log.warning("%s: rejected %s, left in place: %s", t.name, rel, exc.message)
            continue
        try:
            lake.write_text(dest + ".reason.txt", f"{rel}: {r.reason}\n")
            lake.move(src, dest)
        except OSError as exc:  # the file went away meanwhile: report, don't fail
            log.warning("%s: could not move rejected %s aside: %s", t.name, rel, type(exc).__name__)
            continue
        r.moved_to = lake.relative(dest)
