"""The book of one run: which transforms failed, which have no table yet, and the errors to raise.

The runner asks it, when a transform becomes ready, whether it runs at all:
downstream of a failed transform it is ``skipped`` ("an upstream transform
failed"), downstream of a transform that has no table yet (every landing file
still settling) it is ``skipped`` too. Once every independent branch has
finished, :meth:`Book.raise_errors` raises the failure(s) carrying every result.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..check import jsonable
from ..errors import RatatouilleError, RunError
from ._result import RunResult


class Book:
    """Failures and unbuilt tables of one run (``upstream``: each transform's inputs; ``modes``: its mode).

    >>> book = Book({"a": [], "b": ["a"]}, {"a": "table", "b": "table"})
    >>> book.finish("a", book.failed("a", RatatouilleError("boom")))
    >>> book.decide("b")["reason"]
    'an upstream transform failed'
    """

    def __init__(self, upstream: Mapping[str, Sequence[str]], modes: Mapping[str, str]) -> None:
        self.upstream = upstream
        self.modes = modes
        self.blocked: set[str] = set()
        self.unbuilt: set[str] = set()  # skipped in this run with no table yet (e.g. every landing file settling)
        self.errors: dict[str, RatatouilleError] = {}

    def decide(self, name: str) -> RunResult | None:
        """A result for ``name`` without running it (an upstream failed or has no table), else ``None``."""
        if any(dep in self.blocked for dep in self.upstream[name]):
            self.blocked.add(name)
            return self._skipped(name, "an upstream transform failed")
        empty = [dep for dep in self.upstream[name] if dep in self.unbuilt]
        if empty:
            self.unbuilt.add(name)
            return self._skipped(name, f"upstream {', '.join(empty)} has no table yet (nothing to read)")
        return None

    def failed(self, name: str, exc: RatatouilleError) -> RunResult:
        """The result of ``name`` failing with ``exc`` (kept to be raised at the end)."""
        self.errors[name] = exc
        checks = jsonable(exc.checks) if exc.checks and not isinstance(exc.checks[0], dict) else list(exc.checks)
        return RunResult(status="failed", table=name, mode=self.modes[name], error=str(exc), rows_written=0,
                         version=None, duration_s=0.0, checks=checks)

    def finish(self, name: str, result: RunResult) -> None:
        """``name`` ended with ``result``: its downstream is blocked if it failed."""
        if result.get("status") == "failed":
            self.blocked.add(name)

    def raise_errors(self, order: Sequence[str], out: RunResult) -> None:
        """Raise the failure of the run (one error as is, several as a :class:`RunError`), with every result."""
        errors = [self.errors[name] for name in order if name in self.errors]
        if not errors:
            return
        if len(errors) == 1:
            err = errors[0]
            err.results = list(out.results)
            raise err
        raise RunError(f"{len(errors)} of {len(order)} transforms failed:\n" + "\n".join(f"  {e}" for e in errors),
                       errors=errors, results=out.results)

    def _skipped(self, name: str, reason: str) -> RunResult:
        return RunResult(status="skipped", table=name, mode=self.modes[name], reason=reason, rows_written=0,
                         version=None, duration_s=0.0, checks=[])
