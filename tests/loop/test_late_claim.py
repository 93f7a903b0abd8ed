"""A claim whose answer the network holds up past the lease deadline (a black-holed route
that delivers it once it heals): its jobs may be a peer's by then, so none of them starts,
and the fence does not wait for the fork server (real supervisor, real PostgreSQL, a proxy
that freezes the connection)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, rows, status, wait_for, write_config
from tests.fixtures.tcpproxy import Proxy

pytestmark = pytest.mark.slow

# The claim (pending → processing) takes a second in the database: time to freeze its answer.
SLOW_CLAIM = """
CREATE FUNCTION test_slow_claim() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_sleep(1.0); RETURN NEW; END $$;
CREATE TRIGGER slow_claim BEFORE UPDATE ON processing_jobs FOR EACH ROW
  WHEN (OLD.status = 'pending' AND NEW.status = 'processing') EXECUTE FUNCTION test_slow_claim();
"""


@pytest.fixture
def proxy(db_url: str) -> Iterator[Proxy]:
    p = Proxy(db_url)
    yield p
    p.close()


def log_time(log: str, pattern: str) -> float:
    """The wall time of the first log line containing `pattern`."""
    for line in log.splitlines():
        if pattern in line:
            stamp = line[:23]
            return time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + float(stamp[19:])
    raise AssertionError(f"no line with {pattern!r} in:\n{log}")


def test_a_claim_answered_after_the_lease_deadline_starts_no_runner(
    db_url: str, conn: Connection, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, interval=0.2, supervisor_extra="lease_timeout = 2.0",
                          extra='[job_types."diag.chaos"]\nhandler = "runner.diag:chaos"')  # fmt: skip
    sup = supervisors.start(proxy.url(), config)
    sup.wait_registered(conn)
    with conn.cursor() as cur:
        cur.execute(SLOW_CLAIM)
    record = tmp_path / "executions.jsonl"
    job_id = add_job(conn, "chaos", record=str(record), seconds=0.2)

    def claiming() -> bool:
        return bool(rows(conn, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                               "AND application_name LIKE 'jobsup job_cron supervisor%%'"))  # fmt: skip

    wait_for(claiming, timeout=30, interval=0.01)
    proxy.set("blackhole")  # the claim commits; its answer waits in the frozen route
    frozen = time.time()
    wait_for(lambda: status(conn, job_id) == "processing", timeout=10, interval=0.01)
    time.sleep(4.0)  # past lease_timeout = 2 s: the lease is lost, its jobs a peer's to take
    proxy.set("pass")
    wait_for(lambda: "heartbeat went through again" in sup.log(), timeout=30)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    log = sup.log()
    assert log_time(log, "no heartbeat went through for") - frozen > 2.0, log  # fenced
    again = log_time(log, "heartbeat went through again")
    starts = [json.loads(line) for line in record.read_text().splitlines()]
    starts = [s for s in starts if s["event"] == "start"]
    # Only the run claimed again once the lease holds: none released after the fence.
    assert len(starts) == 1 and starts[0]["time"] > again, (starts, again, log)
    assert "lease lost before the claim's answer came: not started" in log, log


def test_a_lease_fence_waits_for_no_slow_fork_server_and_releases_no_handler(
    db_url: str, conn: Connection, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, supervisor_extra='lease_timeout = 2.0\n'
                          'preload = ["tests.fixtures.slow_preload"]',
                          extra='[job_types."diag.chaos"]\nhandler = "runner.diag:chaos"')  # fmt: skip
    record = tmp_path / "executions.jsonl"
    job_id = add_job(conn, "chaos", record=str(record), seconds=0.2)
    root = str(Path(__file__).parents[2])  # the fork server finds the slow module here
    sup = supervisors.start(proxy.url(), config,
                            env={"JOBSUP_TEST_SLOW_PRELOAD": "8", "PYTHONPATH": root})  # fmt: skip
    wait_for(lambda: "runner requested from the fork server" in sup.log(), timeout=30,
             interval=0.01)  # fmt: skip
    proxy.set("blackhole")  # its runner still starting: the fork server is importing
    wait_for(lambda: "killing 1 runners" in sup.log(), timeout=10, interval=0.01)
    sup.signal(signal.SIGTTIN)  # the loop answers at once: it is not waiting for the server
    wait_for(lambda: "SIGTTIN: 3 slots" in sup.log(), timeout=1.5, interval=0.01)
    assert "started diag.chaos" not in sup.log()  # the fork server has not answered yet
    wait_for(lambda: "lease lost: no heartbeat went through" in sup.log(), timeout=30)
    proxy.set("pass")
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    log = sup.log()
    again = log_time(log, "heartbeat went through again")
    starts = [json.loads(line) for line in record.read_text().splitlines()]
    starts = [s for s in starts if s["event"] == "start"]
    assert len(starts) == 1 and starts[0]["time"] > again, (starts, again, log)
