"""Production Dagster code of this project, merged into ``ratatouille.definitions:defs``.

Next to the assets Ratatouille makes for every transform (keys ``["silver", "sales"]``...),
this package holds hand-written Dagster code: the sales pipeline of the docs
(``sales_bronze`` -> ``sales_silver`` -> ``sales_gold``, calling ``run()``) and a
sensor on the landing folder.
"""

from .sales import all_assets as sales_assets
from .sales import all_asset_checks as sales_asset_checks
from .sales import all_jobs as sales_jobs
from .sales.sensors import new_files_sensor

all_assets = [*sales_assets]
all_asset_checks = [*sales_asset_checks]
all_jobs = [*sales_jobs]
all_sensors = [new_files_sensor]
all_schedules = []
