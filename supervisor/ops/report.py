"""What the read-only operating commands report: the queue (`status`), its history
(`stats`) and the supervisors with their runners (`ps`). Plain data, ready for JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from supervisor.db.connect import Connection, dict_cursor
from supervisor.durations import human
from supervisor.identity import host_key, process_alive
from supervisor.ops.job_admin import SQL
from supervisor.scheduling import pauses
from supervisor.store.statements import Queue, queue, rate_limits

__all__ = ["Queue", "queue"]  # the queue now: counted on the database thread too (heartbeat)


def stats(
    conn: Connection, hours: int, stale_after: float, failure_limit: int = 20
) -> dict[str, Any]:
    """The seed's monitoring queries in one report over the last `hours` hours, with the
    paused job types, those no live supervisor serves (`unserved`), and the rate-limited
    types' windows (`rate_limits`)."""
    params = {"hours": hours, "limit": failure_limit}
    report: dict[str, Any] = {"hours": hours}
    with dict_cursor(conn) as cur:
        for name in ("counts", "throughput", "durations", "failures"):
            cur.execute(SQL[name], params)
            report[name] = [dict(row) for row in cur.fetchall()]
    report["paused"] = [asdict(p) for p in pauses.paused(conn)]
    report["unserved"] = unserved(conn, stale_after)
    report["rate_limits"] = rate_limits(conn)
    return report


def unserved(conn: Connection, stale_after: float) -> list[dict[str, Any]]:
    """Each job type with pending jobs that no live supervisor (a heartbeat within
    `stale_after` seconds) serves: `job_type`, `jobs` (pending), `oldest_age` (seconds since
    the oldest was created). Such jobs wait; no supervisor that cannot run them fails them."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["unserved"], {"stale_after": stale_after})
        return [dict(row) for row in cur.fetchall()]


def unserved_line(found: list[dict[str, Any]]) -> str:
    """`app.x (3 pending, oldest 10m00s), app.y (…)`: the types of `unserved()` for a line."""
    return ", ".join(f"{u['job_type']} ({u['jobs']} pending, oldest {human(u['oldest_age'])})"
                     for u in found)  # fmt: skip


LIVE = ("running", "draining")


def workers(
    conn: Connection, stale_after: float, host: str | None = None, include_stopped: bool = False
) -> list[dict[str, Any]]:
    """Every supervisor (all hosts) with the jobs it holds, as `jobsup ps` shows them.

    `state` is what the supervisor last said, except that one silent for over `stale_after`
    seconds, or on this host with its process gone, is `dead` (its row says
    `recorded_state`). `uptime` of one that stopped is how long it ran; of one that died,
    how long it ran at least (to its last heartbeat: when it died is not known), and
    `uptime_known` is False. `runners` are the jobs the database says it holds, with their
    figures from its last heartbeat (None for a job started since).

    A dead supervisor is listed while it holds jobs (until a peer or `jobs reclaim` takes them
    back); after that, like a stopped one, only with `include_stopped` (`ps --all`), until
    its row is deleted a day on (forget_workers).
    """
    with dict_cursor(conn) as cur:
        cur.execute(SQL["workers"], {"all": include_stopped, "host": host})
        rows = [dict(row) for row in cur.fetchall()]
    here = host_key()
    shown = []
    for row in rows:
        row["recorded_state"] = row["state"]
        row["state"] = _state(row, stale_after, here)
        live = row["state"] in LIVE
        if not live:  # its last heartbeat (or its stop) ended its run
            row["uptime"] = max(0.0, row["uptime"] - row["heartbeat_age"])
        row["uptime_known"] = row["state"] != "dead"
        since_heartbeat = row["heartbeat_age"] if live else 0.0
        row["runners"] = _runners(row.pop("held"), row["runners"] or [], since_heartbeat)
        row["running"] = len(row["runners"])
        del row["host_key"], row["process_started"]
        if include_stopped or row["state"] != "dead" or row["runners"]:
            shown.append(row)
    return shown


def uptime_text(worker: dict[str, Any]) -> str:
    """`12.5s`; `≥12.5s` for a dead supervisor (it ran until some time after its last
    heartbeat); `-` for one that died before its first heartbeat after its start."""
    if worker["uptime_known"]:
        return human(worker["uptime"])
    return f"≥{human(worker['uptime'])}" if worker["uptime"] >= 0.05 else "-"


def _state(row: dict[str, Any], stale_after: float, here: str) -> str:
    if row["state"] not in LIVE:
        return str(row["state"])
    if row["heartbeat_age"] > stale_after:
        return "dead"
    if row["host_key"] == here and not process_alive(row["pid"], row["process_started"]):
        return "dead"  # on this host, a gone process needs no waiting for its heartbeat
    return str(row["state"])


FIGURES = ("rss_mb", "peak_rss_mb", "memory_limit_mb", "cpu_seconds", "cpu_percent")


def _runners(
    held: list[dict[str, Any]], sampled: list[dict[str, Any]], since_heartbeat: float
) -> list[dict[str, Any]]:
    """Each held job, with its runner's figures from the last heartbeat where there are any."""
    figures = {f.get("job_id"): f for f in sampled}
    runners = []
    for job in held:
        found = figures.get(job["job_id"])
        if found is not None:
            pid = found.get("pid") or job["pid"]
            runners.append(_runner(found, since_heartbeat) | {"pid": pid})
            continue
        elapsed = None if job["elapsed"] is None else round(job["elapsed"], 1)
        runners.append(job | {"elapsed": elapsed} | dict.fromkeys(("max_attempts", *FIGURES)))
    return runners


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
