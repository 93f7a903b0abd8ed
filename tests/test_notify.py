"""The sd_notify client against real AF_UNIX datagram sockets, as systemd listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import sd_notify as notify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket at a path, named in NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_each_message_reaches_the_socket(listener: socket.socket) -> None:
    assert notify.ready("2 slots, 0 pending")
    assert received(listener) == "READY=1\nSTATUS=2 slots, 0 pending"
    assert notify.status("running, 1/2 slots busy")
    assert received(listener) == "STATUS=running, 1/2 slots busy"
    assert notify.watchdog()
    assert received(listener) == "WATCHDOG=1"
    assert notify.stopping("draining 1 runner")
    assert received(listener) == "STOPPING=1\nSTATUS=draining 1 runner"
    assert notify.ready()
    assert received(listener) == "READY=1"


def test_reloading_carries_the_monotonic_time(listener: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notify.reloading()
    first, second = received(listener).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_abstract_namespace_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"jobsup-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.watchdog()
        assert received(sock) == "WATCHDOG=1"


def test_a_child_process_reads_the_socket_from_its_environment(
    listener: socket.socket,
) -> None:
    code = "from supervisor import sd_notify; sd_notify.ready(); sd_notify.stopping()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert [received(listener), received(listener)] == ["READY=1", "STOPPING=1"]


def test_without_a_socket_nothing_is_sent_and_nothing_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready() is False
    for address in (str(tmp_path / "gone.sock"), "@no-such-jobsup-socket"):
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        assert notify.watchdog() is False
        assert notify.reloading() is False
    # os.environ refuses a NUL byte; a mapping that holds one still must not make it raise.
    monkeypatch.setattr(os, "environ", {**os.environ, "NOTIFY_SOCKET": "bad\0path"})
    assert notify.status("x") is False


def test_status_text() -> None:
    assert notify.status_text("running", 3, 4, 12) == "running, 3/4 slots busy, 12 pending"
    assert notify.status_text("draining", 1, 4) == "draining, 1/4 slots busy"


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert notify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 15.0
