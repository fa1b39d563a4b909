"""Fingerprints: skip a transform whose code and inputs are those of its table's last commit.

Like SQLMesh's fingerprints, every commit the runner makes carries, in its
Delta commit info (``ratatouille.fingerprint``, next to the commit id), a hash
of what the data was computed from:

- the transform's **code version**: its text and settings (``code_version``:
  the SQL and the YAML beside it, the ingest YAML, the configuration). For a
  Python transform it is the source of the function, *of the whole module
  file it is defined in* (a helper of the same file counts) and of the
  project's own modules that file imports, transitively (``ratatouille/_code_deps.py``;
  installed libraries do not count);
- the **inputs**: for each table it reads (or one of its checks reads, such
  as a ``relationships`` test's other table), where it is read from (the table
  URI: a workspace's own table or default's, pinned or not), the Delta table
  id (a table deleted and built again has a new id) and the version read;
  a view input stands for its own code version and inputs;
- the **vars** of the run (project, workspace and ``vars=``), and the project settings that
  change what a run writes (``store_failures``: :func:`run_settings`).

Before building a transform the runner computes that hash from the inputs as
they are now and compares it with the one in the target's latest commit (one
``history(1)`` on the table it opens anyway). When they match, nothing is
built or written and the result's status is ``unchanged``. Anything else
rebuilds: changed code or YAML, a new input version, a changed workspace pin,
``full_refresh``, a missing table, or a latest commit that is not such a
commit (``optimize``, ``vacuum``, a partition run, another writer).

Never skipped: ``full_refresh`` (it runs, and records the fingerprint for the
next run), dry runs, partition runs, views (never written), ingest transforms
(they skip on their own when no new landing file is settled, and report
``unchanged`` then), and Python transforms that read no table (the function
may read something Ratatouille cannot version: an API, a file). A SQL transform that reads no table (inline ``VALUES``) is fingerprinted
by its code and vars alone. A transform whose result depends on the clock
(``now()``, ``current_date``) or on randomness is ``unchanged`` as long as its
code and inputs are: run it with ``full_refresh=True`` to recompute it.

>>> fp = fingerprint("abc", {"bronze.x": Snapshot("lake/bronze/x", "id-1", 3)}, {})
>>> len(fp), fp == fingerprint("abc", {"bronze.x": Snapshot("lake/bronze/x", "id-1", 4)}, {})
(32, False)
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from deltalake import DeltaTable

from ..check._lineage import test_inputs
from ..transforms import IngestTransform, PythonTransform, Transform
from ..write import Target
from .._code_deps import project_imports
from .._delta_scan import history as delta_history

FINGERPRINT = "ratatouille.fingerprint"
INPUTS = "ratatouille.inputs"  # the input versions behind the fingerprint, readable in `rat history`
_SCHEME = 1  # bump when what goes into a fingerprint changes: every table rebuilds once


@dataclass(frozen=True)
class Snapshot:
    """One input as a run reads it: its location, Delta table id and version."""

    uri: str
    table_id: str
    version: int

    def jsonable(self) -> dict[str, Any]:
        return {"uri": self.uri, "id": self.table_id, "version": self.version}


def snapshot_of(table: DeltaTable, uri: str, version: int | None = None) -> Snapshot:
    """The :class:`Snapshot` of an opened ``table`` (``version``: the one a commit landed at)."""
    return Snapshot(uri=uri, table_id=str(table.metadata().id), version=table.version() if version is None else version)


def code_version(t: Transform) -> str:
    """The code part of ``t``'s fingerprint: ``t.code_version``, plus for a Python transform the
    source of the module file defining it (a changed helper of the same file rebuilds)."""
    parts = [t.code_version]
    if isinstance(t, PythonTransform):
        parts.append(_module_source_hash(t))
    return ":".join(parts)


def _module_source_hash(t: PythonTransform) -> str:
    path: Path | None = t.path
    if path is None:
        try:
            source = inspect.getsourcefile(t.fn)
        except TypeError:  # a built-in or C function: no file
            source = None
        path = Path(source) if source else None
    if path is None or not path.is_file():
        return "-"
    digest = hashlib.sha256(path.read_bytes())
    for dep in project_imports(path):  # the project's modules it imports: a changed helper rebuilds
        digest.update(str(dep).encode() + b"\0" + dep.read_bytes())
    return digest.hexdigest()[:12]


def fingerprint(code: str, inputs: Mapping[str, Any], vars: Mapping[str, Any],
                settings: Mapping[str, Any] | None = None) -> str:
    """A hash of the code version, the input snapshots (or view fingerprints), the vars and the
    project settings that change what a run writes (:func:`run_settings`).

    ``inputs`` maps a table name to its :class:`Snapshot` or, for a view, to the fingerprint of the view.
    """
    body: dict[str, Any] = {"scheme": _SCHEME, "code": code, "vars": dict(vars),
                            "inputs": {name: (s.jsonable() if isinstance(s, Snapshot) else s)
                                       for name, s in sorted(inputs.items())}}
    if settings:  # only when set: the fingerprints of a project with default settings stay as they were
        body["settings"] = dict(settings)
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


def run_settings(settings: Any) -> dict[str, Any]:
    """The project settings (``[tool.ratatouille]``) that change what a run writes, where not the default:
    ``store_failures = true`` makes every test keep its failing rows, so turning it on or off rebuilds.

    >>> run_settings(None), run_settings(type("S", (), {"store_failures": True})())
    ({}, {'store_failures': True})
    """
    return {"store_failures": True} if getattr(settings, "store_failures", False) else {}


def inputs_text(inputs: Mapping[str, Any]) -> str:
    """The input versions as stored beside the fingerprint (``{"bronze.x": 3, ...}``; a view: its hash)."""
    return json.dumps({name: (s.version if isinstance(s, Snapshot) else s) for name, s in sorted(inputs.items())})


def fingerprinted(t: Transform, *, dry_run: bool, partition: str | None) -> bool:
    """Whether ``t``'s commit in this run records a fingerprint, so that it can be ``unchanged`` now
    (unless ``full_refresh``) or in a later run (see the module text)."""
    return (not dry_run and partition is None and t.mode != "view"
            and not isinstance(t, IngestTransform) and (bool(t.inputs) or t.kind == "sql"))


def last_fingerprint(table: DeltaTable) -> str | None:
    """The fingerprint in ``table``'s latest commit (``None``: that commit carries none)."""
    history = delta_history(table, 1)
    if not history:
        return None
    value = history[0].get(FINGERPRINT)
    return str(value) if value else None


@dataclass(frozen=True)
class Current:
    """A transform's fingerprint from its inputs as they are now, and the input versions behind it."""

    hash: str
    inputs: str

    def metadata(self) -> dict[str, str]:
        """The commit-info entries that record it."""
        return {FINGERPRINT: self.hash, INPUTS: self.inputs}


class Fingerprints:
    """The fingerprints of one run: input snapshots are read once per table and reused downstream.

    ``transforms`` are the project's transforms, ``read_target`` finds where a table is read from
    (``None``: not built yet), ``vars`` are the run's vars. Used from the runner's worker threads:
    a transform asks only after its upstream transforms of the run finished.
    """

    def __init__(self, transforms: Mapping[str, Transform], read_target: Callable[[str], Target | None],
                 vars: Mapping[str, Any], settings: Any = None) -> None:
        self.transforms = transforms
        self.read_target = read_target
        self.vars = dict(vars)
        self.settings = run_settings(settings)
        self._snapshots: dict[str, Snapshot] = {}
        self._written: dict[str, int] = {}

    def current(self, t: Transform) -> Current | None:
        """``t``'s fingerprint now (``None`` when one of its inputs has no table: it cannot be skipped)."""
        inputs = self._inputs(t, seen=frozenset())
        if inputs is None:
            return None
        return Current(fingerprint(code_version(t), inputs, self.vars, self.settings), inputs_text(inputs))

    def unchanged(self, current: Current | None, table: DeltaTable | None) -> bool:
        """Whether ``table``'s latest commit was made from exactly ``current``."""
        return current is not None and table is not None and last_fingerprint(table) == current.hash

    def kept(self, name: str, table: DeltaTable, uri: str) -> None:
        """Table ``name`` was left as it is by this run (``table``, as opened): its snapshot, for downstream."""
        self._snapshots[name] = snapshot_of(table, uri)

    def wrote(self, name: str, version: int | None) -> None:
        """This run committed ``version`` of ``name``: downstream fingerprints use that version."""
        self._snapshots.pop(name, None)
        if version is not None:
            self._written[name] = version

    def _inputs(self, t: Transform, seen: frozenset[str]) -> dict[str, Snapshot | str] | None:
        out: dict[str, Snapshot | str] = {}
        for name in dict.fromkeys((*t.inputs, *test_inputs(t))):  # a table a check reads counts too
            snap = self._snapshot(name, seen | {t.name})
            if snap is None:
                return None
            out[name] = snap
        return out

    def _snapshot(self, name: str, seen: frozenset[str]) -> Snapshot | str | None:
        view = self.transforms.get(name)
        if view is not None and view.mode == "view":  # never written: its code and inputs stand for it
            if name in seen:
                return None
            inputs = self._inputs(view, seen)
            return None if inputs is None else "view:" + fingerprint(code_version(view), inputs, self.vars,
                                                                     self.settings)
        if name in self._snapshots:
            return self._snapshots[name]
        target = self.read_target(name)
        table = target.open() if target is not None else None
        if target is None or table is None:
            return None
        snap = snapshot_of(table, target.uri, self._written.get(name))
        self._snapshots[name] = snap
        return snap
