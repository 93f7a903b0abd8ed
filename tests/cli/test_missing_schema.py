"""Every command on a database without jobsup's tables (empty, or the original job-cron's only,
before `jobsup db migrate`): one line naming the fix, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.commands import jobsup
from tests.fixtures.seed import seed_database

COMMANDS = [
    ("ps",),
    ("ps", "--json"),
    ("jobs", "list"),
    ("jobs", "show", "1f64f4c9"),
    ("jobs", "wait", "1f64f4c9", "--timeout", "1"),
    ("jobs", "retry", "--all-failed"),
    ("jobs", "cancel", "1f64f4c9"),
    ("jobs", "reclaim"),
    ("jobs", "prune", "--older-than", "30d"),
    ("stats",),
    ("periodic", "list"),
    ("pause", "analysis"),
    ("resume", "analysis"),
    ("enqueue", "--file", "{file}"),
    # (without a file, an analysis job is refused before the database: test_enqueue_cli)
    ("enqueue", "--type", "analysis", "--file-id", "1f64f4c9-0000-4000-8000-000000000000"),
]
EMPTY = (
    "jobsup: the database has no jobsup tables (processing_jobs missing): run `jobsup db init`\n"
)
SEED = (
    "jobsup: the database has the original job-cron tables only (jobsup_workers missing): run "
    "`jobsup db migrate` (it adds jobsup's tables and columns, keeping every row)\n"
)
# What needs only the seed's own columns works on them: a job id prefix is looked up in
# processing_jobs (no such job), prune deletes the (no) finished jobs.
ON_SEED = {
    ("jobs", "show"): (
        1,
        "",
        "jobsup: no job id starts with 1f64f4c9: `jobsup jobs list` shows the ids\n",
    ),
    ("jobs", "wait"): (
        1,
        "",
        "jobsup: no job id starts with 1f64f4c9: `jobsup jobs list` shows the ids\n",
    ),
    ("jobs", "cancel"): (
        1,
        "",
        "jobsup: no job id starts with 1f64f4c9: `jobsup jobs list` shows the ids\n",
    ),
    ("jobs", "prune"): (
        0,
        "deleted 1 jobs (completed, failed) that ended over 30d00h ago, with 1 insights, in 1 batches\n",
        "",
    ),
}


def run(args: tuple[str, ...], url: str, tmp_path: Path) -> tuple[int, str, str]:
    data = tmp_path / "sales.csv"
    data.write_text("day,amount\n2024-01-01,3\n")
    done = jobsup(*(a.format(file=data) for a in args), env={"DATABASE_URL": url})
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_on_an_empty_database_each_command_says_db_init_in_one_line(
    args: tuple[str, ...], empty_db_url: str, tmp_path: Path
) -> None:
    code, out, err = run(args, empty_db_url, tmp_path)
    assert (code, out, err) == (1, "", EMPTY)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_on_the_seeds_tables_each_command_says_db_migrate_in_one_line(
    args: tuple[str, ...], empty_db_url: str, tmp_path: Path
) -> None:
    seed_database(empty_db_url)
    code, out, err = run(args, empty_db_url, tmp_path)
    assert (code, out, err) == ON_SEED.get(args[:2], (1, "", SEED))


def test_status_names_the_fix_in_its_queue_line(empty_db_url: str, tmp_path: Path) -> None:
    done = jobsup("status", env={"DATABASE_URL": empty_db_url})
    assert done.returncode == 3
    assert done.stdout == f"supervisor: not running\nqueue: unknown: {EMPTY[len('jobsup: ') :]}"
    assert done.stderr == ""


def test_without_a_database_url_a_command_is_one_line_too(tmp_path: Path) -> None:
    """No DATABASE_URL: the embedded PostgreSQL (its own database, no tables yet, as `db
    start` leaves it; only it, `db init` and `start` create one)."""
    try:
        assert jobsup("db", "start", cwd=tmp_path, timeout=120).returncode == 0
        done = jobsup("jobs", "list", cwd=tmp_path, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", EMPTY)
    finally:
        jobsup("db", "stop", "--force")
