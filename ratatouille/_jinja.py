"""The project's one Jinja environment: sandboxed, strict, and every error located.

SQL transforms and SQL tests are Jinja templates written by many hands. They
render in Jinja's :class:`~jinja2.sandbox.SandboxedEnvironment` (no attribute
access to Python internals such as ``''.__class__.__mro__``, no unsafe
callables) with :class:`~jinja2.StrictUndefined` (an unknown name is an error,
not an empty string). Any error while parsing or rendering a template (syntax,
undefined name, sandbox violation, or a Python error such as ``{{ 1 // 0 }}``)
becomes a :class:`~ratatouille.errors.SQLError` naming the transform, the file
and the template line, so one broken transform fails alone.

Example
-------
>>> render("SELECT {{ 1 // 0 }}", {}, transform="silver.x", file="silver/x.sql")
Traceback (most recent call last):
...
ratatouille.errors.SQLError: silver.x (silver/x.sql, line 1): template error: ZeroDivisionError: integer division or modulo by zero
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from . import _budget_jinja as _budget
from .errors import RatatouilleError, SQLError

__all__ = ["ENV", "render"]


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus a budget so one template cannot exhaust memory or CPU while the
    project loads (:mod:`ratatouille._budget_jinja` has the rules: sizes checked before and
    after every operator, call, filter and ``~``; a step budget for loops and macros).
    ``range`` is limited by the sandbox itself."""

    intercepted_binops = frozenset(["+", "*", "**", "%", "//", "-"])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget.check_binop(operator, left, right)
        return _budget.checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's own signature
        _budget.check_call(__obj, args, kwargs)
        return _budget.checked(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        return _budget.checked_format(value, super().wrap_str_format(value))


ENV = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
_budget.install(ENV)


def render(text: str, context: Mapping[str, Any], *, transform: str | None = None, file: str | None = None,
           line_offset: int = 0) -> str:
    """Render the template ``text`` with ``context`` in the sandbox.

    Parameters
    ----------
    text: the template (SQL with Jinja).
    context: the names the template sees (``ref``, ``this``, ...).
    transform, file, line_offset: where the template comes from, for errors.

    Raises
    ------
    SQLError: any error at parse or render time, with the template's line when known.
        A :class:`~ratatouille.errors.RatatouilleError` raised by a helper (``var()``) passes as is.

    >>> render("SELECT {{ n + 1 }}", {"n": 1})
    'SELECT 2'
    """
    try:
        return _budget.render(_compile(text), context)
    except RatatouilleError as exc:  # a helper's own error (var(), watermark()): add where it was called
        exc.line = exc.line or _line(exc, line_offset)
        exc.locate(transform=transform, file=file)
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise SQLError(f"template error: {exc.message}", transform=transform, file=file,
                       line=(exc.lineno + line_offset) if exc.lineno else None) from None
    except SecurityError as exc:
        raise SQLError(f"template error: unsafe operation refused by the sandbox: {exc}", transform=transform,
                       file=file, line=_line(exc, line_offset)) from None
    except jinja2.TemplateError as exc:
        raise SQLError(f"template error: {exc.message or exc}", transform=transform, file=file,
                       line=_line(exc, line_offset)) from None
    except Exception as exc:  # noqa: BLE001 - a Python error inside an expression is the template's error
        raise SQLError(f"template error: {type(exc).__name__}: {exc}", transform=transform, file=file,
                       line=_line(exc, line_offset)) from None


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> jinja2.Template:
    """The template ``text`` compiled once (a template that does not compile is not cached)."""
    return ENV.from_string(text)


def _line(exc: BaseException, offset: int) -> int | None:
    """The template line an error was raised at (Jinja rewrites its traceback to name it)."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return (line + offset) if line else None
