"""`jobsup healthcheck`: the verdict on a supervisor from outside it, by its state
directory's pidfile and then its row in the database (for Docker HEALTHCHECK and exec
probes). The verdict itself, shared with the loop's GET /healthz, is `supervisor.health`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg2

from supervisor import health
from supervisor.config import Config
from supervisor.errors import DatabaseError, describe
from supervisor.identity import host_key
from supervisor.ops import control, pidfile, report


def check(cfg: Config, application_name: str = control.CLI) -> health.Health:
    """The verdict on the supervisor of `cfg`'s state directory, from outside it."""
    pid = pidfile.running(pidfile.path(cfg.state_dir))
    if pid is None:
        return health.Health(False, f"no supervisor runs from {cfg.state_dir}")
    try:
        with control.running_database(cfg, application_name) as conn:
            if conn is None:
                why = f"the embedded PostgreSQL in {cfg.state_dir} is not running"
                return health.Health(False, why, pid)
            worker = report.worker_of_pid(conn, host_key(), pid)
            unserved = report.unserved(conn, cfg.supervisor.stale_after)
            refused = read_only(conn)
    except DatabaseError as e:
        return health.Health(False, str(e), pid)
    except psycopg2.Error as e:
        return health.Health(False, f"database: {describe(e)}", pid)
    if refused is not None:
        why = (f"the database refuses writes ({refused}): supervisor pid {pid} keeps its "
               "runners and claims nothing until it takes writes again")  # fmt: skip
        return health.Health(False, why, pid, unserved=unserved)
    if worker is None:
        why = f"supervisor pid {pid} has no live row in jobsup_workers (starting, or declared dead)"
        return health.Health(False, why, pid)
    who = f"supervisor pid {pid} {worker['state']}"
    stuck = "its database connection is down or its loop is stuck"
    verdict = health.judge(worker["heartbeat_age"], health.overdue(cfg.supervisor), who, stuck, pid)
    return dataclasses.replace(verdict, unserved=unserved)


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
