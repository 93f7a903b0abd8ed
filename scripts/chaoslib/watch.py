"""What the chaos run sees for itself while it runs, five times a second, in a thread:

- when each supervisor incarnation ends, and its fork servers;
- every process of the supervisors' trees (for the check that none is left at the end);
- runners of one job alive at the same moment (`jobsup: runner <job-id> <type>` titles);
- each time a supervisor is declared dead (`jobsup_workers.state` turning to `dead`), with
  its last heartbeat, read on a connection of its own that no fault cuts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import psutil

from supervisor.db.connect import Connection, connect

from .check import AtOnce, Declared, Runner
from .hosts import ns_pid
from .supervisors import Incarnation, Supervisor, title

PERIOD = 0.2
WORKERS = "SELECT id::text, host, pid, state, extract(epoch FROM heartbeat_at) FROM jobsup_workers"


@dataclass
class Watcher:
    supervisors: list[Supervisor]
    url: str
    seen: set[tuple[int, float]] = field(default_factory=set)  # (pid, start) of their processes
    ended: dict[int, float] = field(default_factory=dict)  # incarnation pid → when it ended
    at_once: list[AtOnce] = field(default_factory=list)
    declared: list[Declared] = field(default_factory=list)
    fork_servers: dict[tuple[str, int], int] = field(default_factory=dict)  # → supervisor pid
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="watcher", daemon=True)
        self._conn: Connection | None = None
        self._dead: set[str] = set()
        self._looked = 0.0  # the last time the workers were read
        self._pairs: set[tuple[int, ...]] = set()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join()
        if self._conn is not None:
            self._conn.close()

    def ended_at(self, incarnation: Incarnation) -> float | None:
        return self.ended.get(incarnation.pid)

    def _loop(self) -> None:
        while not self.stop.wait(PERIOD):
            now = time.time()
            self._incarnations(now)
            self._runners(now)
            self._workers(now)

    def _incarnations(self, now: float) -> None:
        for sup in self.supervisors:
            for incarnation in sup.incarnations:
                if incarnation.pid not in self.ended and incarnation.process.poll() is not None:
                    self.ended[incarnation.pid] = now

    def _runners(self, now: float) -> None:
        by_job: dict[str, list[Runner]] = {}
        for sup in self.supervisors:
            incarnation = sup.current
            if incarnation is None:
                continue
            for process in sup.descendants():
                with contextlib.suppress(psutil.Error):
                    self.seen.add((process.pid, process.create_time()))
                    name = title(process)
                    if name.startswith("jobsup: fork server"):
                        server = (sup.host.hostname, ns_pid(process.pid) or process.pid)
                        self.fork_servers[server] = incarnation.ns_pid
                    if name.startswith("jobsup: runner "):
                        job_id = name.split()[2]
                        runner = Runner(job_id, sup.name, incarnation.pid, process.pid)
                        by_job.setdefault(job_id, []).append(runner)
        for runners in by_job.values():
            pair = tuple(sorted(r.pid for r in runners))
            if len(runners) > 1 and pair not in self._pairs:
                self._pairs.add(pair)
                self.at_once.append(AtOnce(now, tuple(runners)))

    def _workers(self, now: float) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url, connect_timeout=1)
            with self._conn.cursor() as cur:
                cur.execute(WORKERS)
                rows = cur.fetchall()
        except Exception:  # the database is down (a fault): nothing to see
            with contextlib.suppress(Exception):
                if self._conn is not None:
                    self._conn.close()
            self._conn = None
            return
        for worker_id, host, pid, state, heartbeat in rows:
            if state == "dead" and worker_id not in self._dead:
                self.declared.append(Declared(worker_id, host, pid, self._looked, now,
                                              float(heartbeat)))  # fmt: skip
            if state == "dead":
                self._dead.add(worker_id)
            else:
                self._dead.discard(worker_id)
        self._looked = now
