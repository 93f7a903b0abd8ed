"""Is a supervisor healthy: alive, heartbeating, its database reachable.

Two views of one verdict: `jobsup healthcheck` from outside (ops/healthcheck.py: the state
directory's pidfile, then the supervisor's row in the database: for Docker HEALTHCHECK and
exec probes), and `GET /healthz` on the metrics listener from inside (the supervisor's own
heartbeats: it heartbeats only while its database connection works). The verdict and its
wording live here, a leaf, so that the loop's view pulls in no operator code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from supervisor.config import SupervisorConfig
from supervisor.durations import human


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


def of_heartbeats(last: float | None, now: float, limit: float, state: str) -> Health:
    """The verdict from inside: `last` is when the loop last heartbeated (monotonic)."""
    if last is None:
        return Health(False, "starting: no heartbeat yet")
    return judge(now - last, limit, state, "the database is unreachable")


def judge(age: float, limit: float, who: str, stuck: str, pid: int | None = None) -> Health:
    if age > limit:
        why = f"{who}: last heartbeat {age:.1f} s ago (limit {limit:g} s): {stuck}"
        return Health(False, why, pid, age)
    return Health(True, f"{who}, heartbeat {age:.1f} s ago, database reachable", pid, age)
