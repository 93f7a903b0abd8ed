"""`jobsup start | stop | status | install-systemd`: run and control the supervisor."""

from __future__ import annotations

import click

from supervisor import logs
from supervisor.cli import cli, config_option, load_config, not_yet_available
from supervisor.embedded import resolve_url
from supervisor.loop import RunOptions, Supervisor


@cli.command()
@config_option
@click.option("--concurrency", type=click.IntRange(min=1), help="Runners at once.")
@click.option("--interval", type=click.FloatRange(min=0.01), help="Seconds between polls.")
@click.option("--job-type", "job_types", multiple=True, help="Serve only this type (repeat).")
@click.option("--max-jobs", type=click.IntRange(min=1), help="Stop after N jobs have finished.")
@click.option("--until-empty", is_flag=True, help="Stop once no runnable job is left.")
@click.option(
    "--log-level",
    type=click.Choice(["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"], False),
    help="Override [logging] level.",
)
def start(
    concurrency: int | None,
    interval: float | None,
    job_types: tuple[str, ...],
    max_jobs: int | None,
    until_empty: bool,
    log_level: str | None,
) -> None:
    """Run the supervisor: claim jobs and run each in its own process.

    Exit status: 0 when all went as expected; 4 when a batch run (--max-jobs,
    --until-empty) saw a job end failed; 1 on an error; 2 on a configuration error.
    """
    overrides = {"supervisor.concurrency": concurrency, "supervisor.interval": interval}
    cfg = load_config(overrides)
    level = log_level.upper() if log_level else None
    logs.configure(cfg.logging, cfg.state_dir, level)
    options = RunOptions(
        max_jobs=max_jobs,
        until_empty=until_empty,
        job_types=job_types or None,
        log_level=level,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
    raise SystemExit(Supervisor(cfg, options, resolve_url(cfg)).run())


def _placeholder(name: str, doc: str) -> None:
    @cli.command(name, help=doc, context_settings={"ignore_unknown_options": True})
    @config_option
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        not_yet_available(name)


_placeholder("stop", "Stop the supervisor of this state directory (graceful drain).")
_placeholder("status", "Is a supervisor running here, and how is the queue.")
_placeholder("install-systemd", "Write the systemd unit for this installation.")
