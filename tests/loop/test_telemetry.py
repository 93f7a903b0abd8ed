"""A live supervisor talks to systemd (notify socket) and serves Prometheus metrics."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path

from supervisor.db.connect import Connection
from tests.fixtures.commands import free_port
from tests.fixtures.processes import Supervisors, add_job, status, wait_for, write_config


def test_notify_protocol_and_metrics_of_a_live_supervisor(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(30)
    port = free_port()
    config = write_config(tmp_path, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    env = {"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000"}
    sup = supervisors.start(db_url, config, env=env)
    messages: list[str] = []

    def heard(prefix: str) -> bool:
        while not any(m.startswith(prefix) for m in messages):
            messages.extend(listener.recv(4096).decode().split("\n"))
        return True

    heard("READY=1")
    assert any(m.startswith("STATUS=running, 0/2 slots busy") for m in messages)
    heard("WATCHDOG=1")
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'jobsup_jobs_claimed_total{type="diag.noop"} 1.0' in text
    assert 'jobsup_jobs_completed_total{type="diag.noop"} 1.0' in text
    assert "jobsup_slots 2.0" in text
    sup.signal(signal.SIGTERM)
    heard("STOPPING=1")
    assert sup.wait() == 0
    listener.close()
