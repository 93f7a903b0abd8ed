"""`jobsup jobs wait` (and `enqueue --wait`): block until jobs finish, say how they ended.

Exit status: 0 all completed; 4 any failed or cancelled; 3 not all finished in --timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import click

from supervisor.cli import config_option, database, json_option, load_config, print_json
from supervisor.cli.common import JOB_ID, MOST_SECONDS, first_line
from supervisor.client import batch
from supervisor.client.wait import JobResult, WaitTimeout, wait_all
from supervisor.db.connect import Connection
from supervisor.ops import job_admin

EXIT_FAILED = 4  # as `jobsup start --until-empty` when a job ended failed
EXIT_TIMEOUT = 3

TIMEOUT = click.option(
    "--timeout",
    type=click.FloatRange(0, MOST_SECONDS),
    help="Give up after SECONDS (exit 3).  [default: wait as long as it takes]",
)


@click.command("wait")  # `jobs wait`: added to the group by supervisor/cli/admin.py
@config_option
@click.argument("job_ids", nargs=-1, type=JOB_ID, required=True)
@TIMEOUT
@json_option
def wait_command(job_ids: tuple[str, ...], timeout: float | None, as_json: bool) -> None:
    """Wait until the jobs have finished; print each one's final status and insights count.

    JOB_IDS are ids as `jobs list` shows them, or their first 8 characters or more, or a
    batch's id (`enqueue --batch`: its jobs, then its then-job). Woken by
    NOTIFY jobsup_finished the moment a job ends (re-read every 2 s as well). Exit status 0
    when all completed, 4 when any failed or was cancelled, 3 when not all had finished
    within --timeout. --json prints each job with its insights.
    """
    with database(load_config()) as conn:
        ids = [job_id for given in job_ids for job_id in _jobs(conn, given)]
        code = wait_and_report(conn, ids, timeout, as_json)
    raise SystemExit(code)


def _jobs(conn: Connection, given: str) -> list[str]:
    """The job `given` names (an id or a prefix), or the jobs of the batch it names."""
    if len(given) == job_admin.FULL_ID and batch.then_of(conn, given)[0]:
        return batch.jobs_of(conn, [given])[given]
    return job_admin.resolve(conn, [given])


def wait_and_report(
    conn: Connection, job_ids: Sequence[str], timeout: float | None, as_json: bool,
    extra: dict[str, Any] | None = None,
) -> int:  # fmt: skip
    """Wait for `job_ids`, print how each ended (in JSON: `extra` merged into the first
    job's object), and return the exit status."""
    try:
        results, pending = wait_all(conn, job_ids, timeout), {}
    except WaitTimeout as e:
        results, pending = e.finished, e.pending
    by_id = {r.id: r for r in results}
    if as_json:
        documents = [_document(by_id.get(i), i, pending) for i in job_ids]
        if extra is not None:
            documents[0] = extra | documents[0]
        print_json(documents[0] if extra is not None and len(documents) == 1 else documents)
    else:
        for job_id in job_ids:
            click.echo(_line(by_id.get(job_id), job_id, pending, timeout))
    if pending:
        return EXIT_TIMEOUT
    return 0 if all(r.ok for r in results) else EXIT_FAILED


def _line(result: JobResult | None, job_id: str, pending: dict[str, str],
          timeout: float | None) -> str:  # fmt: skip
    if result is None:
        return f"{job_id} not finished after {timeout or 0:g} s (still {pending.get(job_id)})"
    if result.ok:
        count = len(result.insights)
        return f"{job_id} completed: {count} insight{'' if count == 1 else 's'}"
    why = first_line(result.error, 120)
    return f"{job_id} {result.status}{': ' + why if why else ''}"


def _document(result: JobResult | None, job_id: str, pending: dict[str, str]) -> dict[str, Any]:
    if result is None:
        return {"id": job_id, "status": pending.get(job_id), "finished": False}
    return asdict(result) | {"finished": True}
