"""A resource budget for rendering Jinja templates (used by :mod:`ratatouille._jinja`).

Jinja's sandbox stops access to Python internals but not a template that exhausts the machine:
``{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`` runs for
hours, ``{{ 'x'.center(999999999) }}``, ``{{ '%999999999d' % 1 }}`` or repeated ``~`` build
gigabytes, ``{{ (9 ** 1000) ** 1000 }}`` computes for minutes. Templates render while the project
loads, so one such file would stall every ``rat`` command, ``query()`` and the Dagster code location.

The budget, per render:

* **size**: no value an operator, call, filter, ``~`` or the output builds may exceed
  ``_MAX_SIZE`` items, checked *before* the operation where one call could allocate it at once
  (an integer argument over the limit, a format width, ``str * n``, a string method or filter
  whose result could grow past it), and after it otherwise; integers are bounded in bits;
* **steps**: a trace counts the lines the compiled template executes (each loop iteration,
  each macro call) and stops the render past ``_MAX_STEPS``.

Exceeding it raises :class:`jinja2.exceptions.SecurityError`, which :func:`ratatouille._jinja.render`
turns into the transform's located :class:`~ratatouille.errors.SQLError`.

>>> from ratatouille._jinja import render
>>> render("{{ 'x'.center(999999999) }}", {})
Traceback (most recent call last):
...
ratatouille.errors.SQLError: line 1: template error: unsafe operation refused by the sandbox: an argument of 999999999 is too large (at most 10000000)
"""

from __future__ import annotations

import functools
import re
import sys
from types import FrameType
from typing import Any, Callable, Iterable, Mapping, Sequence

from jinja2 import Environment, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.utils import concat

_DIGITS = re.compile(r"\d+")


_MAX_SIZE = 10_000_000  # the longest string or list an expression may build (a template renders SQL)
_MAX_EXPONENT = 1_000
_MAX_INT_BITS = 100_000  # the largest integer an expression may build (about 30,000 digits)
_MAX_STEPS = 5_000_000  # template lines one render may execute (loops, macros): a budget of CPU


def _limits() -> tuple[int, int, int, int]:
    return _MAX_SIZE, _MAX_EXPONENT, _MAX_INT_BITS, _MAX_STEPS


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def checked(value: Any) -> Any:
    """``value`` if it is within the size budget, else SecurityError."""
    max_size, _, max_bits, _ = _limits()
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > max_bits:
        raise SecurityError(f"an integer of {value.bit_length()} bits is too large (at most {max_bits})")
    if _size(value) > max_size:
        raise SecurityError(f"a value of {_size(value)} items is too large (at most {max_size})")
    return value


def _check_ints(values: Iterable[Any]) -> None:
    max_size, _, _, _ = _limits()
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > max_size:
            raise SecurityError(f"an argument of {v} is too large (at most {max_size})")
        if isinstance(v, (tuple, list)):
            _check_ints(v)


def _check_format(text: Any) -> None:
    """A format string (``%`` or ``str.format``) may not ask for a width or precision over the limit."""
    max_size, _, _, _ = _limits()
    if isinstance(text, str):
        for m in _DIGITS.finditer(text):
            if len(m.group()) > len(str(max_size)) or int(m.group()) > max_size:
                raise SecurityError(f"a format width of {m.group()} is too large (at most {max_size})")
        if "%" in text and re.search(r"%[-#0 +]*\*|%[-#0 +]*\d*\.\*", text):
            raise SecurityError("a format width given by an argument ('*') is not allowed")


def _check_growth(base: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """A call on a string or list whose result could grow past the limit (``replace``, ``center``,
    ``indent``, ``join``, ``wordwrap``...): the base's size times its largest argument."""
    max_size, _, _, _ = _limits()
    n = _size(base)
    if not n:
        return
    factor = 1
    for v in (*args, *kwargs.values()):
        if isinstance(v, str):
            factor = max(factor, len(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            factor = max(factor, abs(v))
    if n * factor > max_size:
        raise SecurityError(f"a result of up to {n * factor} items is too large (at most {max_size})")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would exceed the budget before computing it."""
    max_size, max_exp, max_bits, _ = _limits()
    ints = all(isinstance(x, int) and not isinstance(x, bool) for x in (left, right))
    if operator == "**" and isinstance(right, int):
        if abs(right) > max_exp:
            raise SecurityError(f"exponent {right} is too large (at most {max_exp})")
        if ints and right > 0 and abs(left).bit_length() * right > max_bits:
            raise SecurityError(f"the result of {operator} is too large (at most {max_bits} bits)")
    if operator == "*":
        if ints and left.bit_length() + right.bit_length() > max_bits:
            raise SecurityError(f"the result of {operator} is too large (at most {max_bits} bits)")
        for seq, n in ((left, right), (right, left)):
            if _size(seq) and isinstance(n, int) and _size(seq) * n > max_size:
                raise SecurityError(f"a sequence of {_size(seq) * n} items is too large (at most {max_size})")
    if operator == "%" and isinstance(left, str):
        _check_format(left)
        _check_ints(right if isinstance(right, (tuple, list)) else (right,))


def check_call(obj: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse a call (a function, a method, ``str.format``) that could exceed the budget at once."""
    _check_ints(args)
    _check_ints(kwargs.values())
    _check_growth(getattr(obj, "__self__", None), args, kwargs)


def checked_format(method: Any, wrapper: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """The sandbox's ``str.format`` wrapper for ``method``, with its format string checked first."""
    if wrapper is None:
        return None

    @functools.wraps(wrapper)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_format(method.__self__)
        _check_ints(args)
        _check_ints(kwargs.values())
        return checked(wrapper(*args, **kwargs))

    return bounded


def _checked_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja_pass_arg (context/environment filters)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        plain = [a for a in args if not _is_jinja_object(a)]
        _check_ints(plain[1:])
        _check_ints(kwargs.values())
        if plain:
            if func.__name__ == "do_format":
                _check_format(plain[0])
            _check_growth(plain[0], plain[1:], kwargs)
        return checked(func(*args, **kwargs))

    return wrapper


def _is_jinja_object(value: Any) -> bool:
    return type(value).__module__.startswith("jinja2.") and not isinstance(value, str)


def _join(items: Iterable[Any]) -> str:
    """``concat`` (the join of output buffers) and ``~``, bounded."""
    max_size, _, _, _ = _limits()
    parts = [item if isinstance(item, str) else str(item) for item in items]
    total = sum(len(p) for p in parts)
    if total > max_size:
        raise SecurityError(f"a text of {total} characters is too large (at most {max_size})")
    return concat(parts)


class _Generator(CodeGenerator):
    """Compiles ``a ~ b`` to the bounded join instead of Jinja's unbounded ``str_join``."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's visitor name
        self.write("environment.rat_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def install(env: Environment) -> None:
    """Put the budget into ``env``: bounded filters, joins and ``~`` (no autoescape: SQL, not HTML)."""
    env.code_generator_class = _Generator
    setattr(env, "rat_join", _join)  # noqa: B010 - an attribute of ours, read by the code _Generator compiles
    env.concat = _join  # type: ignore[method-assign]  # Jinja joins output buffers with env.concat
    env.filters = {name: _checked_filter(f) for name, f in env.filters.items()}


class _Steps:
    """A trace function counting the lines executed in compiled templates (``<template>`` frames)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "call":
            return self._line if frame.f_code.co_filename == "<template>" else None
        return None

    def _line(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "line":
            self.count += 1
            if self.count > self.limit:
                raise SecurityError(f"the template ran too long (over {self.limit} steps: loops or macros)")
        return self._line


def render(template: Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` with ``context`` within the budget (output size and steps)."""
    max_size, _, _, max_steps = _limits()
    previous = sys.gettrace()
    steps = _Steps(max_steps)
    sys.settrace(steps)
    try:
        out, total = [], 0
        for chunk in template.generate(**context):
            total += len(chunk)
            if total > max_size:
                raise SecurityError(f"the rendered text is too large (over {max_size} characters)")
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(previous)
