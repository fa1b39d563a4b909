"""RunResult: the read-only, JSON-serializable outcome of ``run()``."""

from __future__ import annotations

import json
from typing import Any, Iterable, NoReturn


class RunResult(dict):
    """A read-only mapping describing a run.

    Keys: ``status``, ``table``, ``mode``, ``rows_written``, ``version``,
    ``duration_s``, ``checks`` and, for several transforms, ``results`` (also
    the :attr:`results` attribute). ``status`` is one of:

    - ``"success"``: the transform ran (and wrote its commit, ``version``);
    - ``"unchanged"``: its code and the versions of its inputs are those its
      table's last commit was built from, so nothing ran and nothing was
      written (``version`` is the table's current one; ``reason`` says so). An
      ingest transform is ``unchanged`` when no new landing file is settled.
      A success for ``run()``: no exception (see ``execute/_fingerprint.py``);
    - ``"skipped"``: it ran but had nothing to write (no new rows, or no table
      yet because every landing file is still settling), or it did not run
      because an upstream transform failed (``reason``);
    - ``"failed"``: it failed (``error``); ``run()`` raises.

    A run of several transforms is ``failed`` if one failed, else
    ``success`` if one ran, else ``unchanged`` if one was unchanged, else
    ``skipped``.
    It is a ``dict`` subclass, so ``json.dumps(result)`` and Dagster's
    ``MetadataValue.json(result)`` take it as is.

    Parameters
    ----------
    *args, **kwargs
        As for ``dict``: the result's keys and values.

    Examples
    --------
    >>> r = RunResult(status="success", table="silver.sales", rows_written=3)
    >>> r["status"], r.get("missing", "n/a")
    ('success', 'n/a')
    >>> r["status"] = "x"
    Traceback (most recent call last):
    ...
    TypeError: RunResult is read-only
    """

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("RunResult is read-only")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunResult, (dict(self),))

    @property
    def results(self) -> list["RunResult"]:
        """One result per table (a one-table run holds itself)."""
        return list(dict.get(self, "results") or [self])

    @property
    def ok(self) -> bool:
        return self.get("status") in ("success", "unchanged", "skipped")

    def to_json(self) -> str:
        return json.dumps(self, default=str)

    def __repr__(self) -> str:
        if "results" in self:
            return f"RunResult(status={self['status']!r}, tables={[r.get('table') for r in self.results]})"
        keys = ("status", "table", "mode", "rows_written", "version", "duration_s")
        return "RunResult(" + ", ".join(f"{k}={self.get(k)!r}" for k in keys if k in self) + ")"

    __str__ = __repr__


def combine(results: Iterable[RunResult], duration_s: float) -> RunResult:
    """One result for a multi-transform run."""
    items = list(results)
    statuses = {r["status"] for r in items}
    status = next((s for s in ("failed", "success", "unchanged") if s in statuses), "skipped")
    return RunResult(status=status, tables=[r["table"] for r in items],
                     rows_written=sum(int(r.get("rows_written") or 0) for r in items),
                     duration_s=round(duration_s, 4), results=items)
