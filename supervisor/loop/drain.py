"""Whether the supervisor still claims, and how it stops.

A stop signal drains: no more claims, and the runners may finish until `drain_timeout`;
a second stop signal, or the drain's deadline, ends them (SIGTERM, SIGKILL `kill_timeout`
later). A batch run (--max-jobs, --until-empty) drains itself once its work is done. The
loop ends when a drain has no runner left.
"""

from __future__ import annotations

import enum

from loguru import logger


class State(enum.Enum):
    RUNNING = "running"
    DRAINING = "draining"  # no more claims; the loop ends when the last runner has


class Drain:
    def __init__(self) -> None:
        self.state = State.RUNNING
        self.deadline: float | None = None  # monotonic: the runners still alive are ended

    @property
    def running(self) -> bool:
        return self.state is State.RUNNING

    def begin(self, why: str, deadline: float | None = None) -> None:
        """Claim no more; with `deadline`, end the runners still alive then."""
        self.state = State.DRAINING
        if deadline is not None:
            self.deadline = deadline
        logger.info(why)

    def overdue(self, now: float, running: int) -> bool:
        """Whether the drain's deadline has just passed: the runners are to be ended (once)."""
        if self.deadline is None or now < self.deadline:
            return False
        logger.warning("drain timeout: terminating {} runners", running)
        self.deadline = None
        return True

    def batch_done(self, max_jobs: int | None, ended: int) -> bool:
        """--max-jobs: whether to drain now that `ended` attempts have ended (`Counts.ended`:
        one taken away, by the seed's reset SQL, a reclaim or a cancel, or cut short does not
        count, and another job is claimed in its place)."""
        return bool(max_jobs and self.running and ended >= max_jobs)
