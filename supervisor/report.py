"""What the read-only operating commands report: the queue (`status`), its history
(`stats`) and the supervisors with their runners (`ps`). Plain data, ready for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from supervisor.admin import SQL
from supervisor.db import Connection, dict_cursor


@dataclass(frozen=True)
class Queue:
    runnable: int  # pending and due
    scheduled: int  # pending, due later (retry backoff, delayed jobs)
    processing: int
    oldest_pending: float | None  # seconds the longest-waiting runnable job has waited
    completed_last_hour: int
    failed_last_hour: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def queue(conn: Connection) -> Queue:
    """The queue now; index-only reads, cheap enough for every heartbeat."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["queue"])
        row = cur.fetchone()
    assert row is not None
    return Queue(**row)


def stats(conn: Connection, hours: int, failure_limit: int = 20) -> dict[str, Any]:
    """The seed's monitoring queries in one report over the last `hours` hours."""
    params = {"hours": hours, "limit": failure_limit}
    report: dict[str, Any] = {"hours": hours}
    with dict_cursor(conn) as cur:
        for name in ("counts", "throughput", "durations", "failures"):
            cur.execute(SQL[name], params)
            report[name] = [dict(row) for row in cur.fetchall()]
    return report


def workers(
    conn: Connection, stale_after: float, host: str | None = None, include_stopped: bool = False
) -> list[dict[str, Any]]:
    """Every supervisor (all hosts) with its runners, as `jobsup ps` shows them.

    `state` is what the supervisor last said, except that one silent for over `stale_after`
    seconds is `dead` (its row says `recorded_state`).
    """
    with dict_cursor(conn) as cur:
        cur.execute(SQL["workers"], {"all": include_stopped, "host": host})
        rows = [dict(row) for row in cur.fetchall()]
    for row in rows:
        row["recorded_state"] = row["state"]
        alive = row["state"] in ("running", "draining")
        if alive and row["heartbeat_age"] > stale_after:
            row["state"] = "dead"
        age = row["heartbeat_age"] if row["state"] in ("running", "draining") else 0.0
        row["runners"] = [_runner(figures, age) for figures in row["runners"] or []]
    return rows


def _runner(figures: dict[str, Any], since_heartbeat: float) -> dict[str, Any]:
    """A runner's figures from the last heartbeat, with its elapsed time brought up to now."""
    runner = dict(figures)
    elapsed = float(runner.get("elapsed") or 0.0)
    runner["elapsed"] = round(elapsed + since_heartbeat, 1)
    if "cpu_percent" not in runner and elapsed > 0:
        runner["cpu_percent"] = round(100.0 * float(runner.get("cpu_seconds") or 0.0) / elapsed, 1)
    return runner


def worker_of_pid(conn: Connection, host_key: str, pid: int) -> dict[str, Any] | None:
    """The live jobsup_workers row of supervisor `pid` on this host, if it has one."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["worker_of_pid"], {"host_key": host_key, "pid": pid})
        row = cur.fetchone()
    return dict(row) if row else None


def held_jobs(conn: Connection, worker_id: str) -> list[str]:
    """The jobs supervisor `worker_id` is running now."""
    with conn.cursor() as cur:
        cur.execute(SQL["held_jobs"], {"worker_id": worker_id})
        return [job_id for (job_id,) in cur.fetchall()]
