"""`jobsup enqueue` and `jobsup jobs …`: put work in, look at it, fix it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from supervisor.cli import (
    cli,
    config_option,
    database,
    json_option,
    load_config,
    not_yet_available,
    print_json,
)
from supervisor.db import transaction
from supervisor.enqueue import enqueue as enqueue_job
from supervisor.errors import JobsupError


@cli.command()
@config_option
@click.option("--file", "file_path", type=click.Path(), help="The file to process.")
@click.option("--description", help="The business question the job answers.")
@click.option("--type", "job_type", default="analysis", show_default=True, help="Job type.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--run-at", help="Do not start before this ISO 8601 time.")
@click.option("--delay", type=click.FloatRange(min=0), help="Do not start for SECONDS.")
@click.option("--metadata", help="A JSON object handed to the handler.")
@json_option
def enqueue(
    file_path: str | None,
    description: str | None,
    job_type: str,
    priority: int,
    run_at: str | None,
    delay: float | None,
    metadata: str | None,
    as_json: bool,
) -> None:
    """Register a file and a job for it; print the job id."""
    if run_at and delay is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    path = _existing_file(file_path) if file_path else None
    cfg = load_config()
    with database(cfg) as conn, transaction(conn):
        job_id = enqueue_job(
            conn,
            str(path) if path else None,
            description=description,
            job_type=job_type,
            priority=priority,
            metadata=_json_object(metadata) if metadata else None,
            run_at=_iso_time(run_at) if run_at else None,
            delay=delay or 0.0,
            original_name=path.name if path else None,
        )
    if as_json:
        print_json({"id": job_id, "type": job_type, "file": str(path) if path else None})
    else:
        click.echo(job_id)


def _existing_file(name: str) -> Path:
    path = Path(name).expanduser().absolute()
    if not path.is_file():
        raise JobsupError(f"--file {name}: no such file")
    return path


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise JobsupError(f"--metadata: invalid JSON: {e}") from None
    if not isinstance(value, dict):
        raise JobsupError("--metadata: expected a JSON object, e.g. '{\"seconds\": 5}'")
    return value


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise JobsupError(f"--run-at {text}: expected an ISO 8601 time") from None


@cli.group("jobs")
def jobs_group() -> None:
    """List, show, retry, cancel, reclaim and prune jobs."""


def _placeholder(name: str) -> None:
    @jobs_group.command(name, context_settings={"ignore_unknown_options": True})
    @config_option
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        not_yet_available(f"jobs {name}")


for _name in ("list", "show", "retry", "cancel", "reclaim", "prune"):
    _placeholder(_name)
