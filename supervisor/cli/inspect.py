"""`jobsup ps` and `jobsup stats`: what runs now, and how the queue has been doing."""

from __future__ import annotations

import click

from supervisor.cli import cli, config_option, not_yet_available


@cli.command(context_settings={"ignore_unknown_options": True})
@config_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def ps(args: tuple[str, ...]) -> None:
    """Every supervisor and its runners, on every host."""
    not_yet_available("ps")


@cli.command(context_settings={"ignore_unknown_options": True})
@config_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def stats(args: tuple[str, ...]) -> None:
    """Queue counts, throughput, durations and failures."""
    not_yet_available("stats")
