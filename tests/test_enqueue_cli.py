"""`jobsup enqueue`: registers the file and the job, prints the id, refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor.db import Connection
from tests.conftest import jobsup


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


def test_enqueue_json_and_run_at(db_url: str, conn: Connection) -> None:
    result = jobsup(
        "enqueue", "--type", "diag.noop", "--run-at", "2030-01-02T03:04:05+00:00", "--json",
        env={"DATABASE_URL": db_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["type"] == "diag.noop"
    with conn.cursor() as cur:
        cur.execute(
            "SELECT file_id, to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM processing_jobs WHERE id = %s",
            (out["id"],),
        )
        assert cur.fetchone() == (None, "2030-01-02 03:04:05")


def test_enqueue_refuses_bad_input(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    cases = [
        (["--file", str(tmp_path / "missing.csv")], "no such file"),
        (["--metadata", "{oops"], "--metadata: invalid JSON"),
        (["--metadata", "[1]"], "expected a JSON object"),
        (["--run-at", "tomorrow"], "expected an ISO 8601 time"),
        (["--run-at", "2030-01-01", "--delay", "5"], "not both"),
    ]
    for args, message in cases:
        result = jobsup("enqueue", "--type", "diag.noop", *args, env=env)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
