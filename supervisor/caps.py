"""Cluster-wide caps: `[job_types.<name>] max_running = N`, enforced in the claim.

How (see `claim_lock_caps` and `claim` in sql/queries.sql): a supervisor serving capped
types sends, in the one string of its claim, a transaction-level advisory lock per capped
type before the claim statement itself. Claims of a capped type so take turns across
supervisors for the few milliseconds of a claim (never across jobs: the lock goes with the
claim's commit), and each counts the type's running jobs in a snapshot taken after its
turn came, so it sees every job a peer claimed before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from supervisor.config import Config

# pg_advisory_xact_lock(CAP_LOCK, hashtext(job_type)): its own key space beside the
# migration lock's (schema.MIGRATE_LOCK, one bigint).
CAP_LOCK = 0x63617073  # "caps"


def caps(config: Config, job_types: Sequence[str]) -> dict[str, int]:
    """The capped job types among those served: job type: max_running."""
    return {
        name: t.max_running
        for name, t in config.job_types.items()
        if t.max_running and name in job_types
    }


def params(capped: Mapping[str, int] | None) -> dict[str, object]:
    """The caps as the claim's parameters."""
    capped = capped or {}
    return {"cap_lock": CAP_LOCK, "cap_types": list(capped), "cap_limits": list(capped.values())}
