"""The dashboard's database connections: a few kept for reading, a fresh one per action.

Reading connections are autocommit and read-only (`default_transaction_read_only`): every
query is its own short transaction, so a page never holds a lock past its statement nor
leaves a session idle in a transaction, and a bug in a page cannot write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

from supervisor.config import Config
from supervisor.db.connect import Connection, close_quietly, connect

APPLICATION_NAME = "jobsup-web"


class Connections:
    def __init__(self, cfg: Config, url: str, size: int = 4) -> None:
        self.cfg = cfg
        self.url = url
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)  # requests beyond `size` wait

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only connection for one request (DatabaseError when none can be had)."""
        with self._slots:
            conn = self._take() or self._connect(read_only=True)
            try:
                yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                close_quietly(conn)  # the connection may be gone: do not keep it
                raise
            self._give_back(conn)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection of its own for one action, closed after it."""
        conn = self._connect(read_only=False)
        try:
            yield conn
        finally:
            close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            close_quietly(conn)

    def _take(self) -> Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: Connection) -> None:
        if (
            conn.closed
            or conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE
        ):
            close_quietly(conn)
            return
        with self._lock:
            self._idle.append(conn)

    def _connect(self, read_only: bool) -> Connection:
        db = self.cfg.database
        conn = connect(self.url, statement_timeout=db.statement_timeout,
                       connect_timeout=db.connect_timeout,
                       application_name=APPLICATION_NAME, pooler=db.pooler)  # fmt: skip
        if db.pooler == "transaction":  # a SET would stay on a server connection others get
            return conn
        with conn.cursor() as cur:
            # Every query here is short: compiling one with JIT (which a server may enable,
            # misled by an estimate) can cost more than a second and saves nothing.
            cur.execute("SET jit = off")
            if read_only:
                cur.execute("SET default_transaction_read_only = on")
        return conn
