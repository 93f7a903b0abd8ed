"""A DuckDB connection that stays inside the runner's memory limit by spilling to disk.

DuckDB's `memory_limit` bounds its buffer manager, not the whole process: the Python
interpreter, inherited pages and allocations outside the buffer pool come on top. Measured
(scripts/bench_insights.py, 1 GB CSV): peak RSS is roughly the process's RSS before
DuckDB + `memory_limit` + 40 MB. So DuckDB gets 60% of what is left under the limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

RESERVE_MB = 64  # Python-side work: openpyxl rows, fetched aggregates, the AI request
MIN_BUDGET_MB = 48
BUDGET_SHARE = 0.6
MB_PER_THREAD = 96  # below this much memory per thread, DuckDB's operators start failing


def duckdb_budget_mb(memory_limit_mb: int | None, rss_mb: float) -> int | None:
    """DuckDB's memory_limit for a runner limit (None: unlimited runner, DuckDB default)."""
    if memory_limit_mb is None:
        return None
    free = memory_limit_mb - rss_mb - RESERVE_MB
    return max(MIN_BUDGET_MB, int(free * BUDGET_SHARE))


def thread_count(budget_mb: int | None) -> int:
    """Threads for DuckDB: one per core, fewer when memory per thread would be too small."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if budget_mb is None:
        return cores
    return max(1, min(cores, budget_mb // MB_PER_THREAD))


def current_rss_mb() -> float:
    """This process's resident memory in MB."""
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


@contextmanager
def connect(workdir: Path, memory_limit_mb: int | None) -> Iterator[DuckDBPyConnection]:
    """A file-backed DuckDB database in workdir (so tables larger than memory spill there)."""
    import duckdb

    budget = duckdb_budget_mb(memory_limit_mb, current_rss_mb())
    config: dict[str, Any] = {
        "threads": thread_count(budget),
        "preserve_insertion_order": False,
        "temp_directory": str(workdir / "spill"),
    }
    if budget is not None:
        config["memory_limit"] = f"{budget}MB"
    con = duckdb.connect(str(workdir / "analysis.duckdb"), config=config)
    try:
        yield con
    finally:
        con.close()
