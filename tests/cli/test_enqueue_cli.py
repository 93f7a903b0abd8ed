"""`jobsup enqueue`: registers the file and the job, prints the id, refuses bad input."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import scalar, write_config

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def test_enqueue_prints_the_job_id(db_url: str, conn: Connection, tmp_path: Path) -> None:
    data = tmp_path / "sales.csv"
    data.write_text("day,amount\n2024-01-01,3\n")
    result = jobsup(
        "enqueue", "--file", str(data), "--description", "Sales by day", "--priority", "3",
        "--delay", "60", "--metadata", '{"source": "test"}', env={"DATABASE_URL": db_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT j.job_type, j.business_description, j.priority, j.metadata, "
            "round(extract(epoch FROM j.run_at - now())), f.file_path, f.original_name "
            "FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE j.id = %s",
            (job_id,),
        )
        row = cur.fetchone()
    assert row is not None
    job_type, description, priority, metadata, delay, path, name = row
    assert (job_type, description, priority, metadata) == (
        "analysis", "Sales by day", 3, {"source": "test"},
    )  # fmt: skip
    assert 55 <= delay <= 60
    assert (path, name) == (str(data), "sales.csv")


def test_enqueue_json_and_run_at(db_url: str, conn: Connection, tmp_path: Path) -> None:
    result = jobsup(
        "enqueue", "-c", str(write_config(tmp_path)), "--type", "diag.noop", "--priority", "7",
        "--run-at", "2030-01-02T03:04:05+00:00", "--json", env={"DATABASE_URL": db_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["type"], out["priority"], out["file"]) == ("diag.noop", 7, None)
    assert datetime.fromisoformat(out["run_at"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ISO_WITH_OFFSET.match(out["run_at"]), out["run_at"]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT file_id, to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM processing_jobs WHERE id = %s",
            (out["id"],),
        )
        assert cur.fetchone() == (None, "2030-01-02 03:04:05")


def test_enqueue_refuses_bad_input_in_one_line_with_exit_2(
    db_url: str, conn: Connection, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": db_url}
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    cases = [
        (["--file", str(tmp_path / "missing.csv")], "missing.csv: no such file"),
        (["--file", str(tmp_path / "dangling.csv")], "no such file (a broken symbolic link)"),
        (["--file", str(tmp_path / "adir")], "adir: a directory, not a regular file"),
        (["--file", str(tmp_path / "fifo.csv")], "fifo.csv: a named pipe (FIFO), not a regular"),
        (["--metadata", "{oops"], "'--metadata': invalid JSON"),
        (["--metadata", "[1]"], "expected a JSON object"),
        (["--run-at", "tomorrow"], "expected an ISO 8601 time"),
        (["--run-at", "2030-01-01", "--delay", "5"], "not both"),
        (["--priority", "99999999999"], "'--priority': 99999999999 is not in the range"),
        (["--delay", "1e300"], "'--delay'"),
        (["--type", "anaylsis"], "no job type 'anaylsis' is configured (did you mean 'analysis'?)"),
        # The analysis handler reads the job's file: without one it would fail at its first run.
        (
            ["--type", "analysis"],
            "an analysis job reads its file: give --file PATH (or --file-id ID)",
        ),
        ([], "an analysis job reads its file"),
    ]
    for args, message in cases:
        result = jobsup("enqueue", *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 0


def test_a_type_only_other_hosts_serve_needs_force(db_url: str, conn: Connection) -> None:
    env = {"DATABASE_URL": db_url}
    refused = jobsup("enqueue", "--type", "report", env=env)
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = jobsup("enqueue", "--type", "report", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    job_id = forced.stdout.strip()
    assert scalar(conn, "SELECT job_type FROM processing_jobs WHERE id = %s", job_id) == "report"


def test_start_refuses_a_job_type_the_configuration_lacks(tmp_path: Path) -> None:
    result = jobsup("start", "-c", str(write_config(tmp_path)), "--job-type", "diag.nop")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "jobsup start: Invalid value for '--job-type': no job type 'diag.nop' is configured "
        "(did you mean 'diag.noop'?); configured: analysis, analysis.report, diag.allocate, "
        "diag.crash, diag.fail, diag.files, diag.noop, diag.parents, diag.print, diag.progress, "
        "diag.sleep, diag.spawn, diag.steps, diag.whoami "
        "(`jobsup start --help` lists the options)"
    ]
