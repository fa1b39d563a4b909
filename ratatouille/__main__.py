"""``python -m ratatouille`` is ``rat``."""

from .cli import _entry

_entry()
