"""Handlers used only by the benchmarks (on PYTHONPATH=scripts when the bench runs)."""

from __future__ import annotations

import os
import time
from typing import Any

from runner.job import Job


def stamp(job: Job) -> list[dict[str, Any]]:
    """One insight holding the moment the handler started (time.time())."""
    return [{"insight_type": "stamp", "content": {"t": time.time()}, "confidence_score": 1.0}]


def mark(job: Job) -> list[dict[str, Any]]:
    """Append the job's id to the file `log` (metadata): one line per execution."""
    fd = os.open(job.metadata["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{job.id}\n".encode())
    finally:
        os.close(fd)
    return []


def progress(job: Job) -> None:
    """Nothing but one progress report (job.progress): what reporting costs a job."""
    job.progress(1, 1, "done")
