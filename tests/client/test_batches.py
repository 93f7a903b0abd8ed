"""Batches and dependencies end to end: a real supervisor runs a batch, then its then-job,
which gets the batch's jobs in `Job.parents`; `enqueue --after`/`--batch`, `jobs wait` on a
batch, `jobs show` and `jobs list --blocked`."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor.api import enqueue, enqueue_batch, wait, wait_all
from supervisor.db.connect import Connection, transaction
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, rows, scalar, write_config


def test_a_batchs_then_job_runs_after_all_of_them_and_sees_them(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=4, max_retries=0))
    sup.wait_registered(conn)
    jobs = [{"job_type": "diag.noop", "metadata": {"insights": n}} for n in range(5)]
    jobs.append({"job_type": "diag.fail", "metadata": {"message": "bad row 7"}})
    with transaction(conn):
        batch = enqueue_batch(conn, jobs, then={"job_type": "diag.parents"})
    result = wait(conn, batch.id, timeout=60)
    assert result.id == batch.then_id and result.ok, sup.log()
    (insight,) = result.insights
    seen = insight["content"]
    assert seen["batch_id"] == batch.id
    assert [(p["id"], p["status"], p["insights"]) for p in seen["parents"]] == [
        *[(job_id, "completed", n) for n, job_id in enumerate(batch.job_ids[:5])],
        (batch.job_ids[5], "failed", 0),
    ]
    assert seen["parents"][5]["error"] == "RuntimeError: bad row 7"
    started, last_end = rows(
        conn, "SELECT (SELECT started_at FROM processing_jobs WHERE id = %s), "
        "(SELECT max(completed_at) FROM processing_jobs WHERE id = ANY(%s::uuid[]))",
        batch.then_id, batch.job_ids,
    )[0]  # fmt: skip
    assert started >= last_end
    every = wait_all(conn, [batch.id], timeout=5)
    assert [r.id for r in every] == [*batch.job_ids, batch.then_id]


def test_a_chain_enqueued_with_after_runs_in_order(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=4))
    sup.wait_registered(conn)
    with transaction(conn):
        first = enqueue(conn, job_type="diag.sleep", metadata={"seconds": 0.3})
        second = enqueue(conn, job_type="diag.noop", after=[first])
        third = enqueue(conn, job_type="diag.parents", after=[second])
    result = wait(conn, third, timeout=60)
    assert result.ok, sup.log()
    assert [p["id"] for p in result.insights[0]["content"]["parents"]] == [second]
    times = rows(conn, "SELECT started_at, completed_at FROM processing_jobs WHERE id = ANY(%s::uuid[]) "
                 "ORDER BY started_at", [first, second, third])  # fmt: skip
    assert times[0][1] <= times[1][0] and times[1][1] <= times[2][0]


def test_the_command_line_enqueues_waits_for_and_shows_a_batch(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=3, max_retries=0)
    env = {"DATABASE_URL": db_url}
    lines = tmp_path / "batch.jsonl"
    lines.write_text('{"job_type": "diag.noop", "metadata": {"insights": 1}}\n\n'
                     '{"job_type": "diag.noop"}\n')  # fmt: skip
    made = jobsup("enqueue", "-c", str(config), "--batch", str(lines), "--then-type",
                  "diag.parents", "--json", env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    batch = json.loads(made.stdout)
    assert len(batch["job_ids"]) == 2 and batch["then_id"]
    after = jobsup("enqueue", "-c", str(config), "--type", "diag.noop", "--after",
                   batch["then_id"][:8], env=env)  # fmt: skip
    assert after.returncode == 0, after.stderr
    last = after.stdout.strip()
    blocked = jobsup("jobs", "list", "--blocked", "--json", env=env)
    assert {j["id"] for j in json.loads(blocked.stdout)} == {batch["then_id"], last}
    status = jobsup("status", "-c", str(config), env=env)
    assert "queue: 2 pending (+0 scheduled later, 2 waiting for parents)" in status.stdout
    shown = jobsup("jobs", "show", batch["then_id"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"batch {batch['id']}: 0 of 2 ended" in shown.stdout
    assert "parents (2 not ended):" in shown.stdout and "children:" in shown.stdout
    assert last in shown.stdout

    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    waited = jobsup("jobs", "wait", batch["id"], "--timeout", "60", env=env)
    assert waited.returncode == 0, waited.stderr + sup.log()
    assert waited.stdout.splitlines() == [
        f"{batch['job_ids'][0]} completed: 1 insight",
        f"{batch['job_ids'][1]} completed: 0 insights",
        f"{batch['then_id']} completed: 1 insight",
    ]
    shown = jobsup("jobs", "show", batch["then_id"], env=env)
    assert f"batch {batch['id']}: 2 of 2 ended; then {batch['then_id']} completed" in shown.stdout


def test_a_wrong_batch_or_parent_is_one_line_and_enqueues_nothing(
    db_url: str, conn: Connection, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    env = {"DATABASE_URL": db_url}
    bad = tmp_path / "bad.jsonl"
    for text, said in (
        ('{"job_type": "diag.noop"}\n{"job_type": \n', f"--batch {bad}:2: invalid JSON"),
        ("[1]\n", f"--batch {bad}:1: expected a JSON object"),
        ("\n", f"--batch {bad}: no jobs in it"),
        ('{"job_type": "diag.noop", "priority": "high"}\n', "job 0: priority must be an int"),
    ):
        bad.write_text(text)
        done = jobsup("enqueue", "-c", str(config), "--batch", str(bad), env=env)
        assert done.returncode == 1, done.stderr
        assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    missing = "00000000-0000-4000-8000-0000000000ff"
    done = jobsup("enqueue", "-c", str(config), "--type", "diag.noop", "--after", missing, env=env)
    assert done.returncode == 1
    assert done.stderr.strip() == f"jobsup: after: no job has id {missing}: nothing enqueued"
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_batches") == 0
