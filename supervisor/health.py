"""Is a supervisor healthy: alive, heartbeating, its database reachable.

Two views of one verdict: `jobsup healthcheck` from outside (the state directory's pidfile,
then the supervisor's row in the database: for Docker HEALTHCHECK and exec probes), and
`GET /healthz` on the metrics listener from inside (the supervisor's own heartbeats: it
heartbeats only while its database connection works).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg2

from supervisor.config import Config, SupervisorConfig
from supervisor.durations import human
from supervisor.errors import DatabaseError, describe
from supervisor.identity import host_key
from supervisor.ops import control, pidfile, report


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str
    pid: int | None = None
    heartbeat_age: float | None = None  # seconds
    # Pending job types no live supervisor serves (`report.unserved`): a warning, not a
    # verdict on this supervisor (restarting it would not help; an orchestrator would).
    unserved: list[dict[str, Any]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per job type no live supervisor serves."""
        return [f"{u['jobs']} pending jobs of {u['job_type']} (oldest {human(u['oldest_age'])}): "
                "no live supervisor serves the type" for u in self.unserved]  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def overdue(sup: SupervisorConfig) -> float:
    """Seconds without a heartbeat after which a supervisor is unhealthy: three heartbeats
    missed, or its lease timeout if that comes first (it then stops claiming)."""
    return min(sup.lease_after, 3 * sup.heartbeat_interval)


def check(cfg: Config, application_name: str = control.CLI) -> Health:
    """The verdict on the supervisor of `cfg`'s state directory, from outside it."""
    pid = pidfile.running(pidfile.path(cfg.state_dir))
    if pid is None:
        return Health(False, f"no supervisor runs from {cfg.state_dir}")
    try:
        with control.running_database(cfg, application_name) as conn:
            if conn is None:
                why = f"the embedded PostgreSQL in {cfg.state_dir} is not running"
                return Health(False, why, pid)
            worker = report.worker_of_pid(conn, host_key(), pid)
            unserved = report.unserved(conn, cfg.supervisor.stale_after)
            refused = read_only(conn)
    except DatabaseError as e:
        return Health(False, str(e), pid)
    except psycopg2.Error as e:
        return Health(False, f"database: {describe(e)}", pid)
    if refused is not None:
        why = (f"the database refuses writes ({refused}): supervisor pid {pid} keeps its "
               "runners and claims nothing until it takes writes again")  # fmt: skip
        return Health(False, why, pid, unserved=unserved)
    if worker is None:
        why = f"supervisor pid {pid} has no live row in jobsup_workers (starting, or declared dead)"
        return Health(False, why, pid)
    who = f"supervisor pid {pid} {worker['state']}"
    stuck = "its database connection is down or its loop is stuck"
    verdict = _judge(worker["heartbeat_age"], overdue(cfg.supervisor), who, stuck, pid)
    return dataclasses.replace(verdict, unserved=unserved)


def of_heartbeats(last: float | None, now: float, limit: float, state: str) -> Health:
    """The verdict from inside: `last` is when the loop last heartbeated (monotonic)."""
    if last is None:
        return Health(False, "starting: no heartbeat yet")
    return _judge(now - last, limit, state, "the database is unreachable")


def _judge(age: float, limit: float, who: str, stuck: str, pid: int | None = None) -> Health:
    if age > limit:
        why = f"{who}: last heartbeat {age:.1f} s ago (limit {limit:g} s): {stuck}"
        return Health(False, why, pid, age)
    return Health(True, f"{who}, heartbeat {age:.1f} s ago, database reachable", pid, age)


def read_only(conn: Any) -> str | None:
    """Why the database refuses writes, when a read can tell (a full disk cannot be seen
    this way: the supervisor's heartbeat then grows old)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
        recovery, read_only = cur.fetchone()
    if recovery:
        return "a standby in recovery: point [database] url at the primary"
    if read_only == "on":
        return "read-only: default_transaction_read_only is on"
    return None
