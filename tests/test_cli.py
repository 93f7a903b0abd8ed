"""The command line's shape: every command group of the design, --version, --help."""

from __future__ import annotations

from collections.abc import Iterator

import click

from supervisor import __version__
from supervisor.cli import cli
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
