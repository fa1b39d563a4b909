"""The environment of a benchmark's child processes that load modules from a bytecode cache.

A pip-installed package is compiled at install time; an editable install under
``PYTHONDONTWRITEBYTECODE`` (as on the development machine) compiles every module
in every process. Children given :func:`cached_env` read and write their bytecode
under ``cache`` (``PYTHONPYCACHEPREFIX``), so only the first one compiles.
"""

from __future__ import annotations

from typing import Mapping


def cached_env(env: Mapping[str, str], cache: str) -> dict[str, str]:
    """``env`` with modules loaded from (and compiled into) the bytecode cache under ``cache``.

    >>> sorted(cached_env({"PYTHONDONTWRITEBYTECODE": "1", "A": "b"}, "/tmp/c").items())
    [('A', 'b'), ('PYTHONPYCACHEPREFIX', '/tmp/c')]
    """
    out = {**env, "PYTHONPYCACHEPREFIX": cache}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out
