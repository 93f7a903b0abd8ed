"""The command line's shape: every command group of the design, --version, --help."""

from __future__ import annotations

from supervisor import __version__
from tests.conftest import jobsup

COMMANDS = ["start", "stop", "status", "ps", "enqueue", "jobs", "stats", "db", "install-systemd"]


def test_help_lists_every_command() -> None:
    result = jobsup("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout, name


def test_subgroups() -> None:
    jobs = jobsup("jobs", "--help").stdout
    for name in ("list", "show", "retry", "cancel", "reclaim", "prune"):
        assert f"  {name}" in jobs
    db = jobsup("db", "--help").stdout
    for name in ("init", "migrate", "check", "url", "stop"):
        assert f"  {name}" in db


def test_version() -> None:
    result = jobsup("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout
