"""The few Linux process controls that Python's os module lacks (no-ops elsewhere)."""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Loaded once in the fork server, so a runner does not pay for it after each fork; its
# argument types declared once too (a call without them converts each argument anew).
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
if _libc is not None:
    _libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    _libc.prctl.restype = ctypes.c_int


def prctl(option: int, value: int) -> None:
    if _libc is not None:
        _libc.prctl(option, value, 0, 0, 0)


def memory() -> tuple[int, int]:
    """(mapped, resident) bytes of this process, from /proc/self/statm."""
    with open("/proc/self/statm", "rb") as f:
        size, resident = f.read().split()[:2]
    return int(size) * PAGE_SIZE, int(resident) * PAGE_SIZE
