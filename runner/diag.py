"""Diagnostic handlers for tests, benchmarks and smoke checks (`conf/dev.toml`: `diag.*`).

Each reads its knobs from the job's metadata.
"""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404  # diag.spawn starts this Python with a fixed script
import sys
import time
from pathlib import Path
from typing import Any

from runner import linux
from runner.errors import SoftTimeLimitExceeded
from runner.job import Job

MB = 1 << 20


def noop(job: Job) -> list[dict[str, Any]]:
    """Nothing, or `insights` small insights (default 0) of `size` bytes each."""
    return _insights(job, {})


def _insights(job: Job, extra: dict[str, Any]) -> list[dict[str, Any]]:
    count = int(job.metadata.get("insights", 0))
    text = "x" * int(job.metadata.get("size", 10))
    return [
        {"insight_type": "diag", "content": {"n": i, "text": text, **extra}, "confidence_score": 1}
        for i in range(count)
    ]


def sleep(job: Job) -> list[dict[str, Any]]:
    """Sleep `seconds` (default 1), then return `insights` insights (default 0) naming the
    attempt and the claim (lease) that made them. With `ignore_sigterm` it cannot be stopped
    politely; with `cleanup_file` it writes that file when its soft time limit interrupts it."""
    if job.metadata.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        time.sleep(float(job.metadata.get("seconds", 1)))
    except SoftTimeLimitExceeded:
        if "cleanup_file" in job.metadata:
            Path(job.metadata["cleanup_file"]).write_text(f"job {job.id} cleaned up\n")
        raise
    return _insights(job, {"attempt": job.attempt, "lease": job.lease})


def fail(job: Job) -> None:
    """Raise RuntimeError with `message` (only in the first `attempts` attempts, if given)."""
    attempts = job.metadata.get("attempts")
    if attempts is None or job.attempt <= int(attempts):
        raise RuntimeError(job.metadata.get("message", "diag.fail failed on purpose"))


def crash(job: Job) -> None:
    """Exit with `exit_code` at once, or die by `signal` (default SIGSEGV)."""
    sys.stdout.flush()
    if "exit_code" in job.metadata:
        os._exit(int(job.metadata["exit_code"]))
    signum = signal.Signals[str(job.metadata.get("signal", "SIGSEGV"))]
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(10)  # a signal whose default is not to die leaves us here


def allocate(job: Job) -> None:
    """Grow to `mb` MiB at `mb_per_s` (default: at once), then hold it `hold` seconds.

    With `report_mb`, print `crossed <unix time>` when the resident size first passes it.
    """
    target = int(float(job.metadata.get("mb", 100)) * MB)
    rate = float(job.metadata.get("mb_per_s", 0)) * MB
    report = float(job.metadata.get("report_mb", 0)) * MB
    step = int(min(target, rate / 100)) if rate else target  # 100 steps a second
    held = []
    total = 0
    while total < target:
        chunk = min(step, target - total)
        held.append(b"\x01" * chunk)  # written, so the pages are really resident
        total += chunk
        if report and linux.memory()[1] > report:
            sys.stdout.write(f"crossed {time.time():.6f}\n")
            sys.stdout.flush()
            report = 0
        if rate:
            time.sleep(chunk / rate)
    time.sleep(float(job.metadata.get("hold", 0)))


def spawn(job: Job) -> None:
    """Start `children` processes that each hold `mb` MiB and keep running; wait `seconds`.

    With `setsid` true the children leave the runner's process group (as daemons do). With
    `fork` true the runner holds the `mb` MiB and the children are forks of it sharing those
    pages (as a pre-forking server's workers do).
    """
    mb = int(job.metadata.get("mb", 0))
    children = int(job.metadata.get("children", 1))
    forked = bool(job.metadata.get("fork"))
    held = b"\x01" * (mb << 20) if forked else b""  # kept to the end: the children share it
    if forked:
        _fork_children(children)
    else:
        code = f"import time; x = b'\\x01' * ({mb} << 20); time.sleep(3600)"
        setsid = bool(job.metadata.get("setsid"))
        for _ in range(children):
            # This Python, running a script built from one number.
            subprocess.Popen([sys.executable, "-c", code], start_new_session=setsid)  # nosec B603
    time.sleep(float(job.metadata.get("seconds", 0)))
    del held


def _fork_children(count: int) -> None:
    for _ in range(count):
        if os.fork() == 0:
            try:
                time.sleep(3600)  # with the parent's memory, shared until written
            finally:
                os._exit(0)


def print(job: Job) -> None:
    """Write `bytes` (default 1 MiB) of numbered lines to `stream` (stdout or stderr)."""
    stream = sys.stderr if job.metadata.get("stream") == "stderr" else sys.stdout
    remaining = int(job.metadata.get("bytes", MB))
    line_number = 0
    while remaining > 0:
        line = f"line {line_number} " + "." * 60 + "\n"
        stream.write(line[:remaining])
        remaining -= len(line)
        line_number += 1
    stream.flush()


def whoami(job: Job) -> list[dict[str, Any]]:
    """Who the runner is and what it can read: one insight with its uid, gid, groups, the
    names in its environment and the first `bytes` (default 64) of each of the job's files."""
    size = int(job.metadata.get("bytes", 64))
    heads = {}
    for path in job.files:
        with open(path, "rb") as f:
            heads[path] = f.read(size).decode(errors="replace")
    content = {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
        "groups": sorted(os.getgroups()), "environment": sorted(os.environ), "files": heads,
        "home": os.environ.get("HOME"),
    }  # fmt: skip
    return [{"insight_type": "diag", "content": content, "confidence_score": 1.0}]
