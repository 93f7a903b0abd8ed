"""`jobsup healthcheck` and GET /healthz: alive, heartbeating, its database reachable."""

from __future__ import annotations

import json
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

from supervisor import health
from supervisor.config import SupervisorConfig
from tests.fixtures.commands import free_port, jobsup
from tests.fixtures.processes import Supervisors, wait_for, write_config


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_of_a_supervisor_whose_database_goes_away_and_comes_back(
    tmp_path: Path, supervisors: Supervisors
) -> None:
    # This test stops the database, so it uses an embedded PostgreSQL of its own.
    env = {"JOBSUP_HOME": str(tmp_path / "home")}
    nobody = jobsup("healthcheck", env=env)
    assert (nobody.returncode, nobody.stdout.strip()) == (
        1, f"unhealthy: no supervisor runs from {tmp_path / 'home'}",
    )  # fmt: skip
    assert jobsup("db", "init", env=env).returncode == 0
    port = free_port()
    config = write_config(tmp_path, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    try:
        sup = supervisors.start(None, config, env=env)
        check = ("healthcheck", "-c", str(config))
        healthy = wait_for(lambda: (r := jobsup(*check, env=env)).returncode == 0 and r.stdout)
        assert healthy.startswith(f"healthy: supervisor pid {sup.pid} running, heartbeat ")
        assert healthy.strip().endswith("s ago, database reachable")
        code, body = healthz(port)
        assert code == 200 and body.startswith("ok: running, heartbeat "), body
        assert jobsup("db", "stop", "--force", env=env).returncode == 0
        code, body = wait_for(lambda: (r := healthz(port))[0] == 503 and r)
        assert "last heartbeat" in body and "(limit 1.5 s): the database is unreachable" in body
        down = jobsup(*check, env=env)
        assert down.returncode == 1
        assert "embedded PostgreSQL" in down.stdout and "is not running" in down.stdout
        assert jobsup("db", "start", env=env).returncode == 0  # starts it again
        wait_for(lambda: healthz(port)[0] == 200, timeout=60)
        sup.signal(signal.SIGSTOP)  # a stuck loop: its heartbeat goes stale
        stuck = wait_for(lambda: (r := jobsup(*check, "--json", env=env)).returncode == 1 and r)
        verdict = json.loads(stuck.stdout)
        assert verdict["ok"] is False and verdict["pid"] == sup.pid
        assert "its database connection is down or its loop is stuck" in verdict["reason"]
        sup.signal(signal.SIGCONT)
        wait_for(lambda: jobsup(*check, env=env).returncode == 0)
        sup.signal(signal.SIGTERM)
        assert sup.wait() == 0
    finally:
        jobsup("db", "stop", "--force", env=env)


def test_unhealthy_after_three_missed_heartbeats_or_the_lease_timeout() -> None:
    assert health.overdue(SupervisorConfig()) == 15.0  # 3 x 5 s
    assert health.overdue(SupervisorConfig(heartbeat_interval=30, stale_after=60)) == 45.0
    assert not health.of_heartbeats(None, 10.0, 15.0, "running").ok
    assert health.of_heartbeats(0.0, 14.0, 15.0, "draining").ok
    late = health.of_heartbeats(0.0, 16.0, 15.0, "running")
    assert not late.ok and late.reason.startswith("running: last heartbeat 16.0 s ago")


def test_the_dockerfile_checks_health_with_jobsup_healthcheck() -> None:
    dockerfile = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
    assert re.search(r'^HEALTHCHECK .*\\\n +CMD \["jobsup", "healthcheck"\]$', dockerfile, re.M)
    assert "JOBSUP_CONFIG=/app/conf/prod.toml" in dockerfile  # the supervisor's own config
