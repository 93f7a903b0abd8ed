"""The `analysis` job: business insights from the job's files (CSV, JSON, Parquet, Excel).

Importing this package stays light: DuckDB, openpyxl and psutil are imported only by the
functions that use them, inside the runner.
"""

from __future__ import annotations

from typing import Any

from runner.insights import stages
from runner.insights.workflow import run_complete_workflow
from runner.job import Job

__all__ = ["analysis", "run_complete_workflow"]


def analysis(job: Job) -> list[dict[str, Any]]:
    """The handler for job type `analysis` (configured as `runner.insights:analysis`)."""
    with stages.reporting(job.progress, job.step, len(job.files)):
        return run_complete_workflow(
            job.files,
            job.business_description,
            job.metadata,
            settings=job.settings,
            memory_limit_mb=job.memory_limit_mb,
            names=job.file_names,
        )
