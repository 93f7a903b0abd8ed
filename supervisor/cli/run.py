"""`jobsup start | stop | status | install-systemd`: run and control the supervisor."""

from __future__ import annotations

import click

from supervisor.cli import cli, config_option, not_yet_available


def _placeholder(name: str, doc: str) -> None:
    @cli.command(name, help=doc, context_settings={"ignore_unknown_options": True})
    @config_option
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        not_yet_available(name)


_placeholder("start", "Run the supervisor: claim jobs and run each in its own process.")
_placeholder("stop", "Stop the supervisor of this state directory (graceful drain).")
_placeholder("status", "Is a supervisor running here, and how is the queue.")
_placeholder("install-systemd", "Write the systemd unit for this installation.")
