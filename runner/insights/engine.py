"""A DuckDB connection that stays inside the runner's memory limit by spilling to disk.

DuckDB's `memory_limit` bounds its buffer manager, not the whole process. Measured on CSVs
of 80 MB and 1 GB (loading, grouping, hashing every row): peak RSS is the RSS before
DuckDB + `memory_limit` + 40 to 45 MB, and a CSV load needs at least ~80 MB of budget.
So DuckDB gets 70% of what is left under the limit once that overhead is set aside.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

OVERHEAD_MB = 48  # DuckDB's allocations outside its buffer pool (measured 40-45 MB)
MIN_BUDGET_MB = 80  # below this a CSV load fails with "could not allocate block"
BUDGET_SHARE = 0.7  # the rest is headroom for Python-side work and transient overshoot
MB_PER_THREAD = 96  # fewer MB per thread and DuckDB's operators start failing


def duckdb_budget_mb(memory_limit_mb: int | None, rss_mb: float) -> int | None:
    """DuckDB's memory_limit for a runner limit (None: unlimited runner, DuckDB default)."""
    if memory_limit_mb is None:
        return None
    free = memory_limit_mb - rss_mb - OVERHEAD_MB
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
    con.execute("SET enable_progress_bar = false")  # no bars in the runner's captured stderr
    try:
        yield con
    finally:
        con.close()
