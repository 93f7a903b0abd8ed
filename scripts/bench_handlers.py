"""Handlers used only by the benchmarks (on PYTHONPATH=scripts when the bench runs)."""

from __future__ import annotations

import time
from typing import Any

from runner.job import Job


def stamp(job: Job) -> list[dict[str, Any]]:
    """One insight holding the moment the handler started (time.time())."""
    return [{"insight_type": "stamp", "content": {"t": time.time()}, "confidence_score": 1.0}]
