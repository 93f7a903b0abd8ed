"""`jobsup db …`: create, migrate and check the schema; the embedded server's URL and stop."""

from __future__ import annotations

import click

from supervisor.cli import cli, config_option, database, json_option, load_config, print_json
from supervisor.db import schema
from supervisor.db.connect import mask_url
from supervisor.errors import JobsupError
from supervisor.ops import control, embedded


@cli.group("db")
def db_group() -> None:
    """Database schema and the embedded PostgreSQL."""


@db_group.command("init")
@config_option
def init() -> None:
    """Create jobsup's tables (or bring them up to date); without a database URL, in the
    embedded PostgreSQL of the state directory (created and started if need be)."""
    _migrate("created", start=True)


@db_group.command("migrate")
@config_option
def migrate() -> None:
    """Upgrade an existing (seed-built) database; keeps every row. Safe to repeat."""
    _migrate("applied")


def _migrate(verb: str, start: bool = False) -> None:
    cfg = load_config()
    with database(cfg, start) as conn:
        applied = schema.migrate(conn)
    if not applied:
        click.echo("database schema is up to date")
    for m in applied:
        click.echo(f"{verb} {m.version:04d}_{m.name}")


@db_group.command("check")
@config_option
@json_option
def check(as_json: bool) -> None:
    """Exit 1, naming what is missing, unless the schema is up to date."""
    cfg = load_config()
    with database(cfg) as conn:
        problems = schema.check(conn)
    if as_json:
        print_json({"up_to_date": not problems, "problems": problems})
    elif problems:
        for problem in problems:
            click.echo(problem)
        click.echo("run `jobsup db migrate` to fix")
    else:
        click.echo("database schema is up to date")
    if problems:
        raise SystemExit(1)


@db_group.command("url")
@config_option
@click.option("--show-password", is_flag=True, help="Print the URL unmasked.")
def url(show_password: bool) -> None:
    """Print the database URL (the embedded server's while it runs; never starts it)."""
    cfg = load_config()
    resolved = embedded.in_use_url(cfg)
    click.echo(resolved if show_password else mask_url(resolved))


@db_group.command("start")
@config_option
def start() -> None:
    """Start the embedded PostgreSQL of this state directory (created if need be)."""
    cfg = load_config()
    if cfg.database.url:
        raise JobsupError("a database URL is configured: there is no embedded server to start")
    if embedded.running_url(cfg.state_dir):
        click.echo(f"the embedded PostgreSQL in {embedded.pgdata(cfg.state_dir)} is running")
        return
    created = not embedded.exists(cfg.state_dir)
    embedded.ensure_running(cfg.state_dir)
    verb = "created and started" if created else "started"
    click.echo(f"{verb} the embedded PostgreSQL in {embedded.pgdata(cfg.state_dir)}")


@db_group.command("stop")
@config_option
@click.option("--force", is_flag=True, help="Stop it even under a live supervisor.")
def stop(force: bool) -> None:
    """Stop the embedded PostgreSQL of this state directory (refused while a supervisor
    uses it, unless --force)."""
    cfg = load_config()
    if cfg.database.url:
        raise JobsupError("a database URL is configured: there is no embedded server to stop")
    users = [] if force else control.database_users(cfg)
    if users:
        raise JobsupError(
            f"the embedded PostgreSQL in {embedded.pgdata(cfg.state_dir)} serves a live "
            f"supervisor ({', '.join(users)}): `jobsup stop` it first, or `jobsup db stop --force`"
        )
    if embedded.stop(cfg.state_dir):
        click.echo(f"stopped the embedded PostgreSQL in {embedded.pgdata(cfg.state_dir)}")
    else:
        click.echo("the embedded PostgreSQL is not running")
