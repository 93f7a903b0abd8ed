"""`jobsup web`: the dashboard."""

from __future__ import annotations

import click

from supervisor.cli import cli, config_option, load_config
from supervisor.web import DEFAULT_LISTEN


@cli.command()
@config_option
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help=f"Address to serve on [default: [web] listen, else {DEFAULT_LISTEN}].",
)
@click.option(
    "--log-level",
    type=click.Choice(["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"], False),
    help="Override [logging] level.",
)
def web(listen: str | None, log_level: str | None) -> None:
    """The dashboard: overview, supervisors, jobs, each job with its insights.

    Retry, cancel and reclaim need the operator token, read from the environment variable
    named by [web] token_env (default JOBSUP_WEB_TOKEN); without it the dashboard is
    read-only, and an address other than loopback is refused (exit status 2).
    """
    cfg = load_config()
    from supervisor.web import server  # Starlette and uvicorn: for this command only

    server.serve(cfg, listen or cfg.web.listen or DEFAULT_LISTEN,
                 log_level.upper() if log_level else None)  # fmt: skip
