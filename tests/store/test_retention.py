"""The retention policy ([retention]): finished jobs deleted by age and status, in batches,
one supervisor at a time, within a time budget; and a supervisor applying it by itself."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from supervisor import config
from supervisor.db.connect import Connection, connect, transaction
from supervisor.errors import ConfigError
from supervisor.store import retention
from tests.fixtures.commands import free_port
from tests.fixtures.jobrows import add_insight, make_job
from tests.fixtures.processes import Supervisors, rows, scalar, wait_for, write_config

DAY = 86400.0
POLICY = {"completed": 14 * DAY, "failed": 30 * DAY, "cancelled": 7 * DAY}


def _ids(conn: Connection) -> set[str]:
    return {r for (r,) in rows(conn, "SELECT id::text FROM processing_jobs")}


def test_retention_deletes_finished_jobs_past_their_status_age_with_insights(
    conn: Connection,
) -> None:
    gone = [make_job(conn, status="completed", completed="15 days") for _ in range(7)]
    gone += [make_job(conn, status="failed", completed="31 days"),
             make_job(conn, status="cancelled", completed="8 days")]  # fmt: skip
    for job_id in gone[:3]:
        add_insight(conn, job_id, {"n": 1})
    kept = {
        make_job(conn, status="completed", completed="13 days"),
        make_job(conn, status="failed", completed="20 days"),  # failed: kept 30 days
        make_job(conn, status="cancelled", completed="6 days"),
        make_job(conn, created="90 days"),  # pending, however old
        make_job(conn, status="processing", started="90 days"),
    }
    kept_insight = sorted(kept)[0]
    add_insight(conn, kept_insight, {"n": 2})
    done = retention.apply(conn, POLICY, batch=3, budget=10.0)
    assert _ids(conn) == kept
    assert done.jobs == {"completed": 7, "failed": 1, "cancelled": 1}
    assert done.insights == 3 and done.batches == 5  # 3 + 3 + 1 completed, 1, 1
    assert not done.more and not done.busy
    assert scalar(conn, "SELECT count(*) FROM insights") == 1


def test_retention_zero_keeps_a_status_for_ever() -> None:
    policy = config.RetentionConfig(completed=0.0)
    assert policy.ages() == {"failed": 30 * DAY, "cancelled": 7 * DAY}


def test_retention_waits_its_turn_while_another_supervisor_prunes(
    conn: Connection, db_url: str
) -> None:
    old = make_job(conn, status="completed", completed="20 days")
    other = connect(db_url)
    try:
        with transaction(other), other.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (retention.RETENTION_LOCK,))
            done = retention.apply(conn, POLICY, batch=10, budget=5.0)
            assert done.busy and done.deleted == 0
            assert old in _ids(conn)
    finally:
        other.close()
    assert retention.apply(conn, POLICY, batch=10, budget=5.0).deleted == 1


def test_retention_stops_at_its_time_budget_and_says_more_is_left(conn: Connection) -> None:
    for _ in range(30):
        make_job(conn, status="completed", completed="20 days")
    done = retention.apply(conn, POLICY, batch=1, budget=0.0)  # the budget is spent at once
    assert done.more and done.deleted == 0
    done = retention.apply(conn, POLICY, batch=10, budget=10.0)
    assert done.deleted == 30 and not done.more


@pytest.mark.unit
def test_retention_ages_are_durations_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[retention]\ncompleted = "2d"\nfailed = 3600\ncancelled = 0\n')
    loaded = config.load(path).retention
    assert (loaded.completed, loaded.failed, loaded.cancelled) == (2 * DAY, 3600.0, 0.0)
    assert config.load(None).retention.ages() == POLICY  # pruned by default
    path.write_text('[retention]\ncompleted = "two weeks"\n')
    with pytest.raises(ConfigError) as bad:
        config.load(path)
    assert str(bad.value) == (
        f"{path}: [retention] completed: 'two weeks': expected a number and a unit, e.g. 30s, "
        "15m, 2h, 7d (0 keeps them for ever)"
    )
    path.write_text("[retention]\nbatch_size = 0\n")
    with pytest.raises(ConfigError, match=r"\[retention\] batch_size: must be at least 1"):
        config.load(path)


def test_a_supervisor_prunes_by_its_retention_policy_and_counts_it(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    old = [make_job(conn, status="completed", completed="3 hours") for _ in range(5)]
    add_insight(conn, old[0], {"n": 1})
    old_failed = make_job(conn, status="failed", completed="3 hours")
    recent = make_job(conn, status="completed", completed="1 minute")
    port = free_port()
    extra = (
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
        '[retention]\ncompleted = "1h"\nfailed = 0\ncancelled = "1h"\nbatch_size = 2\n'
    )
    sup = supervisors.start(db_url, write_config(tmp_path, extra=extra))
    sup.wait_registered(conn)
    wait_for(lambda: not set(old) & _ids(conn), 20)
    assert {recent, old_failed} <= _ids(conn)
    assert scalar(conn, "SELECT count(*) FROM insights") == 0

    def metric() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    wait_for(lambda: 'jobsup_jobs_pruned_total{status="completed"} 5.0' in metric(), 10)
    log = wait_for(lambda: "retention: deleted" in sup.log() and sup.log())
    assert "retention: deleted 5 finished jobs (5 completed) with 1 insights in 3 batches" in log
