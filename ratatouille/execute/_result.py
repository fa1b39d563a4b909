"""RunResult: the read-only, JSON-serializable outcome of ``run()``."""

from __future__ import annotations

import json
from typing import Any, Iterable, NoReturn


class RunResult(dict):
    """A read-only mapping describing a run.

    Keys: ``status`` (``"success"``, ``"skipped"`` or ``"failed"``), ``table``,
    ``mode``, ``rows_written``, ``version``, ``duration_s``, ``checks`` and, for
    several transforms, ``results`` (also the :attr:`results` attribute).
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
        return self.get("status") in ("success", "skipped")

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
    status = "failed" if "failed" in statuses else ("success" if "success" in statuses else "skipped")
    return RunResult(status=status, tables=[r["table"] for r in items],
                     rows_written=sum(int(r.get("rows_written") or 0) for r in items),
                     duration_s=round(duration_s, 4), results=items)
