"""Diagnostic handlers for tests, benchmarks and smoke checks (`conf/dev.toml`: `diag.*`).

Each reads its knobs from the job's metadata.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import socket
import subprocess  # nosec B404  # diag.spawn starts this Python with a fixed script
import sys
import time
from pathlib import Path
from typing import Any

from runner import linux
from runner.errors import Retry, SoftTimeLimitExceeded
from runner.flow import StepNotStored
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
    """Raise `exception` (a built-in exception's name, default RuntimeError) with `message`
    (only in the first `attempts` attempts, if given)."""
    attempts = job.metadata.get("attempts")
    if attempts is None or job.attempt <= int(attempts):
        kind = getattr(builtins, str(job.metadata.get("exception", "RuntimeError")), None)
        if isinstance(kind, type) and issubclass(kind, Exception) and kind is not RuntimeError:
            raise kind(job.metadata.get("message", "diag.fail failed on purpose"))
        raise RuntimeError(job.metadata.get("message", "diag.fail failed on purpose"))


def retry(job: Job) -> list[dict[str, Any]]:
    """Raise runner.Retry(delay=`delay`) the first `times` runs (all of them if not given),
    counting runs in the file `count_file`; then succeed with the run count."""
    runs = 1
    if "count_file" in job.metadata:
        counter = Path(job.metadata["count_file"])
        runs = (int(counter.read_text()) if counter.exists() else 0) + 1
        counter.write_text(str(runs))
    times = job.metadata.get("times")
    if times is None or runs <= int(times):
        raise Retry(delay=float(job.metadata.get("delay", 1.0)), reason=f"run {runs}: not yet")
    return _insights(job, {"runs": runs, "attempt": job.attempt})


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
    """Grow to `mb` MiB at `mb_per_s` (default: at once), then hold it `hold` seconds. It
    grows by a hundredth of `mb_per_s` at a time, or by `step_mb` (a sleep after each step).

    With `report_mb`, print `crossed <unix time>` when the resident size first passes it.
    """
    target = int(float(job.metadata.get("mb", 100)) * MB)
    rate = float(job.metadata.get("mb_per_s", 0)) * MB
    report = float(job.metadata.get("report_mb", 0)) * MB
    step = int(min(target, rate / 100)) if rate else target  # 100 steps a second
    if job.metadata.get("step_mb"):
        step = int(float(job.metadata["step_mb"]) * MB)
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


def files(job: Job) -> list[dict[str, Any]]:
    """One insight naming the job's files in order, each with its size in bytes."""
    sizes = [[path, os.path.getsize(path)] for path in job.files]
    return [{"insight_type": "diag", "content": {"files": sizes}, "confidence_score": 1}]


def parents(job: Job) -> list[dict[str, Any]]:
    """One insight naming the jobs it waited for (`Job.parents`), each with its status and
    insights count, and its batch."""
    seen = [{"id": p.id, "status": p.status, "insights": p.insights_count, "error": p.error}
            for p in job.parents]  # fmt: skip
    content = {"parents": seen, "batch_id": job.batch_id}
    return [{"insight_type": "diag", "content": content, "confidence_score": 1}]


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
        "home": os.environ.get("HOME"), "nice": os.getpriority(os.PRIO_PROCESS, 0),
    }  # fmt: skip
    return [{"insight_type": "diag", "content": content, "confidence_score": 1.0}]


def chaos(job: Job) -> list[dict[str, Any]]:
    """For `scripts/chaos.py`: record this execution, misbehave as told, return one insight.

    Metadata: `record` (the run's execution log: one JSON line per event, appended),
    `behaviour` (`sleep`; `raise` in the first `fail_attempts` attempts; `segv` or `memory`,
    growing to `mb` MiB at `mb_per_s` and holding it `hold` s, in the first attempt only),
    `seconds` to sleep first; `step`: a durable step after the sleep (each run of it logged),
    then with `die_after_step` a SIGSEGV right after it in the first attempt. It reports
    its progress (started, slept).
    The insight names the job, the attempt, the claim's lease token and this execution.
    """
    execution = Execution(job)
    execution.log("start", behaviour=job.metadata.get("behaviour", "sleep"))
    job.progress(0, 2, "started")
    time.sleep(float(job.metadata.get("seconds", 0)))
    job.progress(1, 2, "slept")
    if job.metadata.get("behaviour") == "step":
        _durable_step(job, execution)
    _misbehave(job, execution)
    execution.log("end", result="ok")
    content = {"job_id": job.id, "attempt": job.attempt, "lease": job.lease,
               "execution": execution.id}  # fmt: skip
    return [{"insight_type": "chaos", "content": content, "confidence_score": 1.0}]


def _misbehave(job: Job, execution: Execution) -> None:
    behaviour = job.metadata.get("behaviour", "sleep")
    if behaviour == "raise" and job.attempt <= int(job.metadata.get("fail_attempts", 1)):
        execution.log("end", result="raise")
        raise RuntimeError(f"chaos: job {job.id} raises in attempt {job.attempt}")
    if behaviour == "segv" and job.attempt == 1:
        execution.log("end", result="segv")
        crash(job)
    if behaviour == "memory" and job.attempt == 1:
        execution.log("allocate", mb=job.metadata.get("mb", 400))
        allocate(job)  # killed over the memory limit before it is done
        execution.log("end", result="allocated")


def _durable_step(job: Job, execution: Execution) -> None:
    """Step "work" (its runs logged as `step_run`), then `step_done` naming the execution
    whose result came back, or `step_refused` when the claim was taken meanwhile."""

    def work() -> dict[str, Any]:
        execution.log("step_run")
        return {"execution": execution.id, "lease": job.lease, "attempt": job.attempt}

    try:
        kept = job.step("work", work)
    except StepNotStored:
        execution.log("step_refused")
        raise
    execution.log("step_done", by=kept["execution"])
    if job.metadata.get("die_after_step") and job.attempt == 1:
        execution.log("end", result="segv")
        crash(job)


class Execution:
    """One execution of a job, as the chaos run's log sees it."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.id = os.urandom(8).hex()
        self.path = str(job.metadata["record"])

    def log(self, event: str, **fields: Any) -> None:
        """Append one line; one write on an O_APPEND file, so lines never interleave."""
        record = {"event": event, "execution": self.id, "job_id": self.job.id,
                  "attempt": self.job.attempt, "lease": self.job.lease, "time": time.time(),
                  "pid": os.getpid(), "parent_pid": os.getppid(),
                  "supervisor_pid": _grandparent(),
                  "host": socket.gethostname(), **fields}  # fmt: skip
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)


def _grandparent() -> int | None:
    """The supervisor's pid: the parent of this runner's parent, the fork server (1, or a
    subreaper's, when the supervisor has just died)."""
    try:
        with open(f"/proc/{os.getppid()}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def progress(job: Job) -> list[dict[str, Any]]:
    """Report `total` stages (default 5) done one by one, `seconds` apart (default 0.2), each
    with a note, then sleep `after` seconds (default 0); one insight: the stages done."""
    total = int(job.metadata.get("total", 5))
    for done in range(1, total + 1):
        time.sleep(float(job.metadata.get("seconds", 0.2)))
        job.progress(done, total, f"stage {done} of {total}")
    time.sleep(float(job.metadata.get("after", 0)))
    return [{"insight_type": "diag", "content": {"stages": total}, "confidence_score": 1}]


def steps(job: Job) -> list[dict[str, Any]]:
    """Run `count` durable steps (default 2) named step-1, step-2, …; each appends
    "<name> <attempt>" to `calls_file` when it really runs. With `kill_after` = n, the
    runner kills itself (SIGKILL) right after step n while its attempt is at most
    `kill_attempts` (default 1); `sleep` seconds (default 0) after each step. One insight:
    the steps' results (each with the attempt and the claim's lease that ran it)."""
    calls = Path(job.metadata["calls_file"]) if "calls_file" in job.metadata else None

    def work(name: str, attempt: int) -> dict[str, Any]:
        if calls is not None:
            with calls.open("a") as f:
                f.write(f"{name} {attempt}\n")
        return {"name": name, "attempt": attempt, "lease": job.lease,
                "data": "x" * int(job.metadata.get("size", 0))}  # fmt: skip

    results = []
    for n in range(1, int(job.metadata.get("count", 2)) + 1):
        results.append(job.step(f"step-{n}", work, f"step-{n}", job.attempt))
        time.sleep(float(job.metadata.get("sleep", 0)))
        if n == job.metadata.get("kill_after") and job.attempt <= job.metadata.get(
            "kill_attempts", 1
        ):
            os.kill(os.getpid(), signal.SIGKILL)
    content = {"steps": [{"name": r["name"], "attempt": r["attempt"]} for r in results]}
    return [{"insight_type": "diag", "content": content, "confidence_score": 1}]
