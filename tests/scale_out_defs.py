"""The job of tests/test_scale_out.py, rebuilt by Dagster in each step process (a reconstructable
job needs an importable module). The project comes from ``RAT_PROJECT_DIR``, the S3 options from
``RAT_STORAGE_OPTIONS``, both inherited from the test."""

from __future__ import annotations


def daily_job():
    import dagster as dg

    from ratatouille.dagster import build_definitions

    defs = build_definitions(executor=dg.multiprocess_executor)
    return defs.resolve_job_def("silver_daily_job")
