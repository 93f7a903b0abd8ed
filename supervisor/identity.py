"""Who this supervisor is, in a way a reused pid or hostname cannot fake."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

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


def host_key() -> str:
    """Identifies this boot of this machine and this pid namespace (containers have their own)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the hostname is the best we have
        return f"host:{socket.gethostname()}"
    return f"{boot}:{namespace}"
