"""Running the real handler: `runner.insights:analysis` on a `runner.Job`, in a fresh process
that reports its rows, time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MEMORY_LIMIT_MB = 1024  # the runner's default memory_mb
ENTRY = Path(__file__).resolve().parents[1] / "eval_insights.py"


def child(path: str, description: str, out: str) -> None:
    """In a fresh process: the handler a runner calls, on a runner.Job; rows, time, peak RSS."""
    from runner.handlers import load
    from runner.job import Job

    handler = load("runner.insights:analysis")
    job = Job(
        id="eval",
        type="analysis",
        files=(path,),
        business_description=description,
        memory_limit_mb=MEMORY_LIMIT_MB,
    )
    started, cpu = time.perf_counter(), time.process_time()
    rows = handler(job)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _peak_rss_mb()
    result = {"rows": rows, "seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak}
    Path(out).write_text(json.dumps(result))


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which (unlike ru_maxrss) starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_job(path: Path, description: str, engine: str | None = None) -> dict[str, Any]:
    """The handler's rows, time and peak RSS, from a fresh process (engine: another
    checkout's directory holding `runner/`, to measure it the same way)."""
    out = path.with_suffix(".result.json")
    command = [sys.executable, str(ENTRY), "--child", str(path), description, str(out)]
    env = dict(os.environ)
    if engine:
        env["PYTHONPATH"] = os.pathsep.join([engine, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{path.name}: the analysis job failed: {tail[0]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result
