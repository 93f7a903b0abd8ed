"""The `jobsup` command line: one click group, its commands in the modules beside this one."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import click

from supervisor import __version__, config
from supervisor.db import schema
from supervisor.db.connect import Connection, close_quietly
from supervisor.errors import JobsupError
from supervisor.ops import control
from supervisor.ops.embedded import connect_config

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_KEY = "jobsup.config"


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[CONFIG_KEY] = value


def config_option(f: F) -> F:
    """`-c/--config FILE`, accepted by every command (and by `jobsup` itself)."""
    option = click.option(
        "-c",
        "--config",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_remember_config,
        help="TOML config file (default: $JOBSUP_CONFIG, else built-in defaults).",
    )
    return option(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


def load_config(overrides: config.Overrides | None = None) -> config.Config:
    """The configuration for this command: -c / $JOBSUP_CONFIG, environment, then flags."""
    path = click.get_current_context().meta.get(CONFIG_KEY)
    return config.load(path, {k: v for k, v in (overrides or {}).items() if v is not None})


@contextmanager
def database(cfg: config.Config, start: bool = False) -> Iterator[Connection]:
    """A connection to the configured database for the length of one command: else the
    embedded PostgreSQL while it runs (`start`: created and started if need be, for `db init`
    alone; otherwise one line naming what to do, `embedded.in_use_url`).

    A command that meets a database without jobsup's tables (or with the original job-cron's
    only) ends in one line naming the fix, `jobsup db init` or `jobsup db migrate`, as
    `start` and `web` do, whichever statement found a table or column missing."""
    conn = connect_config(cfg, application_name=application_name(), start=start)
    try:
        yield conn
    except schema.MISSING as e:
        schema.explain(conn, e)
        raise
    finally:
        close_quietly(conn)


def application_name() -> str:
    """`jobsup-cli jobs list`: what pg_stat_activity shows of this command's connections
    (never matched by the seed's `LIKE '%job_cron%'`, which counts supervisors)."""
    ctx = click.get_current_context(silent=True)
    command = ctx.command_path.partition(" ")[2] if ctx else ""
    return f"{control.CLI} {command}".rstrip()


def not_yet_available(name: str) -> None:
    raise JobsupError(f"`jobsup {name}` is not yet available in jobsup {__version__}")


def print_json(data: Any, indent: int | None = 2) -> None:
    """`data` as JSON; times in ISO 8601, with their offset when they have one."""
    click.echo(json.dumps(data, indent=indent, default=_json_value))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="jobsup")
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False),
    envvar="JOBSUP_CONFIG",
    expose_value=False,
    callback=_remember_config,
    help="TOML config file (also $JOBSUP_CONFIG).",
)
def cli() -> None:
    """jobsup: a PostgreSQL-backed job supervisor, one process per job under memory and time
    limits. DATABASE_URL (or POSTGRES_URL) names the database; without one, jobsup runs an
    embedded PostgreSQL in its state directory (./.jobsup, or $JOBSUP_HOME), which only
    `jobsup start`, `jobsup db init` and `jobsup db start` create or start."""


def main() -> None:
    """Entry point of the `jobsup` console script: errors a person can fix print one line,
    a wrong flag or argument included (exit 2, as click's own would)."""
    try:
        code = cli.main(prog_name="jobsup", standalone_mode=False)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx else "jobsup"
        click.echo(f"{where}: {e.format_message()} (`{where} --help` lists the options)", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except JobsupError as e:
        click.echo(f"jobsup: {e}", err=True)
        sys.exit(e.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


# The commands register themselves on `cli` when their modules are imported.
from supervisor.cli import admin, db, inspect, run, runonce, schedule, web  # noqa: E402, F401
