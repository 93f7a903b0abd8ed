"""The analysis job's insights name each file as it was uploaded (files.original_name), not as
it is stored, under a real supervisor and under runner.testing."""

from __future__ import annotations

import json
from pathlib import Path

from runner.testing import run
from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, job, rows, write_config
from tests.insights.sales_data import Plan, sales, write_csv

STORED = "002eaab0-7c1e-4c55-9d8e-3b1f0c2a9e11-latin1.csv"


def _stored_upload(directory: Path) -> Path:
    """Sales lines as an upload handler stores them: under a generated name, in Latin-1."""
    path = write_csv(sales(Plan(days=40, per_day=6), seed=11), directory / "plain.csv")
    stored = directory / STORED
    stored.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    return stored


def _insights(conn: Connection, job_id: str) -> list[str]:
    """The job's insights, each as its JSON text."""
    found = rows(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)
    return [json.dumps(content) for (content,) in found]


def test_a_supervisors_insights_say_the_uploaded_name(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    stored = _stored_upload(tmp_path)
    named = enqueue(conn, str(stored), original_name="Q3 sales.csv")
    unnamed = enqueue(conn, str(stored))  # no original_name: the stored name it is
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait(120) == 0, sup.log()
    assert job(conn, named)["status"] == job(conn, unnamed)["status"] == "completed"
    said = _insights(conn, named)
    assert said and all(STORED not in text and "002eaab0" not in text for text in said)
    [title] = rows(conn, "SELECT content->>'title' FROM insights "
                        "WHERE job_id = %s AND insight_type = 'profile'", named)  # fmt: skip
    assert title[0].startswith("Q3 sales.csv: ")
    assert any('"files": ["Q3 sales.csv"]' in text for text in said)  # the summary's
    assert any(f"{STORED}: " in text for text in _insights(conn, unnamed))


def test_runner_testing_takes_the_uploaded_name_too(tmp_path: Path) -> None:
    stored = _stored_upload(tmp_path)
    found = run("runner.insights:analysis", [stored], file_names=["Q3 sales.csv"], echo=False)
    said = [json.dumps(row["content"]) for row in found]
    assert any('"files": ["Q3 sales.csv"]' in text for text in said)
    assert all(STORED not in text for text in said)
