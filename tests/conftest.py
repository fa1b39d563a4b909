"""Shared fixtures. ``rat_project`` comes from the ratatouille.testing plugin."""

from __future__ import annotations

import os

# keep Dagster quiet and local in tests
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
