"""A database that answers but refuses writes (read-only: `default_transaction_read_only`, a
standby reached by mistake; a full disk), as the loop sees it: not an outage, so runners go
on and their outcomes wait; no claims meanwhile; said in one line a minute, not per request.
"""

from __future__ import annotations

from loguru import logger

from supervisor.durations import human

SAY_EVERY = 60.0  # seconds between two lines about the same refusal


class WriteRefusal:
    def __init__(self) -> None:
        self.since: float | None = None  # monotonic; None: writes go through
        self.said = 0.0

    @property
    def active(self) -> bool:
        return self.since is not None

    def refused(self, now: float, why: str, running: int, waiting: int) -> None:
        """A write was refused (`why`): say so at once, then once a minute."""
        if self.since is None:
            self.since = now
        elif now - self.said < SAY_EVERY:
            return
        self.said = now
        logger.error(
            "the database refuses writes for {} ({}): claiming nothing; {} runners go on, {} "
            "results wait to be written",
            human(now - self.since), why, running, waiting,
        )  # fmt: skip

    def accepted(self, now: float) -> bool:
        """A write went through: whether that ends a refusal."""
        if self.since is None:
            return False
        logger.success("the database accepts writes again (refused for {})",
                       human(now - self.since))  # fmt: skip
        self.since = None
        return True
