"""Production Dagster code.

Every transform of ``workspaces/default/pipelines/`` already becomes a Dagster
asset (``ratatouille.definitions:defs``). Add hand-written Dagster objects to
these lists and they are merged in.
"""

all_assets: list = []
all_asset_checks: list = []
all_jobs: list = []
all_sensors: list = []
all_schedules: list = []
