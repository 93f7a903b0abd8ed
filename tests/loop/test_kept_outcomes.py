"""Outcomes a supervisor could not write before it stopped are kept in its state directory
and written at its next start, only while their claim holds (loop/kept_outcomes.py)."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from supervisor.loop import kept_outcomes
from supervisor.runners.outcome import Kind, Outcome
from tests.fixtures.processes import Supervisors, add_job, job, rows, status, wait_for, write_config
from tests.fixtures.tcpproxy import Proxy

pytestmark = pytest.mark.slow

# Long enough that the black-holed supervisor keeps its lease (no fencing) through the test.
PATIENT = "[database]\nstatement_timeout = 2.0\nconnect_timeout = 2\n"


@pytest.fixture
def proxy(db_url: str) -> Iterator[Proxy]:
    p = Proxy(db_url)
    yield p
    p.close()


def patient_config(tmp_path: Path) -> Path:
    config = write_config(tmp_path, concurrency=1, extra=PATIENT)
    config.write_text(config.read_text().replace("stale_after = 3.0", "stale_after = 60.0"))
    return config


def kept_files() -> list[Path]:
    return sorted(kept_outcomes.directory(Path(os.environ["JOBSUP_HOME"])).glob("*.json"))


def test_an_outcome_unwritten_at_the_stop_is_kept_and_written_at_the_next_start(
    db_url: str, conn: Connection, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=1.5, insights=2)
    config = patient_config(tmp_path)
    first = supervisors.start(proxy.url(), config)
    wait_for(lambda: status(conn, job_id) == "processing")
    proxy.set("blackhole")
    wait_for(lambda: "completed in" in first.log(), timeout=15)
    first.signal(signal.SIGTERM)
    assert first.wait(60) == 0, first.log()
    assert "kept in" in first.log(), first.log()
    files = kept_files()
    assert len(files) == 1, files
    assert oct(files[0].stat().st_mode & 0o777) == "0o640"
    assert [o["job_id"] for o in json.loads(files[0].read_text())["outcomes"]] == [job_id]
    assert status(conn, job_id) == "processing"  # nothing reached the database
    proxy.set("pass")
    second = supervisors.start(proxy.url(), config)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    wait_for(lambda: "kept result written" in second.log())
    row = job(conn, job_id)
    assert row["retry_count"] == 0, row
    assert [a["outcome"] for a in row["attempts"]] == ["completed"], row  # ran once
    contents = [c for (c,) in rows(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)]
    assert len(contents) == 2 and all(c["attempt"] == 1 for c in contents), contents
    assert kept_files() == []
    assert "reclaimed, now" not in second.log(), second.log()
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.log()


def test_a_kept_outcome_whose_claim_no_longer_holds_is_dropped_and_logged(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id, gone = add_job(conn, "noop"), str(uuid.uuid4())
    with conn.cursor() as cur:  # a claim of a supervisor long gone, taken back since (lease 2)
        cur.execute("UPDATE processing_jobs SET status = 'processing', lease = 2, "
                    "worker_id = %s WHERE id = %s", (gone, job_id))  # fmt: skip
    stale = Outcome(job_id, 1, Kind.COMPLETED, "completed", 0, attempt={"attempt": 1},
                    insights=[{"insight_type": "x", "content": {}, "confidence_score": 1.0}])  # fmt: skip
    kept_outcomes.save(Path(os.environ["JOBSUP_HOME"]), gone, [stale])
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=1))
    wait_for(lambda: "kept result not written" in sup.log(), timeout=30)
    assert kept_files() == []
    assert rows(conn, "SELECT 1 FROM insights WHERE job_id = %s", job_id) == []
    sup.signal(signal.SIGTERM)
    assert sup.wait(30) == 0, sup.log()


@pytest.mark.unit
def test_kept_outcomes_round_trip_and_an_unreadable_file_is_left_alone(tmp_path: Path) -> None:
    outcome = Outcome("j1", 7, Kind.RETRYABLE, "pending", 1, error="boom", delay=2.5,
                      attempt={"attempt": 1, "outcome": "retry"})  # fmt: skip
    path = kept_outcomes.save(tmp_path, "w1", [outcome])
    (kept_outcomes.directory(tmp_path) / "broken.json").write_text("{not json")
    [kept] = kept_outcomes.load(tmp_path)
    assert (kept.worker_id, kept.outcomes, kept.path) == ("w1", [outcome], path)
    assert (kept_outcomes.directory(tmp_path) / "broken.json").exists()
    assert not list(kept_outcomes.directory(tmp_path).glob(".*.tmp"))
