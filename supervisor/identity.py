"""Who this supervisor is, in a way a reused pid or hostname cannot fake."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from runner import bootstrap, forkserver

# Two create times of one process differ by rounding only.
START_TIME_TOLERANCE = 1.0


@dataclass(frozen=True)
class Identity:
    id: str  # fresh for every start: never a reusable name
    host: str
    host_key: str  # boot id + pid namespace: where `pid` means the same process
    pid: int
    process_started: float

    @classmethod
    def new(cls) -> Identity:
        pid = os.getpid()
        return cls(
            id=str(uuid.uuid4()),
            host=socket.gethostname(),
            host_key=host_key(),
            pid=pid,
            process_started=psutil.Process(pid).create_time(),
        )

    def as_params(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "host_key": self.host_key,
            "pid": self.pid,
            "process_started": self.process_started,
        }

    def sibling_alive(self, pid: int, process_started: float) -> bool:
        """Is the supervisor `pid`, started at `process_started`, on this host still alive?"""
        return process_alive(pid, process_started)


def process_alive(pid: int, process_started: float) -> bool:
    """Is process `pid` of this host, started at `process_started`, alive (not a reuse)?"""
    try:
        process = psutil.Process(pid)
        started = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. AccessDenied: it exists, so assume it is alive
        return True
    return abs(started - process_started) < START_TIME_TOLERANCE


def leftovers(supervisor_pid: int, job_ids: Collection[str]) -> list[int]:
    """The processes of this host that may still run user code for the dead supervisor
    `supervisor_pid`: the runners of `job_ids` (the jobs it held) and its fork server, with
    any runner the server forked that has not yet taken its own title. Runners are SIGKILLed
    here (when permitted); the server already has its PDEATHSIG and is left to finish dying.

    Why: a SIGKILLed supervisor's death reaches its runners in steps (its threads exit, then
    the fork server gets its PDEATHSIG, and only once the server has exited do the runners
    get theirs); until a runner has its SIGKILL pending it may run user code, so its job may
    not be given to another supervisor. A process whose title cannot be read may be one of
    them; a zombie, or one past the point of freeing its memory, has an empty title and can
    run nothing. A /proc scan, only when a same-host sibling's process is gone.
    """
    server = forkserver.title(supervisor_pid)
    runners = tuple(f"{bootstrap.RUNNER_TITLE} {job_id} " for job_id in job_ids)
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0", 1)[0].decode(errors="replace").rstrip()
        except (FileNotFoundError, ProcessLookupError):  # gone meanwhile
            continue
        except OSError:  # e.g. EACCES (hidepid): it may be one
            found.append(pid)
            continue
        if title.startswith(runners):
            found.append(pid)
            with contextlib.suppress(OSError):  # not ours to kill (run_as): it waits
                os.kill(pid, signal.SIGKILL)
        elif title == server:
            found.append(pid)
    return found


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc (not Linux): nothing to be seen, as before
        return []


def host_key() -> str:
    """Identifies this boot of this machine and this pid namespace (containers have their own)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the hostname is the best we have
        return f"host:{socket.gethostname()}"
    return f"{boot}:{namespace}"
