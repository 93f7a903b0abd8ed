"""`jobsup pause`, `jobsup resume` and `jobsup periodic list`: what may be claimed, and when
periodic jobs come."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from supervisor.cli import cli, config_option, database, json_option, load_config, print_json
from supervisor.cli.common import table
from supervisor.config import rules as config_rules
from supervisor.scheduling import pauses, periodic, periodic_store

PERIODIC_HEADERS = ("NAME", "WHEN", "TYPE", "LAST SLOT", "LAST JOB", "STATUS", "NEXT SLOT")


@cli.command()
@config_option
@click.argument("job_types", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Pause every job type.")
@click.option("--force", is_flag=True, help="Accept types this configuration lacks.")
def pause(job_types: tuple[str, ...], everything: bool, force: bool) -> None:
    """Stop every supervisor, on every host, from claiming jobs of JOB_TYPES (running jobs
    finish; new ones stay pending) until `jobsup resume`. Kept in the database."""
    cfg = load_config()
    types = _types(cfg, job_types, everything, force)
    with database(cfg) as conn:
        newly = pauses.pause(conn, types)
    for job_type in types:
        was = "" if job_type in newly else " (already paused)"
        click.echo(f"paused: {_label(job_type)}{was}")


@cli.command()
@config_option
@click.argument("job_types", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Resume everything paused.")
def resume(job_types: tuple[str, ...], everything: bool) -> None:
    """Let supervisors claim JOB_TYPES again (they are woken at once)."""
    cfg = load_config()
    types = _types(cfg, job_types, everything, force=True)
    with database(cfg) as conn:
        resumed = pauses.resume(conn, types, everything)
        still = [p.job_type for p in pauses.paused(conn)]
    for job_type in resumed:
        click.echo(f"resumed: {_label(job_type)}")
    for job_type in types:
        if job_type not in resumed and not everything:
            click.echo(f"{job_type}: was not paused", err=True)
    if pauses.ALL in still:
        click.echo("every job type is still paused (`jobsup resume --all` ends that)", err=True)


def _types(cfg: Any, job_types: tuple[str, ...], everything: bool, force: bool) -> list[str]:
    if everything == bool(job_types):
        raise click.UsageError("name one or more job types, or give --all")
    if everything:
        return [pauses.ALL]
    for name in job_types:
        if name not in cfg.job_types and not force:
            why = config_rules.unknown_job_type(name, cfg)
            raise click.BadParameter(f"{why} (--force if another host's does)",
                                     param_hint="'JOB_TYPES'")  # fmt: skip
    return list(job_types)


def _label(job_type: str) -> str:
    return "every job type" if job_type == pauses.ALL else job_type


@cli.group(name="periodic")
def periodic_group() -> None:
    """Periodic jobs ([periodic.<name>] in the configuration)."""


@periodic_group.command(name="list")
@config_option
@json_option
def periodic_list(as_json: bool) -> None:
    """Each schedule with its last slot (and that job's status now) and its next slot;
    schedules known to the database but not to this configuration are listed too."""
    cfg = load_config()
    with database(cfg) as conn:
        recorded = periodic_store.recorded(conn)
    now = datetime.now(UTC)
    rows = [_row(s, recorded.get(name), now) for name, s in cfg.periodic.items()]
    rows += [_row(None, r, now) for name, r in recorded.items() if name not in cfg.periodic]
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo("no periodic schedules ([periodic.<name>] in the configuration adds one)")
    else:
        click.echo(table(PERIODIC_HEADERS, [_text_row(r) for r in rows]))


def _row(
    schedule: periodic.Schedule | None, recorded: periodic_store.Recorded | None, now: datetime
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": schedule.name if schedule else recorded and recorded.name}
    if schedule is not None:
        row |= {"when": schedule.when, "job_type": schedule.job_type,
                "next_slot": schedule.after(now), "configured": True}  # fmt: skip
    else:
        row |= {"when": None, "job_type": None, "next_slot": None, "configured": False}
    last = asdict(recorded) if recorded else {}
    row |= {"last_slot": last.get("last_slot"), "last_job_id": last.get("last_job_id"),
            "last_status": last.get("last_status")}  # fmt: skip
    return row


def _text_row(row: dict[str, Any]) -> tuple[Any, ...]:
    def slot(moment: datetime | None) -> str | None:
        return periodic.iso(moment) if moment else None

    when = row["when"] or "(not in this configuration)"
    return (row["name"], when, row["job_type"], slot(row["last_slot"]), row["last_job_id"],
            row["last_status"], slot(row["next_slot"]))  # fmt: skip
