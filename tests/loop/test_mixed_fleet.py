"""Mixed fleets: supervisors with different `[job_types]` on one database each claim only the
types they can run; a type no live supervisor serves waits, and is reported, never failed."""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from pathlib import Path

import pytest

from supervisor import config as configuration
from supervisor.client.enqueue import enqueue
from supervisor.config import rules as config_rules
from supervisor.db.connect import Connection
from supervisor.errors import ConfigError
from supervisor.identity import Identity
from supervisor.loop.claim_timing import ClaimTiming
from supervisor.ops import report
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.launch import NotServed, launch
from supervisor.runners.outcome import Kind, not_served
from supervisor.store import statements as store
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, rows, scalar, wait_for, write_config


def _config_with(tmp_path: Path, job_type: str, **options: str) -> Path:
    """The test config plus one application type of its own, run by the noop handler."""
    extra = f'[job_types."{job_type}"]\nhandler = "runner.diag:noop"\n' + options.get("extra", "")
    return write_config(tmp_path, extra=extra, supervisor_extra=options.get("supervisor", ""))


def test_two_supervisors_with_different_job_types_each_run_only_their_own(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """Issue 29: with `[supervisor] job_types` empty, each of two supervisors claimed the
    other's type too and failed it (`unknown job type`): 8 app.ok jobs, 3 completed."""
    a = supervisors.start(db_url, _config_with(tmp_path, "app.a"))
    b = supervisors.start(db_url, _config_with(tmp_path, "app.b"))
    a_id, b_id = a.wait_registered(conn), b.wait_registered(conn)
    for _ in range(8):
        enqueue(conn, job_type="app.a")
        enqueue(conn, job_type="app.b")

    def finished() -> bool:
        pending = "SELECT count(*) FROM processing_jobs WHERE status IN ('pending', 'processing')"
        return scalar(conn, pending) == 0

    wait_for(finished, 60)
    found = rows(conn, "SELECT job_type, status, worker_id::text, retry_count, attempts "
                       "FROM processing_jobs")  # fmt: skip
    assert len(found) == 16
    for job_type, status, worker, retries, attempts in found:
        assert (status, retries) == ("completed", 0), (job_type, attempts)
        assert worker == {"app.a": a_id, "app.b": b_id}[job_type]
        assert [x["worker"] for x in attempts] == [worker]  # no attempt on the other one
    assert "unknown job type" not in a.log() + b.log()
    registered = dict(rows(conn, "SELECT id::text, job_types FROM jobsup_workers"))
    assert "app.a" in registered[a_id] and "app.b" not in registered[a_id]
    assert "app.b" in registered[b_id] and "analysis" in registered[b_id]
    assert "job types: analysis, analysis.report, app.a, diag.noop, " in a.log()  # the start line


def test_a_type_no_supervisor_configures_waits_pending_and_is_reported(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """`[supervisor] job_types` empty: the supervisor serves its configured types only; a job
    of another type stays pending, no attempt spent, and stats, ps and healthcheck name the
    type with its count and the oldest job's age."""
    elsewhere = [enqueue(conn, job_type="app.elsewhere") for _ in range(3)]
    with conn.cursor() as cur:  # the oldest has waited ten minutes
        cur.execute("UPDATE processing_jobs SET created_at = localtimestamp - interval '10 min' "
                    "WHERE id = %s", (elsewhere[0],))  # fmt: skip
    sup = supervisors.start(db_url, write_config(tmp_path))
    sup.wait_registered(conn)
    ours = enqueue(conn, job_type="diag.noop")
    wait_for(lambda: scalar(conn, "SELECT status FROM processing_jobs WHERE id = %s", ours)
             == "completed", 30)  # fmt: skip
    time.sleep(1.0)  # a few more claims and heartbeats
    left = rows(conn, "SELECT status, retry_count, attempts, worker_id FROM processing_jobs "
                      "WHERE job_type = 'app.elsewhere'")  # fmt: skip
    assert left == [("pending", 0, [], None)] * 3
    env = {"DATABASE_URL": db_url}

    stats = json.loads(jobsup("stats", "--json", env=env).stdout)
    (unserved,) = stats["unserved"]
    assert (unserved["job_type"], unserved["jobs"]) == ("app.elsewhere", 3)
    assert 590 < unserved["oldest_age"] < 900
    text = jobsup("stats", env=env).stdout
    assert re.search(r"no live supervisor serves.*\n.*\n  app\.elsewhere +3 +1[01]m\d\ds", text)
    ps = jobsup("ps", env=env).stdout
    assert re.search(r"not served by any live supervisor: app\.elsewhere \(3 pending, "
                     r"oldest 1[01]m\d\ds\)", ps), ps  # fmt: skip
    health = jobsup("healthcheck", env=env)
    assert health.returncode == 0, health.stdout  # this supervisor is healthy
    assert health.stdout.startswith("healthy: ")
    assert re.search(r"warning: 3 pending jobs of app\.elsewhere \(oldest 1[01]m\d\ds\): "
                     r"no live supervisor serves the type", health.stdout), health.stdout  # fmt: skip
    verdict = json.loads(jobsup("healthcheck", "--json", env=env).stdout)
    assert verdict["ok"] and verdict["unserved"][0]["job_type"] == "app.elsewhere"
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0
    assert all(s == "pending" for (s,) in rows(conn, "SELECT status FROM processing_jobs "
                                                     "WHERE job_type = 'app.elsewhere'"))  # fmt: skip


def test_a_narrowed_supervisor_enqueues_no_periodic_job_of_a_type_it_does_not_serve(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """A schedule of a configured type left out by `[supervisor] job_types`: its slots are
    for a supervisor that serves it, not for this one (whose jobs would wait for none)."""
    extra = ('[periodic.other]\nevery = "1s"\njob_type = "diag.sleep"\n'
             '[periodic.mine]\nevery = "1s"\njob_type = "diag.noop"\n')  # fmt: skip
    config = write_config(tmp_path, extra=extra, supervisor_extra='job_types = ["diag.noop"]')
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    mine = "SELECT count(*) FROM processing_jobs WHERE unique_key LIKE 'periodic:mine:%%'"
    wait_for(lambda: scalar(conn, mine) >= 2, 15)
    other = "SELECT count(*) FROM processing_jobs WHERE unique_key LIKE 'periodic:other:%%'"
    assert scalar(conn, other) == 0


def test_a_supervisor_reclaims_only_jobs_of_the_types_it_serves(conn: Connection) -> None:
    """A dead supervisor's jobs: whether one goes back to pending or has spent its attempts
    is its type's policy, so only a supervisor serving the type takes it back."""
    dead = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, slots, "
                    "state, job_types) VALUES (%s, 'gone', 'k', 1, 0, 2, 'dead', %s)",
                    (dead, ["app.x", "diag.noop"]))  # fmt: skip
        for job_type in ("app.x", "diag.noop"):
            cur.execute("INSERT INTO processing_jobs (job_type, status, worker_id, started_at, "
                        "retry_count) VALUES (%s, 'processing', %s, localtimestamp, 3)",
                        (job_type, dead))  # fmt: skip
    found = store.reclaim(conn, Identity.new(), 60, 3600, max_retries=3,
                          type_retries={"diag.noop": 5}, job_types=["diag.noop"])  # fmt: skip
    assert [(status, t) for _, status, _, t in found.jobs] == [("pending", "diag.noop")]
    assert rows(conn, "SELECT status FROM processing_jobs WHERE job_type = 'app.x'") == [
        ("processing",)
    ]  # not failed by a supervisor that knows nothing of app.x's retries
    everything = store.reclaim(conn, Identity.new(), 60, 3600, max_retries=3)  # `jobs reclaim`
    assert [(status, t) for _, status, _, t in everything.jobs] == [("failed", "app.x")]


def test_what_no_live_supervisor_serves_counts_old_rows_as_serving_every_type(
    conn: Connection,
) -> None:
    """A live row's job_types are what it serves; a NULL one (a supervisor of an older
    jobsup, which claimed any type) serves every type; a silent or stopped one serves none."""

    def worker(job_types: list[str] | None, state: str = "running", age: str = "1 s") -> None:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, "
                        "slots, state, heartbeat_at, job_types) VALUES (gen_random_uuid(), 'h', "
                        "'k', 1, 0, 2, %s, now() - %s::interval, %s)", (state, age, job_types))  # fmt: skip

    for job_type in ("a", "a", "b", None):  # None: the original cron's analysis
        enqueue(conn, "/data/x.csv", job_type=job_type or "analysis")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET job_type = NULL WHERE job_type = 'analysis'")
    assert [u["job_type"] for u in report.unserved(conn, 60)] == ["a", "analysis", "b"]
    worker(["a"], age="5 minutes")  # silent: dead
    worker(["a"], state="stopped")
    worker(["b"])
    found = report.unserved(conn, 60)
    assert [(u["job_type"], u["jobs"]) for u in found] == [("a", 2), ("analysis", 1)]
    assert all(0 <= u["oldest_age"] < 60 for u in found)
    worker(None)  # an older jobsup
    assert report.unserved(conn, 60) == []


# -- unit -------------------------------------------------------------------------------


@pytest.mark.unit
def test_served_is_always_a_list_of_what_the_configuration_can_run(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[job_types.a]\nhandler = "runner.diag:noop"\n'
                    '[job_types.b]\nhandler = "runner.diag:noop"\n')  # fmt: skip
    cfg = configuration.load(path)
    # empty [supervisor] job_types: all configured, the built-in ones first
    assert cfg.served() == ("analysis", "analysis.report", "a", "b")
    assert cfg.served(("b", "b")) == ("b",)
    assert cfg.served(("b", "gone")) == ("b",)  # never a type it cannot run
    path.write_text(path.read_text() + '[supervisor]\njob_types = ["a"]\n')
    assert configuration.load(path).served() == ("a",)
    assert configuration.load(None).served() == ("analysis", "analysis.report")


def _job(job_type: str) -> ClaimedJob:
    return ClaimedJob(id=str(uuid.uuid4()), lease=7, job_type=job_type, business_description=None,
                      metadata={}, retry_count=2, file_path=None, has_file=False)  # fmt: skip


@pytest.mark.unit
def test_a_job_of_a_type_not_served_goes_back_to_pending_as_it_was() -> None:
    """A reload removed the type between the claim and the start: no failure, no attempt
    spent or recorded, and no claim wanted at once because of it (no spinning)."""
    job = _job("app.removed")
    how = launch(job, configuration.load(None), "INFO")
    assert isinstance(how, NotServed) and "app.removed" in how.why
    outcome = not_served(job)
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.NOT_SERVED, "pending", 2)
    assert outcome.attempt is None and outcome.keep_error and outcome.delay == 0.0
    timing = ClaimTiming(interval=30.0)
    timing.claimed(0.0, asked=4, got=1, next_due_in=None)
    timing.concluded(0.1, [outcome])
    assert not timing.due(0.2) and timing.deadline() == 30.0


@pytest.mark.unit
def test_a_reload_that_drops_a_type_given_by_job_type_is_refused(tmp_path: Path) -> None:
    """`--job-type app.a` and a SIGHUP whose file no longer configures app.a: the reload is
    refused (logged, the running configuration kept), as the start would refuse it."""
    path = tmp_path / "c.toml"
    path.write_text('[job_types."app.b"]\nhandler = "runner.diag:noop"\n')
    cfg = configuration.load(path)
    config_rules.check_chosen(("app.b", "analysis"), cfg)
    with pytest.raises(ConfigError, match=r"--job-type app\.a: no job type 'app\.a'"):
        config_rules.check_chosen(("app.a",), cfg)
