"""No lease, heartbeat, reclaim, backoff or schedule decision depends on a host's wall clock:
supervisors whose clocks are 10 minutes ahead and behind (Debian's `faketime`, for real)
share one database; the database's `now()` and each host's monotonic clock decide."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, job, rows, wait_for, write_config

# What `faketime -f +10m cmd` sets for cmd, without its wrapper process (signals go to the
# supervisor itself); the fork server's allow-listed environment drops it: runners are real.
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
AHEAD = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+10m"}
BEHIND = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "-10m"}
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(LIBFAKETIME).exists(),
                       reason="Debian's faketime is not installed (scripts/test.sh installs it)"),
]  # fmt: skip

TICK = '\n[periodic.tick]\nevery = "2s"\njob_type = "diag.noop"\n'


def test_supervisors_ten_minutes_ahead_and_behind_decide_by_the_databases_clock(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    now = [add_job(conn, "sleep", seconds=0.3, insights=1) for _ in range(6)]
    retried = [add_job(conn, "fail", attempts=1) for _ in range(2)]  # a backoff by now()
    with conn.cursor() as cur:  # due in 4 s by the database's clock
        cur.execute("UPDATE processing_jobs SET run_at = now() + interval '4 s' "
                    "WHERE id = ANY(%s::uuid[])", (now[:3],))  # fmt: skip
    config = write_config(tmp_path, concurrency=2, extra=TICK)
    fast = supervisors.start(db_url, config, env=AHEAD)
    slow = supervisors.start(db_url, config, env=BEHIND)
    ids = now + retried

    def all_done() -> bool:
        found = rows(conn, "SELECT count(*) FROM processing_jobs WHERE id = ANY(%s::uuid[]) "
                     "AND status IN ('completed', 'failed')", ids)  # fmt: skip
        return bool(found[0][0] == len(ids))

    wait_for(all_done, timeout=40)
    time.sleep(5.0)  # more than stale_after (3 s): time for a premature reclaim to show
    for sup in (fast, slow):
        sup.signal(signal.SIGTERM)
        assert sup.wait(30) == 0, sup.log()
        assert "declared dead" not in sup.log() and "reclaimed, now" not in sup.log(), sup.log()
        assert "lease lost" not in sup.log(), sup.log()
    for job_id in now:
        row = job(conn, job_id)
        assert row["status"] == "completed" and row["retry_count"] == 0, row
        assert len(row["attempts"]) == 1, row
    delayed = rows(conn, "SELECT bool_and(started_at >= run_at) FROM processing_jobs "
                   "WHERE id = ANY(%s::uuid[])", now[:3])  # fmt: skip
    assert delayed == [(True,)]  # none started before its run_at by the database's clock
    for job_id in retried:
        row = job(conn, job_id)
        assert row["status"] == "completed" and row["retry_count"] == 1, row
    slots = rows(conn, "SELECT unique_key, created_at::timestamptz FROM processing_jobs "
                 "WHERE unique_key LIKE 'periodic:tick:%%'")  # fmt: skip
    assert len(slots) >= 3, slots
    keys = [k for k, _ in slots]
    assert len(set(keys)) == len(keys)  # once each
    for key, created in slots:  # never before its slot by the database's clock
        assert created >= _slot(key), (key, created)
    database_now = rows(conn, "SELECT now()")[0][0]
    for key, _ in slots:  # slots of this run by the database's clock, none 10 minutes away
        assert abs((_slot(key) - database_now).total_seconds()) < 120, (key, database_now)


def _slot(key: str) -> datetime:
    return datetime.fromisoformat(key.removeprefix("periodic:tick:").replace("Z", "+00:00"))
