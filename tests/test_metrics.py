"""The metrics endpoint: Prometheus text from the supervisor's own selector, no thread."""

from __future__ import annotations

import selectors
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from supervisor.errors import ConfigError, JobsupError
from supervisor.metrics import Metrics, MetricsServer, parse_listen, serve

pytestmark = pytest.mark.unit

T = TypeVar("T")


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, selectors.BaseSelector]]:
    selector = selectors.DefaultSelector()
    server = MetricsServer("127.0.0.1:0", selector, Metrics())
    yield server, selector
    server.close()
    selector.close()


def drive(selector: selectors.BaseSelector, client: Callable[[], T]) -> T:
    """Run `client` in a thread (the test's HTTP client) while this thread runs the loop the
    supervisor would: select, then hand each ready fd to its server."""
    with ThreadPoolExecutor(1) as pool:
        future: Future[T] = pool.submit(client)
        while not future.done():
            for key, events in selector.select(0.05):
                key.data.handle(key.fd, events)
        return future.result()


def get(server: MetricsServer, path: str = "/metrics", method: str = "GET") -> Any:
    host, port = server.address
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def test_a_scrape_returns_every_metric(
    served: tuple[MetricsServer, selectors.BaseSelector],
) -> None:
    server, selector = served
    m = server.metrics
    m.claimed("diag.sleep", 2)
    m.finished("diag.sleep", "completed", 1.5)
    m.finished("diag.sleep", "retried", 0.2)
    m.finished("analysis", "failed", 30)
    m.finished("analysis", "interrupted", 3)  # not an outcome that counts
    m.reclaimed("analysis")
    m.killed("analysis", "memory")
    m.killed("diag.sleep", "time")
    m.reconnected()
    m.claim_took(0.004)
    m.set_slots(running=3, slots=4)
    m.set_queue({"runnable": 7, "scheduled": 2, "blocked": 5, "processing": 3,
                 "oldest_pending": 12.5})  # fmt: skip
    status, content_type, body = drive(selector, lambda: get(server))
    assert status == 200 and content_type.startswith("text/plain; version=")
    for line in (
        'jobsup_jobs_claimed_total{type="diag.sleep"} 2.0',
        'jobsup_jobs_completed_total{type="diag.sleep"} 1.0',
        'jobsup_jobs_retried_total{type="diag.sleep"} 1.0',
        'jobsup_jobs_failed_total{type="analysis"} 1.0',
        'jobsup_jobs_reclaimed_total{type="analysis"} 1.0',
        'jobsup_runner_kills_total{reason="memory",type="analysis"} 1.0',
        'jobsup_runner_kills_total{reason="time",type="diag.sleep"} 1.0',
        "jobsup_database_reconnects_total 1.0",
        'jobsup_claim_duration_seconds_bucket{le="0.005"} 1.0',
        'jobsup_job_duration_seconds_bucket{le="2.5",outcome="completed",type="diag.sleep"} 1.0',
        'jobsup_job_duration_seconds_count{outcome="failed",type="analysis"} 1.0',
        "jobsup_runners 3.0",
        "jobsup_slots 4.0",
        "jobsup_slots_free 1.0",
        'jobsup_queue_jobs{status="runnable"} 7.0',
        'jobsup_queue_jobs{status="processing"} 3.0',
        'jobsup_queue_jobs{status="blocked"} 5.0',
        "jobsup_queue_oldest_pending_seconds 12.5",
        "process_resident_memory_bytes",
    ):
        assert line in body, line
    assert "interrupted" not in body


def test_other_paths_and_methods(served: tuple[MetricsServer, selectors.BaseSelector]) -> None:
    server, selector = served
    assert drive(selector, lambda: get(server, "/nope"))[0] == 404
    assert drive(selector, lambda: get(server, "/metrics", "POST"))[0] == 405
    status, _, body = drive(selector, lambda: get(server, "/metrics", "HEAD"))
    assert (status, body) == (200, "")
    assert drive(selector, lambda: get(server, "/?x=1"))[0] == 200
    assert server.clients == {}  # every connection closed after its answer


def test_a_stalled_client_does_not_block_a_scrape_and_a_big_answer_goes_out_in_parts(
    served: tuple[MetricsServer, selectors.BaseSelector],
) -> None:
    server, selector = served
    for n in range(5000):  # some 600 kB: more than one send() takes
        server.metrics.killed(f"type-{n:04d}", "memory")
    stalled = socket.create_connection(server.address)
    stalled.sendall(b"GET /met")  # and never more
    status, _, body = drive(selector, lambda: get(server))
    assert status == 200 and 'type="type-4999"' in body and len(body) > 500_000
    assert len(server.clients) == 1  # the stalled one, still waiting
    stalled.close()
    drive(selector, lambda: get(server, "/"))
    assert server.clients == {}


def test_listen_addresses_and_refusals() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen(":9464") == ("0.0.0.0", 9464)
    for bad in ("9464", "localhost:http", "host:70000"):
        with pytest.raises(ConfigError, match=r"\[metrics\] listen: expected HOST:PORT"):
            parse_listen(bad)
    selector = selectors.DefaultSelector()
    first = MetricsServer("127.0.0.1:0", selector, Metrics())
    busy = f"127.0.0.1:{first.address[1]}"
    with pytest.raises(JobsupError, match=rf"\[metrics\] listen {busy}: Address already in use"):
        MetricsServer(busy, selector, Metrics())
    first.close()
    assert serve("", selector) is None  # [metrics] listen = "": off
    selector.close()


SCRAPE_IN_ONE_THREAD = """
import selectors, socket, threading
from supervisor.metrics import MetricsServer

selector = selectors.DefaultSelector()
server = MetricsServer("127.0.0.1:0", selector)
client = socket.create_connection(server.address)
client.sendall(b"GET /metrics HTTP/1.0\\r\\n\\r\\n")
client.setblocking(False)
reply = b""
for _ in range(400):
    for key, events in selector.select(0.05):
        key.data.handle(key.fd, events)
    try:
        reply += client.recv(65536)
    except BlockingIOError:
        pass
    if reply and not server.clients:
        break
print(threading.active_count(), reply.split(b"\\r\\n")[0].decode())
"""


def test_serving_starts_no_thread() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRAPE_IN_ONE_THREAD], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "1 HTTP/1.0 200 OK", result.stderr


def test_healthz_answers_200_or_503_with_the_reason() -> None:
    selector = selectors.DefaultSelector()
    verdict = (True, "running, heartbeat 0.3 s ago")
    server = MetricsServer("127.0.0.1:0", selector, Metrics(), health=lambda: verdict)
    assert drive(selector, lambda: get(server, "/healthz")) == (
        200, "text/plain", "ok: running, heartbeat 0.3 s ago\n",
    )  # fmt: skip
    verdict = (False, "starting: no heartbeat yet")
    assert drive(selector, lambda: get(server, "/healthz"))[::2] == (
        503, "unhealthy: starting: no heartbeat yet\n",
    )  # fmt: skip
    server.close()
    plain = MetricsServer("127.0.0.1:0", selector, Metrics())
    assert drive(selector, lambda: get(plain, "/healthz"))[0] == 404  # no check: no endpoint
    plain.close()
    selector.close()
