"""A primary and a streaming standby (`pg_basebackup -R`) on this machine; supervisors reach
them by a multi-host URL with `target_session_attrs=read-write`. The primary is killed
(`pg_ctl stop -m immediate`) mid-run and the standby promoted: every job ends `completed`
with one insight row, none stays `processing`. Synchronously replicated, nothing
acknowledged is lost; asynchronously, a completion the new primary never received leaves
its job `processing` under the live supervisor, which runs no runner for it: its heartbeat
gives the job back (`release_unrun`) and it runs again (at least once)."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from supervisor.client.enqueue import enqueue
from tests.fixtures import replication
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, rows, wait_for, write_config
from tests.fixtures.replication import primary, standby

pytestmark = pytest.mark.slow

JOBS = 16


@pytest.fixture
def servers_dir() -> Iterator[Path]:
    """Open to the server's user (pytest's tmp_path is not, its parents being 0700)."""
    path = Path(tempfile.mkdtemp(prefix="jobsup-failover-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def counts(url: str) -> dict[str, int]:
    conn = psycopg2.connect(url, connect_timeout=3)
    try:
        found = rows(conn, "SELECT status, count(*) FROM processing_jobs GROUP BY status")
        return {status: int(n) for status, n in found}
    finally:
        conn.close()


@pytest.mark.parametrize("synchronous", [True, False], ids=["sync", "async"])
def test_a_promoted_standby_takes_over_and_no_job_is_lost_stuck_or_written_twice(
    synchronous: bool, tmp_path: Path, servers_dir: Path, supervisors: Supervisors
) -> None:
    first = primary(servers_dir / "primary")
    second = None
    try:
        admin = psycopg2.connect(first.url(), connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE jobs")
        admin.close()
        done = jobsup("db", "init", env={"DATABASE_URL": first.url("jobs")})
        assert done.returncode == 0, done.stderr
        second = standby(servers_dir / "standby", first)
        if synchronous:
            replication.synchronous(first)
        conn = psycopg2.connect(first.url("jobs"))
        conn.autocommit = True
        ids = [enqueue(conn, job_type="diag.sleep", metadata={"seconds": 0.4, "insights": 1})
               for _ in range(JOBS)]  # fmt: skip
        conn.close()
        both = (f"postgresql://postgres@127.0.0.1:{first.port},127.0.0.1:{second.port}/jobs"
                "?target_session_attrs=read-write")  # fmt: skip
        config = write_config(tmp_path, concurrency=2, interval=1.0,
                              extra="[database]\nstatement_timeout = 3.0\nconnect_timeout = 2\n")  # fmt: skip
        sup = supervisors.start(both, config)
        wait_for(lambda: counts(first.url("jobs")).get("completed", 0) >= 4, timeout=60)
        first.stop("immediate")
        second.promote()
        new = second.url("jobs")
        wait_for(lambda: counts(new).get("completed", 0) == JOBS, timeout=90)
        conn = psycopg2.connect(new)
        try:
            insights = dict(rows(conn, "SELECT job_id::text, count(*) FROM insights GROUP BY 1"))
        finally:
            conn.close()
        assert sorted(insights) == sorted(ids)  # none lost
        assert set(insights.values()) == {1}  # none written twice
        assert counts(new) == {"completed": JOBS}  # none stuck
        sup.signal(signal.SIGTERM)
        assert sup.wait(30) == 0, sup.log()
        assert "Traceback" not in sup.log(), sup.log()
    finally:
        first.stop("immediate")
        if second is not None:
            second.stop("immediate")
