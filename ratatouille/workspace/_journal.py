"""Crash-safe promotion: every file of a ``rat promote`` lands in ``default``, or none does.

A promotion is applied in two phases, under ``workspaces/default/.promote/``:

1. **prepare**: each new file is written (and fsynced) to ``stage/``; then the
   journal ``journal.json`` (the list of renames and removals) is written
   atomically. Until the journal exists, ``default`` has not changed: a crash
   here is *rolled back* (the staged files are deleted).
2. **commit**: each staged file is renamed over its destination
   (``os.replace``, atomic on one file system) and removed files are deleted;
   then the journal is deleted. A crash here is *completed*: the journal says
   what is left to do, and each step can be done again safely.

The next promotion, workspace command or project load (:func:`recover`, called
by ``Project.load``) finishes the job, so nobody ever sees the new ``.sql``
beside the old ``.yaml`` for longer than it takes to load the project. A lock
(``flock`` on ``.promote/lock``) keeps a recovery from touching a promotion
that is still running in another process; the kernel drops it when a process
dies, even by SIGKILL.

``RAT_PROMOTE_STEP_DELAY`` (seconds, a test hook) pauses between steps, so a
test can kill a promotion at any moment of both phases.

Example
-------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "pipelines").mkdir()
>>> src = root / "new.sql"; _ = src.write_text("SELECT 2")
>>> apply_changes(root, [("create", src, root / "pipelines" / "x.sql")])
>>> (root / "pipelines" / "x.sql").read_text(), (root / ".promote" / JOURNAL).exists()
('SELECT 2', False)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Iterator, Sequence

log = logging.getLogger("ratatouille")

FOLDER = ".promote"
JOURNAL = "journal.json"
_DELAY_ENV = "RAT_PROMOTE_STEP_DELAY"


def _pause() -> None:
    delay = os.environ.get(_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(folder: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the promotion lock of ``folder``; yields False when ``wait`` is False and it is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl  # POSIX only: imported where the lock is taken
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        yield True
        return
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def apply_changes(default_dir: Path, changes: Sequence[tuple[str, Path | None, Path]]) -> None:
    """Apply ``(action, source, dest)`` changes (``create``/``update`` copy ``source`` to ``dest``;
    ``remove`` deletes ``dest``) to the files under ``default_dir``, all or none (see the module).

    Raises ``OSError`` if staging fails (nothing changed in ``default``).
    """
    folder = default_dir / FOLDER
    with _locked(folder, wait=True):
        _recover_locked(default_dir)  # a crashed promotion first
        stage = folder / "stage"
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        steps = []
        try:
            for i, (action, source, dest) in enumerate(changes):
                rel = os.path.relpath(dest, default_dir)
                if action == "remove":
                    steps.append({"action": "remove", "dest": rel})
                    continue
                if source is None:  # a planned replacement always has its source file
                    raise RuntimeError(f"promotion plan has no source for {rel}")
                staged = stage / f"{i}{''.join(Path(dest).suffixes)}"
                _write_synced(staged, Path(source).read_bytes())
                steps.append({"action": "replace", "dest": rel, "staged": os.path.relpath(staged, default_dir)})
                _pause()
            _fsync_dir(stage)
            tmp = folder / (JOURNAL + ".tmp")
            _write_synced(tmp, json.dumps({"steps": steps}, indent=1).encode())
            _pause()
            os.replace(tmp, folder / JOURNAL)  # the commit point: from here on the promotion completes
            _fsync_dir(folder)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            (folder / (JOURNAL + ".tmp")).unlink(missing_ok=True)
            raise
        _pause()
        _complete(default_dir, steps, pause=True)


def _inside(base: Path, rel: str) -> Path:
    """``base / rel``, refused unless it resolves under ``base`` (a hand-edited journal never
    reaches outside the workspace)."""
    path = base / rel
    real, root = os.path.realpath(path), os.path.realpath(base)
    if os.path.isabs(rel) or not real.startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(f"promotion journal step {rel!r} leaves {base}")
    return path


def _complete(default_dir: Path, steps: list[dict], *, pause: bool = False) -> None:
    folder = default_dir / FOLDER
    # every path is checked before anything moves: a bad journal changes nothing
    planned = [(step, _inside(default_dir, step["dest"]),
                None if step["action"] == "remove" else _inside(folder / "stage", os.path.relpath(
                    default_dir / step["staged"], folder / "stage"))) for step in steps]
    touched = set()
    for step, dest, staged in planned:
        if step["action"] == "remove":
            dest.unlink(missing_ok=True)
        else:
            assert staged is not None  # noqa: S101 - a replace step always has its staged file
            if staged.exists():  # else: renamed before the crash
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, dest)
        touched.add(dest.parent)
        if pause:
            _pause()
    for parent in touched:
        _fsync_dir(parent)
    (folder / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(folder)
    shutil.rmtree(folder / "stage", ignore_errors=True)


def _recover_locked(default_dir: Path) -> str | None:
    folder = default_dir / FOLDER
    journal = folder / JOURNAL
    if journal.is_file():
        try:
            steps = json.loads(journal.read_text())["steps"]
            _complete(default_dir, steps)
        except (ValueError, KeyError, TypeError, OSError) as exc:  # never written half (renamed into place)
            log.error("cannot complete the promotion journal %s: %s", journal, exc)
            return None
        log.warning("completed an interrupted promotion into default (%d file(s), journal %s)", len(steps), journal)
        return "completed"
    leftovers = [p for p in (folder / "stage", folder / (JOURNAL + ".tmp")) if p.exists()]
    if leftovers:
        shutil.rmtree(folder / "stage", ignore_errors=True)
        (folder / (JOURNAL + ".tmp")).unlink(missing_ok=True)
        log.warning("rolled back an interrupted promotion into default (it had not started changing files)")
        return "rolled back"
    return None


def recover(default_dir: Path) -> str | None:
    """Finish a promotion into ``default_dir`` that a crash interrupted: ``"completed"`` (its journal
    was written: every file is put in place), ``"rolled back"`` (it was still staging: the staged
    files are dropped, default is as before), or ``None`` (nothing to do, or a promotion is running
    in another process). Cheap when there is nothing to do (one ``stat``)."""
    folder = default_dir / FOLDER
    if not folder.is_dir():
        return None
    if not (folder / JOURNAL).exists() and not (folder / "stage").exists() \
            and not (folder / (JOURNAL + ".tmp")).exists():
        return None
    try:
        with _locked(folder, wait=False) as got:
            if not got:
                return None  # a live promotion holds it
            return _recover_locked(default_dir)
    except OSError as exc:  # e.g. a read-only checkout: say so, do not stop the command
        log.warning("an interrupted promotion into default could not be finished (%s): run `rat workspace list` "
                    "where the project is writable", exc)
        return None
