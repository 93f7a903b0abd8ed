"""What the supervisor tells the world outside: systemd (notify), Prometheus (metrics) and
`ps` (its process title).

Both are optional and neither may stop the supervisor: notify is a no-op without
NOTIFY_SOCKET, metrics a no-op without `[metrics] listen`.
"""

from __future__ import annotations

import selectors
import time

import setproctitle

from supervisor import health
from supervisor import sd_notify as notify
from supervisor.config import Config
from supervisor.metrics import METRICS, MetricsServer, serve
from supervisor.store.statements import Queue

QUEUE_EVERY = 15.0  # seconds between queue-depth queries for the metrics


class Telemetry:
    def __init__(self, config: Config, selector: selectors.BaseSelector) -> None:
        self.server: MetricsServer | None = serve(config.metrics.listen, selector, self.healthz)
        # The loop heartbeats only while its database connection works: the time since the
        # last heartbeat says whether it does.
        self.overdue = health.overdue(config.supervisor)
        self.last_heartbeat: float | None = None
        self.state = "starting"
        self.watchdog_every = notify.watchdog_interval()
        self.next_watchdog = 0.0
        self.next_queue = 0.0

    def ready(self, state: str, running: int, slots: int) -> None:
        """Start-up (or a reload) is done: the database is reached and its schema checked."""
        notify.ready(notify.status_text(state, running, slots))

    def reconfigure(self, config: Config) -> None:
        """SIGHUP: heartbeats are late by the new timers (the listeners stay as started)."""
        self.overdue = health.overdue(config.supervisor)

    def tick(self, now: float, running: int, slots: int) -> None:
        """Every loop turn: the watchdog hears from the loop itself, so a hung loop shows."""
        if self.watchdog_every and now >= self.next_watchdog:
            notify.watchdog()
            self.next_watchdog = now + self.watchdog_every
        METRICS.set_slots(running, slots)

    def deadline(self) -> float | None:
        return self.next_watchdog if self.watchdog_every else None

    def wants_queue(self, now: float) -> bool:
        """Whether the next heartbeat should also count the queue (for the metrics)."""
        if self.server is None or now < self.next_queue:
            return False
        self.next_queue = now + QUEUE_EVERY
        return True

    def heartbeat(
        self, now: float, state: str, running: int, slots: int, queue: Queue | None
    ) -> None:
        self.last_heartbeat, self.state = now, state
        notify.status(notify.status_text(state, running, slots))
        if queue is not None:
            METRICS.set_queue(queue.as_dict())

    def healthz(self) -> tuple[bool, str]:
        """What GET /healthz answers: healthy while heartbeats keep coming."""
        found = health.of_heartbeats(self.last_heartbeat, time.monotonic(), self.overdue,
                                     self.state)  # fmt: skip
        return found.ok, found.reason

    def stopping(self, state: str, running: int, slots: int) -> None:
        notify.stopping(notify.status_text(state, running, slots))

    def reloading(self) -> None:
        notify.reloading()

    def handle(self, fd: int, events: int) -> None:
        if self.server is not None:
            self.server.handle(fd, events)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


_title = ""
# The original cron's process was `python job_cron.py`: its runbook finds it with `ps aux | grep
# job_cron` and `pgrep -f job_cron.py`, and stops it with `pkill -f job_cron.py`. Only the
# supervisor's title carries the name, so that pkill sends SIGTERM to supervisors alone, which
# drain; runners, the fork server and the dashboard never match it.
SEED_NAME = "job_cron.py"


def set_title(config_name: str, running: int, slots: int, state: str) -> None:
    """`jobsup: supervisor job_cron.py [conf/prod.toml] 3/4`, set only when it changes."""
    global _title
    title = f"jobsup: supervisor {SEED_NAME} [{config_name}] {running}/{slots}"
    if state == "draining":
        title += " draining"
    if title != _title:
        setproctitle.setproctitle(title)
        _title = title
