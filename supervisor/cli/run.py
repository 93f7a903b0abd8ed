"""`jobsup start | stop | status | healthcheck | install-systemd`: run and control the
supervisor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from loguru import logger

from runner.parent import ForkServer
from supervisor import config as configuration
from supervisor import logs
from supervisor.cli import (
    CONFIG_KEY,
    application_name,
    cli,
    config_option,
    json_option,
    load_config,
    print_json,
)
from supervisor.cli.common import COUNT, MOST_SECONDS
from supervisor.config import Config
from supervisor.config import rules as config_rules
from supervisor.db.connect import mask_url
from supervisor.durations import human
from supervisor.errors import JobsupError
from supervisor.loop import RunOptions, Supervisor
from supervisor.ops import control, daemon, pidfile, systemd
from supervisor.ops.embedded import start_url
from supervisor.ops.healthcheck import check as check_health
from supervisor.runners import handler_modules, preflight

EXIT_NOT_RUNNING = 3  # like `systemctl status`
T = TypeVar("T")


@cli.command()
@config_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10000),
    help="Runners at once.  [default: [supervisor] concurrency, else the CPU count]",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.01, MOST_SECONDS),
    help="Seconds between polls.  [default: [supervisor] interval, 30]",
)
@click.option(
    "--job-type",
    "job_types",
    multiple=True,
    help="Serve only this type (repeat).  [default: [supervisor] job_types, else every "
    "configured type]",
)
@click.option(
    "--max-jobs",
    type=COUNT,
    help="Stop after N attempts have ended (completed, failed, retried; not one reset, "
    "reclaimed or cancelled).",
)
@click.option("--until-empty", is_flag=True, help="Stop once no runnable job is left.")
@click.option(
    "--log-level",
    type=click.Choice(["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"], False),
    help="Log from this level on.  [default: [logging] level, INFO]",
)
@click.option("--daemon", is_flag=True, help="Detach; output to <state_dir>/jobsup.log.")
def start(
    concurrency: int | None,
    interval: float | None,
    job_types: tuple[str, ...],
    max_jobs: int | None,
    until_empty: bool,
    log_level: str | None,
    daemon: bool,
) -> None:
    """Run the supervisor: claim jobs and run each in its own process.

    Exit status: 0 when all went as expected; 4 when a batch run (--max-jobs,
    --until-empty) saw a job end failed; 1 on an error; 2 on a configuration error.
    """
    overrides = {"supervisor.concurrency": concurrency, "supervisor.interval": interval}
    cfg = load_config(overrides)
    for name in job_types:
        if name not in cfg.job_types:
            why = config_rules.unknown_job_type(name, cfg)
            raise click.BadParameter(why, param_hint="'--job-type'")
    handler_modules.check(cfg)  # before detaching, while a terminal listens (again in the loop)
    level = log_level.upper() if log_level else None
    options = RunOptions(
        max_jobs=max_jobs,
        until_empty=until_empty,
        job_types=job_types,
        log_level=level,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )

    def prepare() -> ForkServer | None:
        """After detaching, before the pidfile: the trial runner, through the fork server the
        supervisor then keeps."""
        logs.configure(cfg.logging, cfg.state_dir, level)
        return preflight.check(cfg, cfg.served(options.job_types))

    with _pidfile(cfg, daemon, prepare) as forkserver:
        url = start_url(cfg)
        pidfile.note_database(pidfile.path(cfg.state_dir), mask_url(url))  # for `jobsup stop`
        supervisor = Supervisor(cfg, options, url, forkserver)
        logs.set_supervisor(supervisor.me.id)
        raise SystemExit(supervisor.run())


@contextmanager
def _pidfile(cfg: Config, detach: bool, prepare: Callable[[], T]) -> Iterator[T]:
    """Hold `<state_dir>/jobsup.pid` while the supervisor runs (detached first if asked, then
    `prepare()` before the pidfile is taken: what it returns is the context's value).

    A daemon is reachable only through its pidfile, so a second one is refused. A foreground
    supervisor beside a running one (several workers on one state directory) runs without
    the pidfile: `jobsup stop` and `jobsup status` speak of the first.
    """
    path = pidfile.path(cfg.state_dir)
    holder = pidfile.running(path)
    if holder is not None and detach:  # refuse before detaching, while a terminal listens
        raise pidfile.AlreadyRunning(path, holder)
    handshake = daemon.detach(cfg.state_dir / daemon.LOG_NAME) if detach else None
    try:
        prepared = prepare()
        pidfile.acquire(path)
    except pidfile.AlreadyRunning as e:  # another start got there first
        if handshake is None:
            logger.warning("{}: this supervisor runs without a pidfile", e)
            yield prepared
            return
        handshake.failed(str(e))
        raise
    except JobsupError as e:
        if handshake:
            handshake.failed(str(e))
        raise
    if handshake:
        handshake.started()
    try:
        yield prepared
    finally:
        pidfile.release(path)


@cli.command()
@config_option
@click.option(
    "--timeout",
    type=click.FloatRange(0, MOST_SECONDS),
    help="Seconds to wait for the exit.  [default: drain_timeout + kill_timeout + 15]",
)
@click.option("--now", is_flag=True, help="SIGQUIT: kill the runners and stop at once.")
@json_option
def stop(timeout: float | None, now: bool, as_json: bool) -> None:
    """Stop the supervisor of this state directory (SIGTERM: a graceful drain) and wait.

    The default wait is drain_timeout + kill_timeout + 15 s (with --now, kill_timeout + 15 s).
    Exit status 1 when it is still running after that.
    """
    cfg = load_config()
    stopped = control.stop(cfg, now, timeout, application_name())
    if as_json:
        print_json(stopped.as_dict() if stopped else None)
    elif stopped is None:
        click.echo(f"no supervisor runs from {cfg.state_dir}")
    elif stopped.uncounted:
        click.echo(
            f"stopped supervisor pid {stopped.pid} in {human(stopped.seconds)}; its jobs were "
            f"not counted: {stopped.uncounted}"
        )
    else:
        report = stopped.as_dict()
        click.echo(
            f"stopped supervisor pid {stopped.pid} in {human(stopped.seconds)}: "
            f"{report['finished']} jobs finished while it drained, "
            f"{report['returned']} returned to pending"
        )


@cli.command()
@config_option
@json_option
def status(as_json: bool) -> None:
    """Is a supervisor running from this state directory, and how is the queue.

    Exit status 0 when one runs, 3 when none does (like `systemctl status`).
    """
    found = control.status(load_config(), application_name())
    if as_json:
        print_json(found.as_dict())
    else:
        click.echo(_status_text(found))
    if not found.running:
        raise SystemExit(EXIT_NOT_RUNNING)


@cli.command()
@config_option
@json_option
def healthcheck(as_json: bool) -> None:
    """Is this state directory's supervisor alive, heartbeating, its database reachable.

    For Docker HEALTHCHECK and Kubernetes exec probes: exit status 0 when it is, 1 when not,
    with the reason in one line. Unhealthy after three missed heartbeats (or lease_timeout).
    A line `warning: …` names each job type with pending jobs that no live supervisor
    serves (not a verdict on this supervisor: the exit status stays 0).
    """
    found = check_health(load_config(), application_name())
    if as_json:
        print_json(found.as_dict())
    else:
        click.echo(f"{'healthy' if found.ok else 'unhealthy'}: {found.reason}")
        for warning in found.warnings():
            click.echo(f"warning: {warning}")
    if not found.ok:
        raise SystemExit(1)


def _status_text(found: control.Status) -> str:
    if found.pid is None:
        stale = f" (removed a stale pidfile of pid {found.stale_pid})" if found.stale_pid else ""
        lines = [f"supervisor: not running{stale}"]
    else:
        w = found.worker
        state = w["state"] if w else "running"  # running or draining: said once
        slots = f", {w['running']}/{w['slots']} slots busy" if w else ""
        lines = [f"supervisor: {state}, pid {found.pid}{slots} ({found.pidfile})"]
    q = found.queue
    if q is None:
        lines.append(f"queue: unknown: {found.database}")
        return "\n".join(lines)
    oldest = f"; oldest runnable waiting {human(q['oldest_pending'])}" if q["runnable"] else ""
    blocked = f", {q['blocked']} waiting for parents" if q.get("blocked") else ""
    lines += [
        f"queue: {q['runnable']} pending (+{q['scheduled']} scheduled later{blocked}), "
        f"{q['processing']} running{oldest}",
        f"last hour: {q['completed_last_hour']} completed, {q['failed_last_hour']} failed",
    ]
    return "\n".join(lines)


@cli.command("install-systemd")
@config_option
@click.option("--user", "user_mode", is_flag=True, help="A user unit (systemctl --user).")
@click.option("--run-as", default="jobsup", help="User= of a system unit.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here ('-': stdout).")
@click.argument("start_args", nargs=-1, type=click.UNPROCESSED)
def install_systemd(
    user_mode: bool, run_as: str, output: str | None, start_args: tuple[str, ...]
) -> None:
    """Write the systemd unit for this installation (START_ARGS go to `jobsup start`).

    The unit runs this installation's `jobsup` with -c (default /etc/jobsup/prod.toml).
    """
    given = click.get_current_context().meta.get(CONFIG_KEY)
    config_path = Path(given or systemd.SYSTEM_CONFIG).expanduser().absolute()
    # The unit's timeouts and memory bound come from the config it runs (defaults until the
    # system config is written).
    cfg = configuration.load(config_path if given or config_path.exists() else None)
    text = systemd.render(
        systemd.command(),
        cfg,
        config_path=str(config_path),
        user_mode=user_mode,
        run_as=run_as,
        start_args=start_args,
    )
    warnings = systemd.check(cfg, user_mode, command=systemd.command(),
                             config_path=str(config_path), run_as=run_as)  # fmt: skip
    if output == "-":
        click.echo(text, nl=False)
    else:
        path = Path(output) if output else systemd.unit_path(user_mode)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as e:
            why = f"{e.strerror} (run as root, or use --user)"
            raise JobsupError(f"cannot write {path}: {why}") from None
        ctl = "systemctl --user" if user_mode else "systemctl"
        click.echo(f"wrote {path}\nnext: {ctl} daemon-reload && {ctl} enable --now jobsup")
    for warning in warnings:  # after the unit: a refusal to write it comes first
        click.echo(f"jobsup: warning: {warning}", err=True)
