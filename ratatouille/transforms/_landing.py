"""Moved to :mod:`ratatouille.ingest._landing` (kept so existing imports work)."""

from ..ingest._landing import LANDING, check_source, list_landing, quarantine_paths  # noqa: F401
