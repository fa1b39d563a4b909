"""📊 Sales Pipeline - Bronze → Silver → Gold"""

from .assets import (
    sales_bronze,
    sales_silver,
    sales_gold,
)
from .checks import all_checks
from .jobs import sales_pipeline_job

all_assets = [
    sales_bronze,
    sales_silver,
    sales_gold,
]
all_asset_checks = all_checks
all_jobs = [sales_pipeline_job]
