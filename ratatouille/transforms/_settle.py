"""Moved to :mod:`ratatouille.ingest._settle` (kept so existing imports work)."""

from ..ingest._settle import (DEFAULT_SETTLE_SECONDS, ENV_SETTLE, HELD_FILES, Gate, Gone, Waiting,  # noqa: F401
                              check_settle_config, describe_change, gone, mtime_of, not_ready, settle_seconds)
