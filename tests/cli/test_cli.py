"""The command line's shape: every command group of the design, --version, --help."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click

from supervisor import __version__
from supervisor.cli import cli
from supervisor.db.connect import Connection
from tests.fixtures.commands import JOBSUP, jobsup
from tests.fixtures.processes import Supervisors, rows, scalar, write_config

COMMANDS = [
    "start", "stop", "status", "healthcheck", "ps", "enqueue", "jobs", "stats", "db",
    "install-systemd",
]  # fmt: skip


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


def every_command(group: click.Group, path: str = "jobsup") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from every_command(command, f"{path} {name}")


def test_every_option_says_what_it_does_and_its_default() -> None:
    for path, command in every_command(cli):
        ctx = click.Context(command, info_name=path, show_default=True)
        for param in command.params:
            if not isinstance(param, click.Option) or param.name == "help":
                continue
            record = param.get_help_record(ctx)
            assert param.help and record is not None, f"{path} {param.opts[0]}: no help"
            default = param.get_default(ctx, call=False)
            if isinstance(default, str | int | float) and not isinstance(default, bool):
                assert "[default: " in record[1], f"{path} {param.opts[0]}: default not shown"


# The seed's monitoring query, limited to the test's own database (the server may be shared).
SEED_COUNT = (
    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name LIKE '%%job_cron%%' "
    "AND datname = current_database()"
)


def test_cli_connections_are_named_for_their_command_and_not_counted_as_supervisors(
    db_url: str, conn: Connection
) -> None:
    watching = subprocess.Popen(
        [JOBSUP, "ps", "--watch", "0.2", "--json"],
        env={**os.environ, "DATABASE_URL": db_url},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watching.stdout is not None
        watching.stdout.readline()  # connected, and printed once
        names = "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        assert "jobsup-cli ps" in [name for (name,) in rows(conn, names)]
        assert scalar(conn, SEED_COUNT) == 0
    finally:
        watching.send_signal(signal.SIGINT)
        watching.wait(10)


def test_the_seed_monitoring_query_counts_a_running_supervisor(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path))
    sup.wait_registered(conn)
    assert scalar(conn, SEED_COUNT) == 1
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0
