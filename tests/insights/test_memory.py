"""The workflow stays inside the runner's memory limit on a file larger than the limit allows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from runner.insights.sql import literal

# The child's own peak: VmHWM, the high-water mark of the memory it maps after exec. Not
# ru_maxrss: Linux keeps that across fork and exec, so a child forked from a pytest process
# that has imported pandas, scipy and statsmodels (test_eval_checks) starts at that
# process's RSS (245-253 MB measured, against ~170 MB for the child itself).
CHILD = """
import json, sys
from runner.insights import run_complete_workflow
rows = run_complete_workflow([sys.argv[1]], "revenue by region", {}, memory_limit_mb=int(sys.argv[2]))
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:")) / 1024
profile = next(r for r in rows if r["insight_type"] == "profile")
print(json.dumps({"rows": profile["content"]["details"]["rows"], "peak_mb": peak}))
"""


@pytest.mark.slow
def test_large_file_is_analysed_under_a_tight_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    con = duckdb.connect()
    # ~80 MB of orders: loaded whole into memory it would not fit the 200 MB limit.
    con.execute(
        f"""COPY (SELECT i AS order_id, DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day,
                 'C' || CAST(hash(i) % 5000 AS VARCHAR) AS customer_id,
                 ['N', 'S', 'E', 'W'][CAST(1 + hash(i * 7) % 4 AS INTEGER)] AS region,
                 round(CAST(hash(i * 3) % 10000 AS INTEGER) / 100.0, 2) AS revenue,
                 'note ' || CAST(hash(i * 11) AS VARCHAR) AS note
          FROM range(1500000) t(i)) TO {literal(path)} (HEADER)"""
    ).fetchall()
    con.close()
    limit = 200
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 1_500_000
    assert result["peak_mb"] < limit
