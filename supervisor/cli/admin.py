"""`jobsup enqueue` and `jobsup jobs …`: put work in, look at it, fix it."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from supervisor.cli import (
    batchfile,
    cli,
    config_option,
    database,
    jobview,
    json_option,
    load_config,
    print_json,
)
from supervisor.cli.common import COUNT, DURATION, EXISTING_FILE, INT4, JOB_ID, MOST_SECONDS
from supervisor.cli.results import TIMEOUT, wait_and_report, wait_command
from supervisor.client.batch import enqueue_batch
from supervisor.client.edges import POLICIES
from supervisor.client.enqueue import ANALYSIS, enqueue_or_find
from supervisor.config import rules as config_rules
from supervisor.db.connect import transaction
from supervisor.durations import human
from supervisor.errors import JobsupError
from supervisor.ops import job_admin, pipeline

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


@cli.command()
@config_option
@click.option(
    "--file", "file_paths", type=EXISTING_FILE, multiple=True,
    help="The file to process (again for a job over several files, in order).",
)  # fmt: skip
@click.option(
    "--file-id", "file_ids", type=click.UUID, multiple=True,
    help="A row of `files` the application has (none is added; again for several).",
)  # fmt: skip
@click.option("--description", help="The business question the job answers.")
@click.option("--type", "job_type", default="analysis", help="A job type of the configuration.")
@click.option(
    "--force", is_flag=True, help="Accept a --type this configuration lacks (other hosts serve)."
)
@click.option("--priority", type=INT4, default=0, help="Higher runs first.")
@click.option("--run-at", help="Do not start before this ISO 8601 time (no offset: local time).")
@click.option(
    "--delay", type=click.FloatRange(min=0, max=MOST_SECONDS), help="Do not start for SECONDS."
)
@click.option("--metadata", help="A JSON object handed to the handler.")
@click.option(
    "--unique-key",
    help="No second job while one with this key is unfinished: print that one's id instead.",
)
@click.option(
    "--fair-key",
    help="Fair share: jobs of one type and priority take turns across keys (a customer id).",
)
@click.option(
    "--after", "after", type=JOB_ID, multiple=True,
    help="Run only once this job has ended (again for several parents).",
)  # fmt: skip
@click.option(
    "--on-parent-failure", type=click.Choice(POLICIES), default="fail", show_default=True,
    help="When a parent fails or is cancelled: fail this job without running it, or run it.",
)  # fmt: skip
@click.option(
    "--batch", "batch_file", type=EXISTING_FILE,
    help="Enqueue a batch: one job a line of this JSON-lines file (file_path, job_type, …).",
)  # fmt: skip
@click.option("--then-type", help="With --batch: a job of this type to run once all have ended.")
@click.option("--then-metadata", help="With --then-type: its metadata (a JSON object).")
@click.option("--wait", "wait_done", is_flag=True, help="Wait until it finishes (see `jobs wait`).")
@TIMEOUT
@json_option
def enqueue(
    file_paths: tuple[Path, ...],
    file_ids: tuple[UUID, ...],
    description: str | None,
    job_type: str,
    force: bool,
    priority: int,
    run_at: str | None,
    delay: float | None,
    metadata: str | None,
    unique_key: str | None,
    fair_key: str | None,
    after: tuple[str, ...],
    on_parent_failure: str,
    batch_file: Path | None,
    then_type: str | None,
    then_metadata: str | None,
    wait_done: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Register a file and a job for it; print the job id (with --unique-key, the id of the
    unfinished job holding the key, if one does: nothing new is registered then).

    With --wait, then wait until the job has finished and print its final status and
    insights count, as `jobs wait` does (exit status 0 completed, 4 failed or cancelled, 3
    not finished within --timeout).

    With --after ID the job waits, pending, until that job has ended. With --batch FILE,
    every line of FILE is a job (a JSON object as `enqueue_many` takes it) and the batch's id
    is printed; --then-type adds a job that runs once they have all ended, however each
    ended, and gets them as `Job.parents` (--description and --then-metadata are its own).
    """
    if batch_file is not None:
        _enqueue_batch(batch_file, then_type, then_metadata, description, force, wait_done,
                       timeout, as_json)  # fmt: skip
        return
    if then_type or then_metadata:
        raise click.UsageError("--then-type and --then-metadata are for --batch")
    if run_at and delay is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    if file_paths and file_ids:
        raise click.UsageError("give --file or --file-id, not both")
    if timeout is not None and not wait_done:
        raise click.UsageError("--timeout is for --wait")
    when = _iso_time(run_at) if run_at else None
    handed = _json_object(metadata) if metadata else None
    cfg = load_config()
    if job_type not in cfg.job_types and not force:
        why = config_rules.unknown_job_type(job_type, cfg)
        raise click.BadParameter(f"{why} (--force if another host's does)", param_hint="'--type'")
    if job_type == ANALYSIS and not file_paths and not file_ids:
        raise click.UsageError(
            f"an {ANALYSIS} job reads its file: give --file PATH (or --file-id ID)"
        )
    with database(cfg) as conn:
        with transaction(conn):
            found = enqueue_or_find(
                conn,
                after=job_admin.resolve(conn, after),
                on_parent_failure=on_parent_failure,
                file_path=[str(path) for path in file_paths],
                file_id=[str(i) for i in file_ids],
                description=description,
                job_type=job_type,
                priority=priority,
                metadata=handed,
                run_at=when,
                delay=delay or 0.0,
                original_name=[path.name for path in file_paths],
                unique_key=unique_key,
                fair_key=fair_key or None,
            )
            job_id = found.job_id
            enqueued = job_admin.enqueued(conn, job_id)
        if not found.created:
            click.echo(f"unique key {unique_key!r}: job {job_id} holds it (not yet finished); "
                       "no new job", err=True)  # fmt: skip
        enqueued["created"] = found.created
        enqueued["file"] = str(file_paths[0]) if file_paths else None
        if len(file_paths) > 1:
            enqueued["files"] = [str(path) for path in file_paths]
        if as_json and not wait_done:
            print_json(enqueued)
        elif not as_json:
            click.echo(job_id)
        if not wait_done:
            return
        code = wait_and_report(conn, [job_id], timeout, as_json, enqueued)
    raise SystemExit(code)


def _enqueue_batch(
    path: Path, then_type: str | None, then_metadata: str | None, description: str | None,
    force: bool, wait_done: bool, timeout: float | None, as_json: bool,
) -> None:  # fmt: skip
    """`enqueue --batch`: print the batch id (--json: with its job ids), and with --wait wait
    for all of its jobs and its then-job."""
    jobs = batchfile.read(path)
    cfg = load_config()
    then = None
    if then_type:
        if then_type not in cfg.job_types and not force:
            why = config_rules.unknown_job_type(then_type, cfg)
            raise click.BadParameter(f"{why} (--force if another host's does)",
                                     param_hint="'--then-type'")  # fmt: skip
        then = {"job_type": then_type, "description": description,
                "metadata": _json_object(then_metadata, "--then-metadata") if then_metadata
                else None}  # fmt: skip
    with database(cfg) as conn:
        try:
            with transaction(conn):
                made = enqueue_batch(conn, jobs, then)
        except (TypeError, ValueError) as e:
            raise JobsupError(batchfile.where(path, e)) from None
        if as_json and not wait_done:
            print_json(asdict(made))
        elif not as_json:
            click.echo(made.id)
        if not wait_done:
            return
        ids = made.job_ids + ([made.then_id] if made.then_id else [])
        code = wait_and_report(conn, ids, timeout, as_json)
    raise SystemExit(code)


def _json_object(text: str, option: str = "--metadata") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"invalid JSON: {e}", param_hint=f"'{option}'") from None
    if not isinstance(value, dict):
        raise click.BadParameter(
            "expected a JSON object, e.g. '{\"seconds\": 5}'", param_hint=f"'{option}'"
        )
    return value


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text}: expected an ISO 8601 time, e.g. 2030-01-02T03:04:05+00:00",
            param_hint="'--run-at'",
        ) from None


@cli.group("jobs")
def jobs_group() -> None:
    """List, show, retry, cancel, reclaim and prune jobs."""


jobs_group.add_command(wait_command)


@jobs_group.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this status.")
@click.option("--type", "job_type", help="Only jobs of this type.")
@click.option("--since", type=DURATION, help="Only jobs created in the last DURATION (2h, 7d).")
@click.option("--limit", type=COUNT, default=50, help="Show at most this many jobs.")
@click.option("--text", help="Only jobs whose description holds TEXT (any case), as the "
              "dashboard's search.")  # fmt: skip
@click.option("--blocked", is_flag=True, help="Only pending jobs waiting for their parents.")
@json_option
def list_command(
    status: str | None, job_type: str | None, since: float | None, limit: int,
    text: str | None, blocked: bool, as_json: bool,
) -> None:  # fmt: skip
    """The newest jobs, newest first."""
    filters = job_admin.Filters(status, job_type, since, limit, text or None, blocked=blocked)
    with database(load_config()) as conn:
        found = job_admin.list_jobs(conn, filters)
    if as_json:
        print_json(found)
    elif not found:
        click.echo("no jobs")
    else:
        click.echo(jobview.job_table(found))


@jobs_group.command("show")
@config_option
@click.argument("job_id", type=JOB_ID)
@click.option(
    "--details",
    is_flag=True,
    help="The description in full, each insight's details, each step's result.",
)
@json_option
def show_command(job_id: str, details: bool, as_json: bool) -> None:
    """Every field of a job, its attempts, its last error and its insights.

    JOB_ID is the id `jobs list` shows, or its first 8 characters or more.
    """
    with database(load_config()) as conn:
        (job_id,) = job_admin.resolve(conn, [job_id])
        found = job_admin.show_job(conn, job_id)
        if found is None:
            raise JobsupError(f"no job {job_id}: `jobsup jobs list` shows the ids")
        insights = job_admin.job_insights(conn, job_id)
        around = pipeline.of_job(conn, job_id, found.get("batch_id"))
    if as_json:
        print_json(found | {"insights": insights} | around)
    else:
        click.echo(jobview.show(found, insights, details, around))


@jobs_group.command("retry")
@config_option
@click.argument("job_ids", nargs=-1, type=JOB_ID)
@click.option("--all-failed", is_flag=True, help="Every failed job.")
@click.option(
    "--fresh", is_flag=True, help="Forget the durable steps done: the next run does them again."
)
@json_option
def retry_command(job_ids: tuple[str, ...], all_failed: bool, fresh: bool, as_json: bool) -> None:
    """Failed or cancelled jobs back to pending, attempts counted afresh; the steps done
    (`job.step`) are kept, so the next run skips them, unless --fresh.

    JOB_IDS are ids as `jobs list` shows them, or their first 8 characters or more. Exit
    status 1 when a named job was left alone (it is not failed or cancelled, or does not
    exist).
    """
    if not job_ids and not all_failed:
        raise click.UsageError("name the jobs to retry, or give --all-failed")
    with database(load_config()) as conn:
        changes = job_admin.retry(conn, job_admin.resolve(conn, job_ids), all_failed, fresh)
    _report(changes, "retried", as_json, "no failed jobs")


@jobs_group.command("cancel")
@config_option
@click.argument("job_ids", nargs=-1, type=JOB_ID, required=True)
@json_option
def cancel_command(job_ids: tuple[str, ...], as_json: bool) -> None:
    """Cancel pending or running jobs (a running one's runner is killed, on any host).

    JOB_IDS are ids as `jobs list` shows them, or their first 8 characters or more. Exit
    status 1 when a named job was left alone (already finished, or no such job).
    """
    with database(load_config()) as conn:
        changes = job_admin.cancel(conn, job_admin.resolve(conn, job_ids))
    _report(changes, "cancelled", as_json, "")


@jobs_group.command("reclaim")
@config_option
@click.option(
    "--older-than",
    type=DURATION,
    help="Jobs with no owner (the original cron's) after DURATION [default: orphan_after, 1h].",
)
@json_option
def reclaim_command(older_than: float | None, as_json: bool) -> None:
    """Jobs stuck in 'processing' back to pending: those of dead supervisors, and those with
    no owner at all for --older-than. A job held by a live supervisor is never touched."""
    cfg = load_config()
    sup = cfg.supervisor
    orphan_after = sup.orphan_after if older_than is None else older_than
    with database(cfg) as conn:
        found = job_admin.reclaim(conn, sup.stale_after, orphan_after, cfg.retry.max_retries)
    if as_json:
        print_json({"dead_supervisors": found.dead, "jobs": [asdict(c) for c in found.jobs]})
        return
    for who in found.dead:
        click.echo(f"supervisor {who}")
    for change in found.jobs:
        click.echo(f"reclaimed {change.id}: now {change.now} ({change.note})")
    if not found.jobs:
        click.echo("nothing to reclaim: every processing job has a live supervisor")


@jobs_group.command("prune")
@config_option
@click.option("--older-than", type=DURATION, required=True, help="Jobs that ended DURATION ago.")
@click.option(
    "--status",
    "statuses",
    default="completed,failed",
    help="Comma-separated: completed, failed, cancelled.",
)
@click.option("--batch-size", type=COUNT, default=1000, help="Jobs deleted per transaction.")
@json_option
def prune_command(older_than: float, statuses: str, batch_size: int, as_json: bool) -> None:
    """Delete finished jobs and their insights, a batch per transaction."""
    chosen = _finished_statuses(statuses)
    with database(load_config()) as conn:
        pruned = job_admin.prune(conn, older_than, chosen, batch_size)
    if as_json:
        print_json(asdict(pruned) | {"statuses": chosen, "older_than": older_than})
        return
    click.echo(
        f"deleted {pruned.jobs} jobs ({', '.join(chosen)}) that ended over "
        f"{human(older_than)} ago, with {pruned.insights} insights, in {pruned.batches} batches"
    )


def _finished_statuses(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    wrong = [s for s in chosen if s not in job_admin.FINISHED]
    if wrong or not chosen:
        raise JobsupError(
            f"--status {text}: prune deletes finished jobs only: "
            f"choose from {', '.join(job_admin.FINISHED)}"
        )
    return chosen


def _report(changes: list[job_admin.Change], verb: str, as_json: bool, none: str) -> None:
    """One line per job (what changed, or why not); exit 1 when a job was left alone."""
    done = [c for c in changes if c.now is not None]
    left = [c for c in changes if c.now is None]
    if as_json:
        print_json({verb: [asdict(c) for c in done], "unchanged": [asdict(c) for c in left]})
    else:
        for c in done + left:
            click.echo(c.describe(verb))
        if not changes and none:
            click.echo(none)
    if left:
        raise SystemExit(1)
