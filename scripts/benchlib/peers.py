"""The peers of issue 28, run beside jobsup in the same benchmark on the same server, each
on the same no-op job: PgQueuer (batch 1 and 10, and its pickup latency), Procrastinate,
Celery with reused prefork children (a private redis-server) and RQ (a process per job, a
private redis-server). Installed with the optional extra `bench`; a peer not installed is
skipped with one line.

Each rate is jobs / (the first job's start to the end of the run), the jobs enqueued before
the worker starts, as jobsup's throughput is measured."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PEERS = ("pgqueuer", "procrastinate", "celery", "rq")


def missing(peer: str) -> str | None:
    """Why `peer` cannot run here (one line), None when it can."""
    modules = {"pgqueuer": ("pgqueuer", "asyncpg")}.get(peer, (peer,))
    if any(importlib.util.find_spec(module) is None for module in modules):
        return f"{peer}: not installed (pip install -e '.[bench]'): skipped"
    if peer in ("celery", "rq") and shutil.which("redis-server") is None:
        return f"{peer}: no redis-server on PATH: skipped"
    return None


# -- PgQueuer ------------------------------------------------------------------------------


async def _pgqueuer_setup(url: str) -> tuple[object, object]:
    """A connection and PgQueuer's driver on it (asyncpg: its recommended driver), with
    PgQueuer's schema installed afresh."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(url)
    driver = AsyncpgDriver(conn)
    queries = Queries(driver)
    with contextlib.suppress(Exception):
        await queries.uninstall()
    await queries.install()
    return conn, driver


async def _pgqueuer_rate(url: str, jobs: int, batch: int) -> float:
    from pgqueuer import Queries, QueueManager
    from pgqueuer.types import QueueExecutionMode

    conn, driver = await _pgqueuer_setup(url)
    try:
        manager = QueueManager(Queries(driver))  # type: ignore[arg-type]
        starts: list[float] = []

        @manager.entrypoint("noop")
        async def noop(job: object) -> None:
            starts.append(time.time())

        await Queries(driver).enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)  # type: ignore[arg-type]
        await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)
        ended = time.time()
        if len(starts) != jobs:
            raise SystemExit(f"pgqueuer ran {len(starts)} of {jobs} jobs")
        return jobs / (ended - min(starts))
    finally:
        await conn.close()  # type: ignore[attr-defined]


async def _pgqueuer_pickups(url: str, samples: int) -> list[float]:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager

    conn, driver = await _pgqueuer_setup(url)
    producer = await asyncpg.connect(url)
    try:
        manager = QueueManager(Queries(driver))  # type: ignore[arg-type]
        started: asyncio.Queue[float] = asyncio.Queue()

        @manager.entrypoint("stamp")
        async def stamp(job: object) -> None:
            started.put_nowait(time.time())

        worker = asyncio.create_task(manager.run(batch_size=1))
        await asyncio.sleep(1.0)
        queries = Queries(AsyncpgDriver(producer))
        latencies = []
        for _ in range(samples):
            await queries.enqueue("stamp", None)
            committed = time.time()
            latencies.append((await asyncio.wait_for(started.get(), 30) - committed) * 1000)
            await asyncio.sleep(0.01)
        manager.shutdown.set()
        await asyncio.wait_for(worker, 30)
        return latencies
    finally:
        await producer.close()
        await conn.close()  # type: ignore[attr-defined]


def pgqueuer(url: str, jobs: int, samples: int) -> dict[str, float]:
    figures = {f"pgqueuer_b{b}": asyncio.run(_pgqueuer_rate(url, jobs, b)) for b in (1, 10)}
    pickups = asyncio.run(_pgqueuer_pickups(url, samples))
    figures["pgqueuer_pickup_p50_ms"] = statistics.median(pickups)
    return figures


# -- Procrastinate -------------------------------------------------------------------------


def procrastinate(url: str, jobs: int) -> dict[str, float]:
    """Procrastinate's worker, concurrency 2 (both cores), in this process."""
    import procrastinate as p

    app = p.App(connector=p.PsycopgConnector(conninfo=url))
    starts: list[float] = []

    @app.task(name="noop", queue="bench")
    async def noop() -> None:
        starts.append(time.time())

    async def run() -> float:
        async with app.open_async():
            with contextlib.suppress(Exception):
                await app.schema_manager.apply_schema_async()
            await noop.batch_defer_async(*([{}] * jobs))
            await app.run_worker_async(queues=["bench"], concurrency=2, wait=False,
                                       install_signal_handlers=False)  # fmt: skip
            ended = time.time()
        if len(starts) != jobs:
            raise SystemExit(f"procrastinate ran {len(starts)} of {jobs} jobs")
        return jobs / (ended - min(starts))

    return {"procrastinate": asyncio.run(run())}


# -- Celery and RQ (a private redis-server) ------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server of the benchmark's own, on a free port, no persistence."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="jobsup-bench-redis-") as tmp:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


PEER_TASKS = """
import os, time
from celery import Celery
app = Celery("bench_peer", broker=os.environ["BENCH_REDIS"], backend=None)
app.conf.worker_prefetch_multiplier = 4
app.conf.task_ignore_result = True
app.conf.worker_hijack_root_logger = False

@app.task(name="noop")
def noop():
    with open(os.environ["BENCH_MARKS"], "a") as f:
        f.write(f"{time.time()}\\n")


def rq_noop():
    with open(os.environ["BENCH_MARKS"], "a") as f:
        f.write(f"{time.time()}\\n")
"""


def _wait_marks(marks: Path, jobs: int, seconds: float) -> list[float]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if marks.exists():
            stamps = [float(t) for t in marks.read_text().split()]
            if len(stamps) >= jobs:
                return stamps
        time.sleep(0.05)
    raise SystemExit(f"the peer ran fewer than {jobs} jobs in {seconds:.0f} s")


def celery(jobs: int) -> dict[str, float]:
    """Celery prefork, concurrency 2, children reused (its default)."""
    with redis_server() as redis, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_peer.py").write_text(PEER_TASKS)
        marks = Path(tmp, "marks")
        env = {**os.environ, "BENCH_REDIS": redis, "BENCH_MARKS": str(marks),
               "PYTHONPATH": tmp}  # fmt: skip
        enqueue = ("from bench_peer import noop\n"
                   f"for _ in range({jobs}): noop.delay()\n")  # fmt: skip
        subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, cwd=tmp)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench_peer", "worker", "-c", "2",
             "--pool", "prefork", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            stamps = _wait_marks(marks, jobs, 60 + jobs / 20)
        finally:
            worker.terminate()
            worker.wait(30)
    return {"celery_reused": jobs / (max(stamps) - min(stamps))}


def rq(jobs: int) -> dict[str, float]:
    """RQ's Worker (a fork per job), one worker, burst mode."""
    with redis_server() as redis, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_peer.py").write_text(PEER_TASKS)
        marks = Path(tmp, "marks")
        env = {**os.environ, "BENCH_REDIS": redis, "BENCH_MARKS": str(marks),
               "PYTHONPATH": tmp}  # fmt: skip
        enqueue = ("import redis, rq\n"
                   "q = rq.Queue('bench', connection=redis.Redis.from_url("
                   f"'{redis}'))\n"
                   f"q.enqueue_many([rq.Queue.prepare_data('bench_peer.rq_noop') "
                   f"for _ in range({jobs})])\n")  # fmt: skip
        subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, cwd=tmp)
        subprocess.run([sys.executable, "-m", "rq.cli", "worker", "--burst", "-q", "--url",
                        redis, "bench"], env=env, cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        stamps = _wait_marks(marks, jobs, 10)
    return {"rq": jobs / (max(stamps) - min(stamps))}
