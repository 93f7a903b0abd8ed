"""The signal queue: handlers only record; the loop takes every signal, none lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import FrameType

import pytest

from supervisor.loop.signals import SignalQueue

pytestmark = pytest.mark.unit


def test_no_signal_is_lost_between_two_takes() -> None:
    queue = SignalQueue()
    recorded = 0
    record = queue._record

    def counting(signum: int, frame: FrameType | None) -> None:
        nonlocal recorded
        recorded += 1
        record(signum, frame)

    queue._record = counting  # type: ignore[method-assign]
    queue.install()
    sender = subprocess.Popen([sys.executable, "-c", (
        "import os, signal, sys, time\n"
        "end = time.monotonic() + 1.5\n"
        "while time.monotonic() < end:\n"
        "    os.kill(int(sys.argv[1]), signal.SIGTTIN)\n"
        "    time.sleep(0.0003)\n"
    ), str(os.getpid())])  # fmt: skip
    taken = 0
    try:
        while sender.poll() is None:
            taken += len(queue.pop_all())
        time.sleep(0.1)
        taken += len(queue.pop_all())
    finally:
        queue.uninstall()
    assert recorded > 100 and taken == recorded
