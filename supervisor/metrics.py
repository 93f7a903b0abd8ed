"""Prometheus metrics (`[metrics] listen = "127.0.0.1:9464"`), served from the supervisor's
own selector loop.

No thread of its own (prometheus_client's start_http_server runs one): the loop already
waits on everything it serves, and a scrape served there reads the loop's figures between
two turns, never halfway through one. The listening socket and each scrape connection are
non-blocking and registered with the supervisor's selector; the loop calls
`MetricsServer.handle(fd, events)` when one is ready. A scrape costs one `generate_latest()`
of a few kilobytes.

The loop reports events through the module-level `METRICS` (counters cost a dict lookup
and an addition; they are kept whether or not anything serves them).
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from supervisor.errors import ConfigError, JobsupError

DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
OUTCOMES = ("completed", "failed", "retried")


class Metrics:
    """Every metric jobsup exports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # the supervisor's own CPU, memory, fds
        r = self.registry
        self.jobs = {
            event: Counter(f"jobsup_jobs_{event}", f"Jobs {event}, by job type.", ["type"],
                           registry=r)
            for event in ("claimed", *OUTCOMES, "reclaimed")
        }  # fmt: skip
        self.kills = Counter("jobsup_runner_kills", "Runners killed by the supervisor, by job "
                             "type and reason (memory, time, soft_time, processes, cancelled, "
                             "lost, shutdown).", ["type", "reason"], registry=r)  # fmt: skip
        self.reconnects = Counter("jobsup_database_reconnects",
                                  "Database connections re-established after a loss.",
                                  registry=r)  # fmt: skip
        self.claim_seconds = Histogram("jobsup_claim_duration_seconds",
                                       "Time one claim statement took.",
                                       buckets=CLAIM_BUCKETS, registry=r)  # fmt: skip
        self.job_seconds = Histogram("jobsup_job_duration_seconds", "Run time of an attempt, "
                                     "by job type and outcome (completed, failed, retried).",
                                     ["type", "outcome"], buckets=DURATION_BUCKETS,
                                     registry=r)  # fmt: skip
        self.pruned = Counter("jobsup_jobs_pruned", "Finished jobs deleted by the retention "
                                   "policy ([retention]), by status.", ["status"],
                                   registry=r)  # fmt: skip
        self.runners = Gauge("jobsup_runners", "Runners alive now.", registry=r)
        self.slots = Gauge("jobsup_slots", "Runner slots (concurrency).", registry=r)
        self.free_slots = Gauge("jobsup_slots_free", "Slots with no runner.", registry=r)
        self.queue_jobs = Gauge("jobsup_queue_jobs", "Jobs in the queue by status: runnable "
                                "and scheduled are pending now and later, blocked "
                                "pending until their parents end.", ["status"],
                                registry=r)  # fmt: skip
        self.oldest_pending = Gauge("jobsup_queue_oldest_pending_seconds",
                                    "How long the longest-waiting runnable job has waited.",
                                    registry=r)  # fmt: skip
        self.rate_limit = Gauge("jobsup_rate_limit_per_second", "A rate-limited job type's "
                                "limit, in starts per second.", ["type"], registry=r)  # fmt: skip
        self.rate_started = Gauge("jobsup_rate_limit_started", "Jobs of a rate-limited type "
                                  "started within its period up to now.", ["type"],
                                  registry=r)  # fmt: skip
        self.rate_waiting = Gauge("jobsup_rate_limit_waiting", "Runnable jobs of a "
                                  "rate-limited type held back by its limit now.", ["type"],
                                  registry=r)  # fmt: skip
        self.paused = Gauge("jobsup_job_type_paused", "1 for each paused job type ('*': all).",
                            ["type"], registry=r)  # fmt: skip

    def claimed(self, job_type: str, count: int = 1) -> None:
        self.jobs["claimed"].labels(job_type).inc(count)

    def finished(self, job_type: str, outcome: str, seconds: float | None = None) -> None:
        """An attempt ended `completed`, `failed` (no retry) or `retried`; other outcomes
        (interrupted by shutdown) are not counted."""
        if outcome not in OUTCOMES:
            return
        self.jobs[outcome].labels(job_type).inc()
        if seconds is not None:
            self.job_seconds.labels(job_type, outcome).observe(seconds)

    def reclaimed(self, job_type: str, count: int = 1) -> None:
        self.jobs["reclaimed"].labels(job_type).inc(count)

    def pruned_jobs(self, status: str, count: int) -> None:
        self.pruned.labels(status).inc(count)

    def killed(self, job_type: str, reason: str) -> None:
        self.kills.labels(job_type, reason).inc()

    def reconnected(self) -> None:
        self.reconnects.inc()

    def claim_took(self, seconds: float) -> None:
        self.claim_seconds.observe(seconds)

    def set_slots(self, running: int, slots: int) -> None:
        self.runners.set(running)
        self.slots.set(slots)
        self.free_slots.set(max(0, slots - running))

    def set_queue(self, counts: Mapping[str, Any]) -> None:
        """From `report.queue(conn).as_dict()`: runnable, scheduled, blocked, processing,
        oldest, rate_limits."""
        for status in ("runnable", "scheduled", "blocked", "processing"):
            self.queue_jobs.labels(status).set(counts.get(status) or 0)
        self.oldest_pending.set(counts.get("oldest_pending") or 0)
        self.set_rate_limits(counts.get("rate_limits") or [])

    def set_rate_limits(self, windows: Sequence[Mapping[str, Any]]) -> None:
        """From `store.rate_limits(conn)`: each rate-limited type's limit and windows."""
        for gauge in (self.rate_limit, self.rate_started, self.rate_waiting):
            gauge.clear()
        for w in windows:
            self.rate_limit.labels(w["job_type"]).set(w["max_starts"] / w["period"])
            self.rate_started.labels(w["job_type"]).set(w["started"])
            self.rate_waiting.labels(w["job_type"]).set(w["waiting"])

    def set_paused(self, job_types: Sequence[str]) -> None:
        """The paused job types ('*': all), as `jobsup_job_type_paused{type} 1`."""
        self.paused.clear()
        for job_type in job_types:
            self.paused.labels(job_type).set(1)

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


METRICS = Metrics()

MAX_REQUEST = 8192
# `listen = ":9464"` asks for every address, as conf/prod.toml says.
EVERY_ADDRESS = "0.0.0.0"  # nosec B104
MAX_CLIENTS = 16  # a scraper that opens more loses its oldest connection


@dataclass
class _Client:
    sock: socket.socket
    fd: int  # kept: a closed socket forgets its number
    request: bytearray = field(default_factory=bytearray)
    response: bytes = b""


# (healthy, why): what GET /healthz answers, 200 or 503.
HealthCheck = Callable[[], tuple[bool, str]]


class MetricsServer:
    """A minimal HTTP/1.0 server for GET /metrics (and /healthz with a `health` check),
    driven by the caller's selector."""

    def __init__(
        self,
        listen: str,
        selector: selectors.BaseSelector,
        metrics: Metrics = METRICS,
        health: HealthCheck | None = None,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.selector = selector
        self.listener = _bind(listen)
        self.clients: dict[int, _Client] = {}
        selector.register(self.listener, selectors.EVENT_READ, self)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    def fds(self) -> list[int]:
        """Every descriptor the server holds (a forked child should close them)."""
        return [self.listener.fileno(), *self.clients]

    def handle(self, fd: int, events: int = selectors.EVENT_READ) -> None:
        """Do what is ready on `fd` (the listener or a scrape); never blocks, never raises
        on a client's misbehaviour."""
        if fd == self.listener.fileno():
            self._accept()
            return
        client = self.clients.get(fd)
        if client is None:
            return
        try:
            if events & selectors.EVENT_READ and not client.response:
                self._read(client)
            if client.response:
                self._write(client)
        except OSError:
            self._close(client)

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._close(client)
        self.selector.unregister(self.listener)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. EMFILE: the scrape waits in the backlog
                return
            if len(self.clients) >= MAX_CLIENTS:
                self._close(next(iter(self.clients.values())))
            sock.setblocking(False)
            self.clients[sock.fileno()] = _Client(sock, sock.fileno())
            self.selector.register(sock, selectors.EVENT_READ, self)

    def _read(self, client: _Client) -> None:
        data = client.sock.recv(MAX_REQUEST)
        if not data:
            self._close(client)
            return
        client.request += data
        if b"\r\n\r\n" in client.request or b"\n\n" in client.request:
            client.response = self._respond(bytes(client.request))
        elif len(client.request) > MAX_REQUEST:
            client.response = _reply(431, "Request Header Fields Too Large", b"")

    def _respond(self, request: bytes) -> bytes:
        method, _, rest = request.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        head_only = method == b"HEAD"
        if method not in (b"GET", b"HEAD"):
            return _reply(405, "Method Not Allowed", b"GET /metrics\n")
        if path == b"/healthz" and self.health is not None:
            ok, why = self.health()
            code, reason = (200, "OK") if ok else (503, "Service Unavailable")
            body = f"{'ok' if ok else 'unhealthy'}: {why}\n".encode()
            return _reply(code, reason, body, head_only=head_only)
        if path not in (b"/metrics", b"/"):
            return _reply(404, "Not Found", b"jobsup serves /metrics and /healthz\n")
        body = self.metrics.text()
        return _reply(200, "OK", body, CONTENT_TYPE_LATEST, head_only=head_only)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.response)
        except BlockingIOError:
            sent = 0
        client.response = client.response[sent:]
        if client.response:  # the rest when the socket can take it
            self.selector.modify(client.sock, selectors.EVENT_WRITE, self)
        else:
            self._close(client)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.fd, None)
        with suppress(KeyError, ValueError):
            self.selector.unregister(client.fd)
        client.sock.close()


def serve(
    listen: str, selector: selectors.BaseSelector, health: HealthCheck | None = None
) -> MetricsServer | None:
    """A server for `[metrics] listen` registered with `selector`; None when listen is ""."""
    return MetricsServer(listen, selector, health=health) if listen else None


def _reply(
    code: int, reason: str, body: bytes, content_type: str = "text/plain", head_only: bool = False
) -> bytes:
    head = (
        f"HTTP/1.0 {code} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + (b"" if head_only else body)


def parse_listen(
    listen: str, key: str = "[metrics] listen", example: str = "127.0.0.1:9464"
) -> tuple[str, int]:
    """`127.0.0.1:9464`, `[::1]:9464` or `:9464` (every address) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key}: expected HOST:PORT, e.g. {example}, got {listen!r}")
    return host.strip("[]") or EVERY_ADDRESS, int(port)


def _bind(listen: str) -> socket.socket:
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=16)
    except OSError as e:
        raise JobsupError(f"[metrics] listen {listen}: {e.strerror or e}") from None
    sock.setblocking(False)
    return sock
