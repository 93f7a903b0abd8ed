"""Dockerfile and docker-compose.yml, checked without a Docker engine (none runs here):
what they copy exists, what they run is a mode of start_job_cron.sh, a stop can drain."""

from __future__ import annotations

import re
from pathlib import Path

from supervisor.config import SupervisorConfig

ROOT = Path(__file__).resolve().parent.parent


def test_every_copied_path_exists_and_the_command_is_the_docker_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE)
    assert copies
    for sources in copies:
        for source in sources.split():
            assert (ROOT / source).exists(), source
    command = '["./scripts/start_job_cron.sh", "docker", "--interval", "30"]'
    assert f"CMD {command}" in dockerfile
    assert f"command: {command}" in (ROOT / "docker-compose.yml").read_text()
    assert "\n    docker)\n" in (ROOT / "scripts" / "start_job_cron.sh").read_text()


def test_compose_gives_the_drain_time_to_finish() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    grace = re.search(r"stop_grace_period: (\d+)s", compose)
    assert grace is not None
    defaults = SupervisorConfig()
    assert int(grace.group(1)) > defaults.drain_timeout + defaults.kill_timeout
    assert "condition: service_healthy" in compose and "init: true" in compose
    assert "DATABASE_URL: postgresql://jobsup:" in compose
