"""The supervisor's database connection: LISTEN, notifications, and reconnect with backoff.

A lost connection never stops the supervisor: `call` raises `Unavailable`, the loop goes on
(runners keep running, results wait in memory) and `reconnect` tries again on a backoff.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions
from loguru import logger

from supervisor.config import DatabaseConfig
from supervisor.db import Backoff, Connection, close_quietly, connect, describe, mask_url
from supervisor.errors import DatabaseError
from supervisor.metrics import METRICS

T = TypeVar("T")

CHANNELS = ("jobsup_pending", "jobsup_control")


class Unavailable(Exception):
    """There is no database connection right now."""


class Session:
    def __init__(
        self,
        url: str,
        config: DatabaseConfig,
        selector: selectors.BaseSelector,
        listen: bool,
        on_connect: Callable[[Connection], None],
    ) -> None:
        self.url = url
        self.config = config
        self.selector = selector
        self.listen = listen
        self.on_connect = on_connect
        self.conn: Connection | None = None
        self.backoff = Backoff(base=0.5, maximum=30.0)
        self.retry_at = 0.0
        # Unregister by this number: a broken connection cannot tell its fd any more.
        self._registered_fd: int | None = None

    @property
    def connected(self) -> bool:
        return self.conn is not None

    def open(self) -> None:
        """Connect now; DatabaseError when that fails."""
        conn = connect(
            self.url,
            statement_timeout=self.config.statement_timeout,
            connect_timeout=self.config.connect_timeout,
            synchronous_commit=self.config.synchronous_commit,
        )
        try:
            if self.listen:
                with conn.cursor() as cur:
                    for channel in CHANNELS:
                        cur.execute(f"LISTEN {channel}")
            self.on_connect(conn)
        except psycopg2.Error as e:
            close_quietly(conn)
            raise DatabaseError(f"database {mask_url(self.url)}: {describe(e)}") from None
        self.conn = conn
        self.backoff.reset()
        if self.listen:
            self._registered_fd = conn.fileno()
            self.selector.register(self._registered_fd, selectors.EVENT_READ, self)

    def reconnect(self, now: float) -> bool:
        """Try to connect again if the backoff allows it now; True once connected."""
        if self.conn is not None:
            return True
        if now < self.retry_at:
            return False
        try:
            self.open()
        except DatabaseError as e:
            self._schedule_retry(now, str(e))
            return False
        METRICS.reconnected()
        logger.success("database connection re-established")
        return True

    def call(self, action: Callable[..., T], *args: Any) -> T:
        """`action(conn, *args)`; Unavailable when there is no connection or it was just lost."""
        if self.conn is None:
            raise Unavailable
        try:
            return action(self.conn, *args)
        except psycopg2.Error as e:
            if self.conn.closed:
                self.lost(e)
                raise Unavailable from None
            raise

    def poll(self) -> None:
        """Collect the notifications that arrived (call when the socket is readable)."""
        if self.conn is None:
            return
        try:
            self.conn.poll()
        except psycopg2.Error as e:
            self.lost(e)

    def take_notifies(self) -> list[psycopg2.extensions.Notify]:
        """The notifications received since the last call."""
        if self.conn is None or not self.conn.notifies:
            return []
        notifies = list(self.conn.notifies)
        self.conn.notifies.clear()
        return notifies

    def lost(self, error: BaseException) -> None:
        """Forget the broken connection; the next `reconnect` opens a new one."""
        if self.conn is None:
            return
        self.close()
        self._schedule_retry(time.monotonic(), f"database connection lost: {describe(error)}")

    def close(self) -> None:
        if self._registered_fd is not None:
            self.selector.unregister(self._registered_fd)
            self._registered_fd = None
        close_quietly(self.conn)
        self.conn = None

    def _schedule_retry(self, now: float, why: str) -> None:
        delay = self.backoff.next_delay()
        self.retry_at = now + delay
        logger.warning("{}; retrying in {:.1f} s", why, delay)
