"""The supervisor's database connection, on a thread of its own: the loop never blocks on
the network.

The loop hands the thread one request at a time (`submit`): a function to call with the
connection. The thread connects when it has none (LISTEN, then `on_connect`), calls the
function, and posts the result back; a byte on a pipe wakes the loop's selector. Between
requests it waits on the connection for notifications and posts them too. Only the thread
ever touches the connection.

A request that outlives its deadline (a black-holed network, a frozen server) has the
connection's socket shut down: the call blocked in the thread fails at once, and the
thread reports the connection lost. Keepalives and `tcp_user_timeout` bound what the
deadline does not see (a half-open connection between requests).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg2
import psycopg2.extensions

from supervisor.config import DatabaseConfig
from supervisor.db.connect import Connection, close_quietly, connect, mask_url
from supervisor.errors import DatabaseError, describe
from supervisor.loop.signals import HANDLED

CHANNELS = ("jobsup_pending", "jobsup_control")
MARGIN = 5.0  # seconds a request may take beyond the statement timeout before it is cut
T = TypeVar("T")


class Unavailable(Exception):
    """There is no database connection: it could not be made, or was lost during the call."""


class Cancelled(Exception):
    """`Database.call` gave up waiting: its `cancel` said so."""


@dataclass
class Request(Generic[T]):
    """One call for the thread: `action` with the connection (None: just connect). Its
    answer comes back as a `Done[T]` naming this request: the loop knows who asked."""

    name: str  # what the loop logs about it
    action: Callable[[Connection], T] | None
    deadline: float = 0.0  # monotonic; set by `submit`


@dataclass(frozen=True)
class Done(Generic[T]):
    """The end of a request: its value, or the error it raised (Unavailable when there is
    no connection; a psycopg2.Error the server sent; anything else is a bug)."""

    request: Request[T]
    value: T | None = None
    error: BaseException | None = None
    connection: int = 0  # which connection served it: a new number means a new connection

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> T:
        """The value of a request that went through (`ok`)."""
        assert self.error is None  # nosec B101  # a bug to ask a failed request's value
        return self.value  # type: ignore[return-value]  # None only when T admits it


@dataclass(frozen=True)
class Lost:
    """The connection broke between requests (seen while waiting for notifications)."""

    reason: str


Event = Done[Any] | Lost | psycopg2.extensions.Notify


@dataclass
class _Thread:
    """What only the thread touches."""

    conn: Connection | None = None
    listener: Connection | None = None  # behind a transaction pooler: LISTEN's own, direct
    number: int = 0  # connections made so far
    sock: socket.socket | None = None  # a duplicate of the connection's socket, to cut it
    lock: threading.Lock = field(default_factory=threading.Lock)


class Database:
    def __init__(
        self,
        url: str,
        config: DatabaseConfig,
        listen: bool,
        on_connect: Callable[[Connection], None],
        application_name: str,
    ) -> None:
        self.url = url
        self.config = config
        self.listen = listen
        self.on_connect = on_connect  # runs on the thread, on each new connection
        self.application_name = application_name
        self.in_flight: Request[Any] | None = None
        self._requests: queue.SimpleQueue[Request[Any] | None] = queue.SimpleQueue()
        self._events: deque[Event] = deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # thread → loop
        self._poke_r, self._poke_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # loop → thread
        self._own = _Thread()
        self._thread = threading.Thread(target=self._serve, name="jobsup-database", daemon=True)
        self._cut = False

    # -- the loop's side -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def fileno(self) -> int:
        """Readable when events wait: register it with the loop's selector."""
        return self._wake_r

    @property
    def connection_number(self) -> int:
        """The number of the connection made last (0: none yet)."""
        return self._own.number

    @property
    def idle(self) -> bool:
        return self.in_flight is None

    def submit(self, request: Request[Any], now: float) -> None:
        """Hand `request` to the thread; its Done comes back through `events`."""
        assert self.in_flight is None, "one request at a time"  # nosec B101  # a bug if not
        connecting = self.config.connect_timeout if self._own.conn is None else 0.0
        request.deadline = now + connecting + self.config.statement_timeout + MARGIN
        self.in_flight = request
        self._cut = False
        self._requests.put(request)
        _poke(self._poke_w)

    def events(self) -> list[Event]:
        """What the thread posted since the last call, in order."""
        _drain(self._wake_r)
        events = []
        while self._events:
            event = self._events.popleft()
            if isinstance(event, Done) and event.request is self.in_flight:
                self.in_flight = None
            events.append(event)
        return events

    def overdue(self, now: float) -> Request[Any] | None:
        """The request in flight if it has outlived its deadline; its connection is cut, so
        it ends (Unavailable) as soon as the thread sees it."""
        request = self.in_flight
        if request is None or now < request.deadline or self._cut:
            return None
        self._cut = True
        with self._own.lock:
            if self._own.sock is not None:
                with contextlib.suppress(OSError):
                    self._own.sock.shutdown(socket.SHUT_RDWR)
        return request

    def call(
        self,
        name: str,
        action: Callable[[Connection], T] | None,
        timeout: float,
        cancel: tuple[int, Callable[[], bool]] | None = None,
    ) -> T | None:
        """Run `action` and wait for it (start-up and shutdown only: the loop is not running).
        Unavailable or the error it raised; events that arrive meanwhile are kept. `cancel`:
        an fd that turns readable when its function may have become true, which then raises
        Cancelled (the request goes on; `close` ends it)."""
        box: list[Done[T]] = []
        request = Request(name, action)
        self.submit(request, time.monotonic())
        deadline = time.monotonic() + timeout
        kept: list[Event] = []
        while not box:
            wait = deadline - time.monotonic()
            if wait <= 0:
                self.overdue(float("inf"))
                raise Unavailable(f"{name}: no answer from the database in {timeout:g} s")
            watched = [self._wake_r] if cancel is None else [self._wake_r, cancel[0]]
            select.select(watched, [], [], wait)
            if cancel is not None and cancel[1]():
                raise Cancelled(name)
            for event in self.events():
                if isinstance(event, Done) and event.request is request:
                    box.append(event)
                else:
                    kept.append(event)
        self._events.extendleft(reversed(kept))
        if kept:
            _poke(self._wake_w)
        if box[0].error is not None:
            raise box[0].error
        return box[0].value

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the connection (a thread stuck in a connect attempt is
        left behind: it is a daemon, and ends with the process)."""
        self._requests.put(None)
        _poke(self._poke_w)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            for fd in (self._wake_r, self._wake_w, self._poke_r, self._poke_w):
                os.close(fd)

    # -- the thread's side ---------------------------------------------------------------

    def _serve(self) -> None:
        # Signals are the loop's: never interrupt this thread's calls, always wake the loop.
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            while (request := self._next_request()) is not None:
                done = self._execute(request)
                listening = self._listening()
                if listening is not None:  # what arrived while the request ran
                    self._take_notifications(listening, poll=listening is self._own.listener)
                self._post(done)
        finally:
            self._drop()

    def _next_request(self) -> Request[Any] | None:
        """The next request; while there is none, notifications are collected and posted."""
        while True:
            try:
                return self._requests.get_nowait()
            except queue.Empty:
                pass
            conn = self._listening()
            watch = [self._poke_r] + ([conn.fileno()] if conn is not None else [])
            readable, _, _ = select.select(watch, [], [])
            if self._poke_r in readable:
                _drain(self._poke_r)
            if conn is not None and conn.fileno() in readable:
                self._take_notifications(conn, poll=True)

    def _listening(self) -> Connection | None:
        """The connection notifications arrive on (None: not listening)."""
        if not self.listen or self._own.conn is None:
            return None
        return self._own.listener or self._own.conn

    def _take_notifications(self, conn: Connection, poll: bool) -> None:
        try:
            if poll:
                conn.poll()
        except psycopg2.Error as e:
            self._drop()
            self._post(Lost(describe(e)))
            return
        while conn.notifies:
            self._post(conn.notifies.pop(0))

    def _execute(self, request: Request[Any]) -> Done[Any]:
        if self._own.conn is None:
            try:
                self._connect()
            except DatabaseError as e:
                return Done(request, error=Unavailable(str(e)))
        conn = self._own.conn
        assert conn is not None  # nosec B101  # narrows the type: connected just above
        number = self._own.number
        try:
            value = request.action(conn) if request.action is not None else None
        except psycopg2.Error as e:
            if conn.closed:
                self._drop()
                return Done(request, error=Unavailable(describe(e)))
            return Done(request, error=e, connection=number)
        except Exception as e:  # a bug in what the loop asked: the loop reports it
            return Done(request, error=e, connection=number)
        if conn.closed:  # lost after the action had what it needed: the next one reconnects
            self._drop()
        return Done(request, value, connection=number)

    def _connect(self) -> None:
        """A new connection, listening and set up by `on_connect`; DatabaseError if not."""
        conn = self._connection(self.url, self.config.pooler)
        listener = None
        try:
            if self.listen and self.config.pooler == "transaction":  # LISTEN needs a session
                listener = self._connection(self.config.listen_url, "none")
            if self.listen:
                with (listener or conn).cursor() as cur:
                    for channel in CHANNELS:
                        cur.execute(f"LISTEN {channel}")
            self.on_connect(conn)
        except psycopg2.Error as e:
            close_quietly(conn)
            close_quietly(listener)
            raise DatabaseError(f"database {mask_url(self.url)}: {describe(e)}") from None
        except DatabaseError:
            close_quietly(conn)
            close_quietly(listener)
            raise
        with self._own.lock:
            self._own.listener = listener
            self._own.conn = conn
            self._own.number += 1
            self._own.sock = socket.socket(fileno=os.dup(conn.fileno()))

    def _connection(self, url: str, pooler: str) -> Connection:
        return connect(
            url,
            statement_timeout=self.config.statement_timeout,
            connect_timeout=self.config.connect_timeout,
            synchronous_commit=self.config.synchronous_commit,
            application_name=self.application_name,
            pooler=pooler,
        )

    def _drop(self) -> None:
        with self._own.lock:
            if self._own.sock is not None:
                self._own.sock.close()
            close_quietly(self._own.conn)
            close_quietly(self._own.listener)
            self._own.conn = self._own.sock = self._own.listener = None

    def _post(self, event: Event) -> None:
        self._events.append(event)
        _poke(self._wake_w)


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):  # full: a wake-up is already pending; closed: gone
        os.write(fd, b"\0")


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass
