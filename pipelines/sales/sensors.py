"""The "Sensors (Event-Driven)" sample of the docs, watching the sample's landing folder."""

from dagster import sensor, RunRequest, SensorEvaluationContext, DefaultSensorStatus
from ratatouille import tools

from .jobs import sales_pipeline_job as my_pipeline_job


@sensor(
    job=my_pipeline_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def new_files_sensor(context: SensorEvaluationContext):
    """Watch for new files in landing zone."""

    files = tools.ls("landing/sales/")

    # Track which files we've seen
    last_seen = context.cursor or ""
    new_files = [f for f in files if f > last_seen]

    if new_files:
        context.update_cursor(max(new_files))
        yield RunRequest(
            run_key=f"ingest-{max(new_files)}",
            run_config={}
        )
