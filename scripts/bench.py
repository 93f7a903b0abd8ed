"""Supervisor throughput, latency, depth, many supervisors and idle cost, each against the
bare fork ceiling measured in the same run, on a real PostgreSQL.

    .venv/bin/python scripts/bench.py --quick --json bench.json   # all scenarios, < 3 min
    .venv/bin/python scripts/bench.py                             # the full run, < 20 min
    JOBSUP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/bench.py --quick                 # on that server
    .venv/bin/python scripts/bench.py --only throughput depth     # some scenarios

Without JOBSUP_BENCH_DATABASE_URL it starts an embedded PostgreSQL of its own; with it, it
creates (and drops) a database of its own on that server.

- ceiling: fork + _exit + waitpid, 1 and 2 children in flight, from a fresh Python that
  imported what the fork server imports (the bar a process per job is held to);
- throughput: diag.noop jobs at concurrency 1, 2, 4, 8 (first start to last completion,
  from the jobs' own timestamps), and the CPU per job of the supervisor, its fork server,
  the runners and PostgreSQL (the backends of the benchmark's database, from /proc);
- latency: enqueue commit → handler start into an idle supervisor, one job at a time; and
  with a busy one (concurrency 1, a full queue), a handler's start to the next one's;
- depth: concurrency 4 with 1,000, 100,000 and 1,000,000 pending jobs, and beside
  1,000,000 completed rows, pending jobs of a type not served, or pending jobs of higher
  priority due tomorrow;
- supervisors: 1, 2 and 4 supervisors sharing 4 slots, and how many jobs ran twice;
- overhead: an idle supervisor's CPU and the RSS of it and its fork server.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fill as fill
from bench_cpu import Meter, Split, fork_ceiling, fork_server_of, rss_mb, stat
from benchlib import percentile, scratch_database, supervisor, write_config

from supervisor.db import Connection, connect
from supervisor.enqueue import enqueue

# A supervisor serving only the benchmark's job types, so its fork server preloads just
# their modules (the insights workflow, preloaded for `analysis`, adds ~0.5 ms to a fork).
CONFIG = """
[supervisor]
interval = 30
job_types = ["diag.noop", "bench.stamp", "bench.mark"]
preload = ["bench_handlers"]
[retry]
max_retries = 0
[limits]
check_interval = 0.1
[job_types."diag.noop"]
handler = "runner.diag:noop"
[job_types."bench.stamp"]
handler = "bench_handlers:stamp"
[job_types."bench.mark"]
handler = "bench_handlers:mark"
"""


@dataclass(frozen=True)
class Sizes:
    jobs: int  # per throughput run
    repeat: int  # runs per figure (the median is kept)
    cycles: int  # forks per ceiling measure
    samples: int  # pickup latencies
    depth_rows: int  # the large depths' background
    depth_jobs: int  # jobs run per depth figure
    idle_seconds: float


FULL = Sizes(jobs=5000, repeat=3, cycles=3000, samples=400, depth_rows=1_000_000,
             depth_jobs=1000, idle_seconds=30.0)  # fmt: skip
QUICK = Sizes(jobs=2000, repeat=1, cycles=1500, samples=200, depth_rows=1_000_000,
              depth_jobs=1000, idle_seconds=15.0)  # fmt: skip
SCENARIOS = ("ceiling", "throughput", "latency", "depth", "supervisors", "overhead")


class Bench:
    def __init__(self, url: str, config: Path, sizes: Sizes) -> None:
        self.url = url
        self.config = config
        self.sizes = sizes
        self.conn = connect(url)
        self.database = url.rsplit("/", 1)[1]
        self.results: dict[str, Any] = {"cpus": os.cpu_count()}
        self.ceilings: dict[str, list[float]] = {"1": [], "2": []}

    # -- running the supervisor ----------------------------------------------------------------

    def run_batch(self, *args: str, until: Callable[[], bool] | None = None) -> Split:
        """Start a supervisor with `args`, wait for its exit; the CPU each part spent."""
        process = supervisor(self.url, self.config, *args)
        split = Meter(process, self.database).run(until)
        if process.returncode != 0:
            raise SystemExit(f"supervisor {' '.join(args)} exited {process.returncode}")
        return split

    def rate(self, since: float, job_type: str = fill.SERVED) -> tuple[int, float]:
        """Jobs of `job_type` completed that started after `since` (epoch s), and their
        rate (jobs/s, first start to last completion)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), extract(epoch FROM max(completed_at) - min(started_at)) "
                "FROM processing_jobs WHERE status = 'completed' AND job_type = %s "
                "AND started_at >= to_timestamp(%s)",
                (job_type, since),
            )
            count, seconds = cur.fetchone()  # type: ignore[misc]
        return count, count / float(seconds) if count else 0.0

    # -- scenarios -----------------------------------------------------------------------------

    def ceiling(self) -> None:
        """Measured at the start and again at the end: the median of all is kept."""
        for _ in range(self.sizes.repeat):
            for in_flight in ("1", "2"):
                rate, self.ceiling_rss = fork_ceiling(int(in_flight), self.sizes.cycles)
                self.ceilings[in_flight].append(rate)
        self.results["fork_ceiling_jobs_per_s"] = {k: _median(v) for k, v in self.ceilings.items()}
        last = {k: v[-1] for k, v in self.ceilings.items()}
        print(f"fork ceiling (fork + _exit + waitpid, a {self.ceiling_rss:.0f} MB RSS process "
              f"with the fork server's imports): {last['1']:.0f} jobs/s 1 in flight, "
              f"{last['2']:.0f} jobs/s 2 in flight")  # fmt: skip

    def throughput(self) -> None:
        rates: dict[str, float] = {}
        cpu: dict[str, dict[str, float]] = {}
        for concurrency in (1, 2, 4, 8):
            runs = [self._throughput_run(concurrency) for _ in range(self.sizes.repeat)]
            rates[str(concurrency)] = _median([rate for rate, _ in runs])
            per_job = [split for _, split in runs]
            cpu[str(concurrency)] = {k: _median([s[k] for s in per_job]) for k in per_job[0]}
            c = cpu[str(concurrency)]
            print(f"throughput, concurrency {concurrency}: {rates[str(concurrency)]:.0f} jobs/s"
                  f"{self._of_ceiling(rates[str(concurrency)])} ({self.sizes.jobs} noop jobs); "
                  f"CPU per job: supervisor {c['supervisor']:.2f} ms, fork server "
                  f"{c['fork_server']:.2f} ms, runners {c['runners']:.2f} ms, PostgreSQL "
                  f"{c['postgres']:.2f} ms, total {c['total']:.2f} ms")  # fmt: skip
        self.results["throughput"] = rates
        self.results["cpu_ms_per_job"] = cpu["4"]  # the headline concurrency
        self.cpu_by_concurrency = cpu

    def _throughput_run(self, concurrency: int) -> tuple[float, dict[str, float]]:
        fill.reset(self.conn)
        fill.jobs(self.conn, self.sizes.jobs)
        fill.settle(self.conn)
        since = time.time()
        split = self.run_batch("--concurrency", str(concurrency), "--until-empty")
        count, rate = self.rate(since)
        if count != self.sizes.jobs:
            raise SystemExit(f"only {count} of {self.sizes.jobs} jobs completed")
        return rate, split.per_job_ms(count)

    def latency(self) -> None:
        fill.reset(self.conn)
        pickups = self._pickups(self.sizes.samples)
        p = {f"p{p}": round(percentile(pickups, p), 2) for p in (50, 95, 99)}
        self.results["pickup_ms"] = p
        print(f"pickup latency (enqueue commit → handler start, {len(pickups)} jobs one at a "
              f"time into an idle supervisor): p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, "
              f"p99 {p['p99']:.1f} ms")  # fmt: skip
        turns = self._turnaround(min(self.sizes.jobs, 1000))
        t = {p: percentile(turns, p) for p in (50, 95, 99)}
        print(f"busy slot turnaround (concurrency 1, a full queue: one handler's start to the "
              f"next one's, {len(turns)} jobs): p50 {t[50]:.2f} ms, p95 {t[95]:.2f} ms, "
              f"p99 {t[99]:.2f} ms")  # fmt: skip

    def _pickups(self, samples: int) -> list[float]:
        process = supervisor(self.url, self.config, "--concurrency", "4")
        latencies = []
        try:
            time.sleep(2.0)  # started and idle
            for _ in range(samples):
                job_id = enqueue(self.conn, job_type="bench.stamp")  # committed on return
                committed = time.time()
                latencies.append((_wait_for_stamp(self.conn, job_id) - committed) * 1000)
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()
        return latencies

    def _turnaround(self, jobs: int) -> list[float]:
        fill.reset(self.conn)
        fill.jobs(self.conn, jobs, "bench.stamp")
        fill.settle(self.conn)
        self.run_batch("--concurrency", "1", "--until-empty")
        with self.conn.cursor() as cur:
            cur.execute("SELECT (content->>'t')::float8 FROM insights ORDER BY 1")
            stamps = [t for (t,) in cur.fetchall()]
        return [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]

    def depth(self) -> None:
        rows = self.sizes.depth_rows
        cases = {"1000": ("pending", 0), "100000": ("pending", min(rows, 100_000) - 1000),
                 "1000000": ("pending", rows - 1000), "completed_1000000": ("completed", rows),
                 "other_type_1000000": ("other_type", rows),
                 "scheduled_1000000": ("scheduled", rows)}  # fmt: skip
        figures: dict[str, float] = {}
        for name, (kind, background) in cases.items():
            fill.reset(self.conn)
            fill.background(self.conn, kind, background)
            runs = []
            for _ in range(self.sizes.repeat):
                fill.jobs(self.conn, self.sizes.depth_jobs)
                fill.settle(self.conn)
                since = time.time()
                self.run_batch("--concurrency", "4", "--max-jobs", str(self.sizes.depth_jobs))
                runs.append(self.rate(since)[1])
                self._drop_served(since)
            figures[name] = _median(runs)
            share = figures[name] / figures["1000"]
            print(f"depth {name.replace('_', ' ')}: {figures[name]:.0f} jobs/s at concurrency 4 "
                  f"({share:.0%} of 1,000 pending; {background:,} other rows)")  # fmt: skip
        self.results["depth"] = figures

    def _drop_served(self, since: float) -> None:
        """The jobs a depth run ran: the next run starts at the same depth."""
        with self.conn.cursor() as cur:
            cur.execute(
                "DELETE FROM processing_jobs WHERE started_at >= to_timestamp(%s)", (since,)
            )

    def supervisors(self) -> None:
        figures: dict[str, float] = {}
        duplicates = 0
        for count in (1, 2, 4):
            runs = []
            for _ in range(self.sizes.repeat):
                rate, twice = self._shared_run(count, 4 // count)
                runs.append(rate)
                duplicates += twice
            rate = figures[str(count)] = _median(runs)
            print(f"supervisors: {count} x {4 // count} slots: {rate:.0f} jobs/s in all "
                  f"({rate / figures['1']:.0%} of one supervisor)")  # fmt: skip
        figures["duplicates"] = duplicates
        print(f"supervisors: {duplicates} jobs ran twice")
        self.results["supervisors"] = figures

    def _shared_run(self, count: int, slots: int) -> tuple[float, int]:
        with tempfile.NamedTemporaryFile(prefix="jobsup-bench-marks-") as marks:
            fill.reset(self.conn)
            fill.jobs(self.conn, self.sizes.jobs, "bench.mark", json.dumps({"log": marks.name}))
            fill.settle(self.conn)
            since = time.time()
            processes = [supervisor(self.url, self.config, "--concurrency", str(slots),
                                    "--until-empty") for _ in range(count)]  # fmt: skip
            for process in processes:
                if process.wait() != 0:
                    raise SystemExit(f"a supervisor of {count} exited {process.returncode}")
            ran = Path(marks.name).read_text().split()
        done, rate = self.rate(since, "bench.mark")
        if done != self.sizes.jobs:
            raise SystemExit(f"only {done} of {self.sizes.jobs} jobs completed")
        return rate, len(ran) - len(set(ran))

    def overhead(self) -> None:
        fill.reset(self.conn)
        process = supervisor(self.url, self.config, "--concurrency", "4")
        try:
            server = _wait_for(lambda: fork_server_of(process.pid), 30.0)
            time.sleep(3.0)  # past start-up: the first heartbeat, the fork server's imports
            pids = (process.pid, server)
            before = [_cpu(pid) for pid in pids]
            began = time.monotonic()
            time.sleep(self.sizes.idle_seconds)
            seconds = time.monotonic() - began
            cpu = sum(_cpu(pid) - b for pid, b in zip(pids, before, strict=True))
            rss = sum(rss_mb(pid) for pid in pids)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()
        percent = round(cpu / seconds * 100, 3)
        self.results["idle"] = {"cpu_percent": percent, "rss_mb": round(rss, 1)}
        print(f"idle supervisor over {seconds:.0f} s: {cpu / seconds:.2%} of a core, "
              f"{rss:.1f} MB RSS with its fork server")  # fmt: skip

    # -- report --------------------------------------------------------------------------------

    def summary(self) -> None:
        """The figures against the goals: shares of the ceiling and of the base cases."""
        r = self.results
        ceiling = r["fork_ceiling_jobs_per_s"]["2"]
        print(
            f"fork ceiling, median of {len(self.ceilings['2'])} measures: "
            f"{r['fork_ceiling_jobs_per_s']['1']:.0f} jobs/s 1 in flight, {ceiling:.0f} jobs/s 2"
        )
        if "throughput" in r:
            shares = ", ".join(f"concurrency {c} {rate / ceiling:.0%}"
                               for c, rate in r["throughput"].items())  # fmt: skip
            print(f"throughput as a share of the fork ceiling (2 in flight): {shares}")
        if "depth" in r:
            base = r["depth"]["1000"]
            shares = ", ".join(f"{k} {v / base:.0%}" for k, v in r["depth"].items() if k != "1000")
            print(f"depth as a share of 1,000 pending: {shares}")
        if "supervisors" in r:
            s = r["supervisors"]
            print(
                f"supervisors: 2 at {s['2'] / s['1']:.0%}, 4 at {s['4'] / s['1']:.0%} of one; "
                f"{s['duplicates']} jobs ran twice"
            )

    def _of_ceiling(self, rate: float) -> str:
        ceiling = self.results.get("fork_ceiling_jobs_per_s", {}).get("2")
        return f" ({rate / ceiling:.0%} of the fork ceiling, 2 in flight)" if ceiling else ""


def _cpu(pid: int) -> float:
    reading = stat(pid)
    return reading[0] if reading else 0.0


def _wait_for(probe: Callable[[], int | None], seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise SystemExit("the supervisor's fork server did not start")


def _wait_for_stamp(conn: Connection, job_id: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with conn.cursor() as cur:
            cur.execute("SELECT (content->>'t')::float8 FROM insights WHERE job_id = %s", (job_id,))
            row = cur.fetchone()
        if row:
            return float(row[0])
        # The handler stamps its own start: polling slowly changes nothing measured, and
        # leaves the CPU to the supervisor.
        time.sleep(0.05)
    raise SystemExit(f"job {job_id} did not run within 30 s")


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every scenario, smaller (< 3 min)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="just these scenarios")
    parser.add_argument("--jobs", type=int, help="jobs per throughput run")
    parser.add_argument("--repeat", type=int, help="runs per figure (median kept)")
    parser.add_argument("--depth-rows", type=int, help="rows beside the jobs in depth runs")
    parser.add_argument("--depth-jobs", type=int, help="jobs run per depth figure")
    parser.add_argument("--samples", type=int, help="pickup latencies measured")
    parser.add_argument("--cycles", type=int, help="forks per ceiling measure")
    parser.add_argument("--idle-seconds", type=float, help="the idle supervisor's watch")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name in Sizes.__dataclass_fields__:
        if getattr(args, name) is not None:
            sizes = Sizes(**{**sizes.__dict__, name: getattr(args, name)})
    began = time.monotonic()
    print(f"{os.cpu_count()} CPUs, load average {_load()} at the start")
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(url, write_config(Path(tmp), CONFIG), sizes)
        scenarios = args.only or SCENARIOS
        for scenario in scenarios:
            getattr(bench, scenario)()
        if "ceiling" in scenarios:
            bench.ceiling()  # again: the machine's speed drifts
            bench.summary()
        bench.conn.close()
    print(f"{time.monotonic() - began:.0f} s in all; load average {_load()} at the end")
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=1) + "\n")


if __name__ == "__main__":
    main()
