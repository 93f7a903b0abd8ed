"""Progress and durable steps through real supervisors and real runners: progress reaches
the row (throttled, the last value always), a step's result is stored before the handler
goes on, a kill right after a step and the retry do not run it again, and a fenced runner
cannot store one."""

from __future__ import annotations

import signal
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, scalar, status, wait_for, write_config

pytestmark = pytest.mark.slow


def progress_of(conn: Connection, job_id: str) -> dict | None:
    return scalar(conn, "SELECT progress FROM processing_jobs WHERE id = %s", job_id)


def steps_of(conn: Connection, job_id: str) -> dict:
    return scalar(conn, "SELECT coalesce(steps, '{}') FROM processing_jobs WHERE id = %s", job_id)


def test_progress_is_stored_while_the_job_runs_and_its_last_value_at_the_end(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, interval=0.5)
    job_id = add_job(conn, "progress", total=6, seconds=0.5, after=1.5)
    sup = supervisors.start(db_url, config)
    seen: list[float] = []

    def partway() -> bool:
        p = progress_of(conn, job_id)
        if p and p["done"] not in seen:
            seen.append(p["done"])
        return bool(p) and 0 < p["done"] < 6

    wait_for(partway, timeout=30, interval=0.02)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    final = progress_of(conn, job_id)
    assert final["done"] == 6 and final["total"] == 6 and final["note"] == "stage 6 of 6"
    assert "at" in final
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_progress_writes_are_throttled_to_one_a_second_and_the_last_is_written(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    """100 progress calls in about 2 s: at most ~3 rows written, the last one 100/100."""
    config = write_config(tmp_path, interval=0.5)
    job_id = add_job(conn, "progress", total=100, seconds=0.02)
    sup = supervisors.start(db_url, config)
    writes: list[str] = []

    def poll() -> bool:
        p = progress_of(conn, job_id)
        if p and (not writes or writes[-1] != p["at"]):
            writes.append(p["at"])
        return status(conn, job_id) == "completed"

    wait_for(poll, timeout=30, interval=0.01)
    assert progress_of(conn, job_id)["done"] == 100
    assert 1 <= len(writes) <= 4, writes
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_a_kill_right_after_a_step_then_the_retry_does_not_run_it_again(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    calls = tmp_path / "calls"
    config = write_config(tmp_path, interval=0.5)
    job_id = add_job(conn, "steps", count=3, kill_after=2, calls_file=str(calls))
    sup = supervisors.start(db_url, config)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=60)
    # step-1 and step-2 ran in attempt 1 (killed right after step-2), step-3 in attempt 2.
    assert calls.read_text().splitlines() == ["step-1 1", "step-2 1", "step-3 2"]
    insight = scalar(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)
    assert [s["attempt"] for s in insight["steps"]] == [1, 1, 2]
    assert sorted(steps_of(conn, job_id)) == ["step-1", "step-2", "step-3"]
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_a_step_result_too_large_fails_the_job_with_one_clear_line(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, interval=0.5)
    job_id = add_job(conn, "steps", count=1, size=2 << 20)
    sup = supervisors.start(db_url, config)
    wait_for(lambda: status(conn, job_id) == "failed", timeout=30)
    error = scalar(conn, "SELECT error_message FROM processing_jobs WHERE id = %s", job_id)
    assert "step 'step-1': result too large: 2,048 KiB > 1,024 KiB" in error
    assert steps_of(conn, job_id) == {}
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_a_runner_whose_claim_was_taken_cannot_store_a_step(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    """The claim is taken from a running handler (a new lease) while its supervisor is
    frozen and the handler sends its next step: that step's result is never stored; the
    job runs again and keeps only steps of the claims that held it."""
    calls = tmp_path / "calls"
    config = write_config(tmp_path, interval=0.5)
    job_id = add_job(conn, "steps", count=2, sleep=1, calls_file=str(calls), kill_attempts=0)
    sup = supervisors.start(db_url, config)
    first = wait_for(lambda: steps_of(conn, job_id).get("step-1"), timeout=30)
    sup.signal(signal.SIGSTOP)
    try:
        with conn.cursor() as cur:  # taken from the runner: a new claim, a new lease
            cur.execute("UPDATE processing_jobs SET lease = nextval('jobsup_lease') "
                        "WHERE id = %s", (job_id,))  # fmt: skip
        time.sleep(
            1.6
        )  # (under lease_timeout) the handler has sent step-2 and waits for its answer
    finally:
        sup.signal(signal.SIGCONT)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=60)
    steps = steps_of(conn, job_id)
    assert steps["step-1"]["lease"] == first["lease"]  # kept from the first claim: not re-run
    assert steps["step-2"]["lease"] != first["lease"]  # the fenced runner's was never stored
    assert calls.read_text().splitlines().count("step-1 1") == 1
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_an_analysis_reports_its_stages_and_a_retry_does_not_call_the_model_again(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    """The built-in `analysis` under a real supervisor, its [ai] summary from a local fake
    model: the row's progress ends at 9/9 "done" (1 file: loading, 7 families, summary);
    its summary is kept as step "ai-summary", and after `jobs retry` the next run gives it
    back without a second request to the model."""
    from tests.fixtures.commands import jobsup
    from tests.insights.fake_model import FakeModel, model_handler
    from tests.insights.sales_data import Plan, sales, write_csv

    model = FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), model_handler(model))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = write_csv(sales(Plan(days=60), seed=3), tmp_path / "sales.csv")
        ai = (f'[ai]\nbase_url = "http://127.0.0.1:{server.server_address[1]}/v1"\n'
              'model = "test-model"\napi_key_env = "TEST_AI_KEY"\n')  # fmt: skip
        config = write_config(tmp_path, interval=0.5, extra=ai)
        env = {"TEST_AI_KEY": "sk-test"}
        job_id = add_job(conn, "analysis", str(data))
        supervisors.start(db_url, config, "--until-empty", env=env).wait()
        assert status(conn, job_id) == "completed"
        assert progress_of(conn, job_id) | {"at": None} == {
            "done": 9, "total": 9, "note": "done", "at": None
        }  # fmt: skip
        kept = steps_of(conn, job_id)["ai-summary"]
        assert kept["content"]["details"]["written_by"] == "ai:test-model"
        assert len(model.requests) == 1
        with conn.cursor() as cur:
            cur.execute("UPDATE processing_jobs SET status = 'failed' WHERE id = %s", (job_id,))
        assert jobsup("jobs", "retry", job_id, env={"DATABASE_URL": db_url}).returncode == 0
        supervisors.start(db_url, config, "--until-empty", env=env).wait()
        assert status(conn, job_id) == "completed"
        assert len(model.requests) == 1  # the kept summary, not a second call
        summary = scalar(conn, "SELECT content FROM insights WHERE job_id = %s "
                         "AND insight_type = 'summary' ORDER BY created_at DESC LIMIT 1", job_id)  # fmt: skip
        assert summary == kept["content"]
    finally:
        server.shutdown()
        server.server_close()
