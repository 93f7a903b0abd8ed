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
- overhead: an idle supervisor's CPU and the RSS of it and its fork server;
- history: the operator's views (overview, jobs list, text search, stats, ps) beside 10,000
  and beside 1,000,000 (--quick) or 10,000,000 finished jobs spread over two years;
- enqueue: `enqueue_many` of 100,000 jobs in one call, committed;
- rollup: the CPU per job at concurrency 4 with the history rollup's triggers and without
  them, in turn (the pair's difference is what the rollup costs the hot path);
- peers (--peers): PgQueuer batch 1 and 10 and its pickup, Procrastinate, Celery's reused
  prefork children and RQ on the same no-op job, with jobsup's ratios to them;
- pipelines: a fan-out/fan-in (N - 1 noop jobs and one that waits for them all) and a chain
  of M (each job waits for the one before), each beside the same count of independent noop
  jobs run in turn in the same round at the same concurrency: their jobs/s as a share;
- progress: no-op jobs at concurrency 4 with one `job.progress` call each, beside (in turn)
  the same jobs without: the share of the throughput kept (issue 26: within 10 %).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import fill, history, peers, pipelines
from benchlib.common import percentile, scratch_database, write_config
from benchlib.cpu import fork_ceiling, fork_server_of, rss_mb, stat
from benchlib.db import BenchDb

from supervisor import config as jobsup_config
from supervisor.client.enqueue import enqueue, enqueue_many
from supervisor.db.connect import Connection

# A supervisor serving only the benchmark's job types, so its fork server preloads just
# their modules (the insights workflow, preloaded for `analysis`, adds ~0.5 ms to a fork).
CONFIG = """
[supervisor]
interval = 30
job_types = ["diag.noop", "bench.stamp", "bench.mark", "bench.progress"]
preload = ["benchlib.handlers"]
[retry]
max_retries = 0
[limits]
check_interval = 0.1
[job_types."diag.noop"]
handler = "runner.diag:noop"
[job_types."bench.stamp"]
handler = "benchlib.handlers:stamp"
[job_types."bench.mark"]
handler = "benchlib.handlers:mark"
[job_types."bench.progress"]
handler = "benchlib.handlers:progress"
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
    history_small: int = 10_000  # finished jobs beside which the views are measured ...
    history_large: int = 10_000_000  # ... and the large history
    enqueue_jobs: int = 100_000  # jobs of one enqueue_many call
    fan_in: int = 10_000  # jobs of the fan-in (its then-job among them)
    chain: int = 1000  # links of the chain


FULL = Sizes(jobs=5000, repeat=3, cycles=3000, samples=400, depth_rows=1_000_000,
             depth_jobs=1000, idle_seconds=30.0)  # fmt: skip
QUICK = Sizes(jobs=1500, repeat=1, cycles=1500, samples=150, depth_rows=1_000_000,
              depth_jobs=1000, idle_seconds=10.0, history_large=1_000_000, fan_in=2000,
              chain=200)  # fmt: skip
SCENARIOS = ("ceiling", "throughput", "latency", "depth", "supervisors", "overhead", "history",
             "enqueue", "rollup", "pipelines", "progress")  # fmt: skip
# The history rollup's triggers (migration 0014), switched off for the "without" runs.
ROLLUP_TRIGGERS = ("jobsup_count_insert", "jobsup_count_update", "jobsup_count_delete")


class Bench:
    """The scenarios. Figures that are compared are measured side by side, in turn: each
    throughput run just after a fork-ceiling measure, each depth run just after a run on a
    second database holding 1,000 pending jobs, each count of supervisors in the same round
    as one supervisor; the shares printed are medians of those pairs' ratios, so they hold
    while the machine's speed drifts (other work on it, a VM's neighbours)."""

    def __init__(self, main: BenchDb, base: BenchDb, sizes: Sizes) -> None:
        self.db = main
        self.base = base  # depth's reference: 1,000 pending jobs and nothing else
        self.sizes = sizes
        self.results: dict[str, Any] = {"cpus": os.cpu_count()}
        self.ceilings: dict[str, list[float]] = {"1": [], "2": []}
        self.shares: dict[str, float] = {}  # paired ratios, for the summary
        self.ceiling_rss = 0.0

    # -- the fork ceiling ------------------------------------------------------------------

    def ceiling(self) -> None:
        """Measured at the start, beside each throughput run, and at the end: the median of
        all is the figure."""
        for in_flight in (1, 2):
            self._ceiling(in_flight, self.sizes.cycles)
        last = {k: v[-1] for k, v in self.ceilings.items()}
        print(f"fork ceiling (fork + _exit + waitpid from a {self.ceiling_rss:.0f} MB RSS "
              f"process with the fork server's imports): {last['1']:.0f} jobs/s 1 in flight, "
              f"{last['2']:.0f} jobs/s 2 in flight")  # fmt: skip

    def _ceiling(self, in_flight: int, cycles: int) -> float:
        rate, self.ceiling_rss = fork_ceiling(in_flight, cycles)
        self.ceilings[str(in_flight)].append(rate)
        figures = {k: _median(v) for k, v in self.ceilings.items() if v}
        self.results["fork_ceiling_jobs_per_s"] = figures
        return rate

    # -- throughput ------------------------------------------------------------------------

    def throughput(self) -> None:
        rates: dict[str, float] = {}
        cpu: dict[str, dict[str, float]] = {}
        for concurrency in (1, 2, 4, 8):
            runs = [self._throughput_run(concurrency) for _ in range(self.sizes.repeat)]
            rate = rates[str(concurrency)] = _median([r for r, _, _ in runs])
            share = self.shares[f"throughput {concurrency}"] = _median([s for _, s, _ in runs])
            c = cpu[str(concurrency)] = {k: _median([p[k] for *_, p in runs]) for k in runs[0][2]}
            print(f"throughput, concurrency {concurrency}: {rate:.0f} jobs/s = {share:.0%} of "
                  f"the fork ceiling beside it ({self.sizes.jobs} noop jobs); CPU per job: "
                  f"supervisor {c['supervisor']:.2f} ms, fork server {c['fork_server']:.2f} ms, "
                  f"runners {c['runners']:.2f} ms, PostgreSQL {c['postgres']:.2f} ms, "
                  f"total {c['total']:.2f} ms")  # fmt: skip
        self.results["throughput"] = rates
        self.results["cpu_ms_per_job"] = cpu["4"]  # the headline concurrency

    def _throughput_run(self, concurrency: int) -> tuple[float, float, dict[str, float]]:
        """Jobs/s, its share of the fork ceiling (2 in flight) measured just before, and the
        CPU-ms per job of each part."""
        fill.reset(self.db.conn)
        fill.jobs(self.db.conn, self.sizes.jobs)
        fill.settle(self.db.conn)
        ceiling = self._ceiling(2, self.sizes.cycles // 2)
        since = time.time()
        split = self.db.run("--concurrency", str(concurrency), "--until-empty")
        count, rate = self.db.rate(since)
        if count != self.sizes.jobs:
            raise SystemExit(f"only {count} of {self.sizes.jobs} jobs completed")
        return rate, rate / ceiling, split.per_job_ms(count)

    # -- latency ---------------------------------------------------------------------------

    def latency(self) -> None:
        fill.reset(self.db.conn)
        pickups = self._pickups(self.sizes.samples)
        p = {f"p{p}": round(percentile(pickups, p), 2) for p in (50, 95, 99)}
        self.results["pickup_ms"] = p
        print(f"pickup latency (enqueue commit → handler start, {len(pickups)} jobs one at a "
              f"time into an idle supervisor): p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, "
              f"p99 {p['p99']:.1f} ms")  # fmt: skip
        turns = self._turnaround(self.sizes.samples * 3)
        t = {p: percentile(turns, p) for p in (50, 95, 99)}
        self.results["turnaround_ms"] = {"p50": round(t[50], 2), "p95": round(t[95], 2)}
        print(f"busy slot turnaround (concurrency 1, a full queue: one handler's start to the "
              f"next one's, {len(turns)} jobs): p50 {t[50]:.2f} ms, p95 {t[95]:.2f} ms, "
              f"p99 {t[99]:.2f} ms")  # fmt: skip

    def _pickups(self, samples: int) -> list[float]:
        process = self.db.start("--concurrency", "4")
        latencies = []
        try:
            time.sleep(2.0)  # started and idle
            for _ in range(samples):
                job_id = enqueue(self.db.conn, job_type="bench.stamp")  # committed on return
                committed = time.time()
                latencies.append((_wait_for_stamp(self.db.conn, job_id) - committed) * 1000)
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()
        return latencies

    def _turnaround(self, jobs: int) -> list[float]:
        fill.reset(self.db.conn)
        fill.jobs(self.db.conn, jobs, "bench.stamp")
        fill.settle(self.db.conn)
        self.db.run("--concurrency", "1", "--until-empty")
        with self.db.conn.cursor() as cur:
            cur.execute("SELECT (content->>'t')::float8 FROM insights ORDER BY 1")
            stamps = [t for (t,) in cur.fetchall()]
        return [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]

    # -- depth -----------------------------------------------------------------------------

    def depth(self) -> None:
        rows = self.sizes.depth_rows
        cases = {"100000": ("pending", min(rows, 100_000) - 1000),
                 "1000000": ("pending", rows - 1000), "completed_1000000": ("completed", rows),
                 "other_type_1000000": ("other_type", rows),
                 "scheduled_1000000": ("scheduled", rows)}  # fmt: skip
        figures: dict[str, float] = {}
        bases: list[float] = []
        fill.reset(self.base.conn)
        for name, (kind, background) in cases.items():
            fill.reset(self.db.conn)
            fill.background(self.db.conn, kind, background)
            runs, shares = [], []
            for _ in range(self.sizes.repeat):
                base = self._depth_run(self.base)
                runs.append(self._depth_run(self.db))
                bases.append(base)
                shares.append(runs[-1] / base)
            figures[name] = _median(runs)
            share = self.shares[f"depth {name}"] = _median(shares)
            print(f"depth {name.replace('_', ' ')}: {figures[name]:.0f} jobs/s at concurrency 4 "
                  f"= {share:.0%} of 1,000 pending beside it "
                  f"({background:,} other rows)")  # fmt: skip
        figures["1000"] = _median(bases)
        print(f"depth 1000 (the reference, {len(bases)} runs): {figures['1000']:.0f} jobs/s")
        self.results["depth"] = {"1000": figures.pop("1000"), **figures}

    def _depth_run(self, db: BenchDb) -> float:
        fill.jobs(db.conn, self.sizes.depth_jobs)
        fill.settle(db.conn)
        since = time.time()
        db.run("--concurrency", "4", "--max-jobs", str(self.sizes.depth_jobs))
        rate = db.rate(since)[1]
        db.drop_ran(since)
        return rate

    # -- many supervisors ------------------------------------------------------------------

    def supervisors(self) -> None:
        rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
        duplicates = 0
        for _ in range(self.sizes.repeat):
            for count in rates:
                rate, twice = self._shared_run(count, 4 // count)
                rates[count].append(rate)
                duplicates += twice
        figures: dict[str, float] = {str(n): _median(r) for n, r in rates.items()}
        for count in (2, 4):
            pairs = [r / one for r, one in zip(rates[count], rates[1], strict=True)]
            share = self.shares[f"supervisors {count}"] = _median(pairs)
            print(f"supervisors: {count} x {4 // count} slots: {figures[str(count)]:.0f} jobs/s "
                  f"in all = {share:.0%} of one supervisor with 4 "
                  f"({figures['1']:.0f} jobs/s)")  # fmt: skip
        figures["duplicates"] = duplicates
        print(f"supervisors: {duplicates} jobs ran twice")
        self.results["supervisors"] = figures

    def _shared_run(self, count: int, slots: int) -> tuple[float, int]:
        """`count` supervisors of `slots` each, all started and registered before the jobs
        arrive (in one statement): the rate is theirs together, not their start-ups'."""
        with tempfile.NamedTemporaryFile(prefix="jobsup-bench-marks-") as marks:
            fill.reset(self.db.conn)
            fill.settle(self.db.conn)
            processes = [self.db.start("--concurrency", str(slots)) for _ in range(count)]
            try:
                pids = [process.pid for process in processes]
                _wait_for(lambda: self._registered(pids) >= count, 30.0, "registered")
                time.sleep(0.5)  # past the first heartbeat
                since = time.time()
                fill.jobs(self.db.conn, self.sizes.jobs, "bench.mark",
                          json.dumps({"log": marks.name}))  # fmt: skip
                _wait_for(lambda: self._finished() >= self.sizes.jobs,
                          60.0 + self.sizes.jobs / 10, "finished its jobs")  # fmt: skip
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                if process.wait() != 0:
                    raise SystemExit(f"a supervisor of {count} exited {process.returncode}")
            ran = Path(marks.name).read_text().split()
        done, rate = self.db.rate(since, "bench.mark")
        if done != self.sizes.jobs:
            raise SystemExit(f"only {done} of {self.sizes.jobs} jobs completed")
        return rate, len(ran) - len(set(ran))

    def _registered(self, pids: list[int]) -> int:
        with self.db.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM jobsup_workers WHERE state = 'running' "
                        "AND pid = ANY(%s)", (pids,))  # fmt: skip
            return int(cur.fetchone()[0])  # type: ignore[index]

    def _finished(self) -> int:
        with self.db.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM processing_jobs WHERE status IN "
                        "('completed', 'failed')")  # fmt: skip
            return int(cur.fetchone()[0])  # type: ignore[index]

    # -- overhead --------------------------------------------------------------------------

    def overhead(self) -> None:
        fill.reset(self.db.conn)
        process = self.db.start("--concurrency", "4")
        try:
            server = _wait_for(lambda: fork_server_of(process.pid), 30.0, "started its fork server")
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

    # -- years of history ------------------------------------------------------------------

    def history(self) -> None:
        cfg = jobsup_config.load(None)
        figures: dict[str, dict[str, float]] = {}
        for name, rows in (("small", self.sizes.history_small),
                           ("large", self.sizes.history_large)):  # fmt: skip
            began = time.monotonic()
            history.fill(self.db.conn, rows)
            filled = time.monotonic() - began
            figures[name] = {"rows": rows, **history.measure(self.db.conn, cfg)}
            shown = ", ".join(f"{k.removesuffix('_ms')} {v:.1f} ms"
                              for k, v in figures[name].items() if k != "rows")  # fmt: skip
            print(f"history {name} ({rows:,} finished jobs, filled in {filled:.0f} s): {shown}")
        fill.reset(self.db.conn)
        self.results["history"] = figures
        worst = max(v for k, v in figures["large"].items() if k not in ("rows", "search_worst_ms"))
        print(
            f"history: the slowest view beside {self.sizes.history_large:,} jobs: "
            f"{worst:.1f} ms (goal < 300 ms)"
        )

    # -- bulk enqueue ----------------------------------------------------------------------

    def enqueue(self) -> None:
        count = self.sizes.enqueue_jobs
        fill.reset(self.db.conn)
        jobs = [{"job_type": fill.SERVED, "description": f"bulk job {n}", "metadata": {"n": n}}
                for n in range(count)]  # fmt: skip
        conn = self.db.conn
        began = time.perf_counter()
        conn.autocommit = False
        try:
            ids = enqueue_many(conn, jobs)
            conn.commit()
        finally:
            conn.autocommit = True
        rate = len(ids) / (time.perf_counter() - began)
        fill.reset(self.db.conn)
        self.results["enqueue_many_jobs_per_s"] = round(rate)
        print(
            f"enqueue_many: {count:,} jobs in one call, committed: {rate:,.0f} jobs/s "
            f"(goal >= 50,000)"
        )

    # -- peers -----------------------------------------------------------------------------

    def peers(self) -> None:
        """Each installed peer on the same no-op job, in this run, beside jobsup's figures."""
        found: dict[str, float] = {}
        jobs, url = self.sizes.jobs, self.db.url
        runs = {"pgqueuer": lambda: peers.pgqueuer(url, jobs, self.sizes.samples),
                "procrastinate": lambda: peers.procrastinate(url, jobs),
                "celery": lambda: peers.celery(jobs),
                "rq": lambda: peers.rq(max(100, jobs // 5))}  # fmt: skip
        for name, run in runs.items():
            why = peers.missing(name)
            if why:
                print(why)
                continue
            fill.reset(self.db.conn)
            figures = run()
            found |= {k: round(v, 2) for k, v in figures.items()}
            print(f"peer {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
        self.results["peers"] = found
        self._against_peers(found)

    def _against_peers(self, found: dict[str, float]) -> None:
        rates = self.results.get("throughput", {})
        goals = (("8", "pgqueuer_b1", 1.0), ("8", "celery_reused", 1.0), ("4", "pgqueuer_b1", 0.9))
        for concurrency, peer, goal in goals:
            if concurrency in rates and peer in found:
                ratio = rates[concurrency] / found[peer]
                print(f"jobsup concurrency {concurrency} / {peer}: {ratio:.2f}x (goal >= "
                      f"{goal:.1f}x): {'met' if ratio >= goal else 'not met'}")  # fmt: skip
        pickup = self.results.get("pickup_ms", {}).get("p50")
        if pickup is not None and "pgqueuer_pickup_p50_ms" in found:
            theirs = found["pgqueuer_pickup_p50_ms"]
            print(f"pickup p50: jobsup {pickup:.1f} ms, PgQueuer {theirs:.1f} ms (goal: <= "
                  f"PgQueuer's): {'met' if pickup <= theirs else 'not met'}")  # fmt: skip

    # -- the history rollup's cost ---------------------------------------------------------

    def rollup(self) -> None:
        """Concurrency 4 with the rollup's triggers and without, in turn, `repeat` pairs."""
        runs: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
        for _ in range(self.sizes.repeat):
            for name in runs:
                self._set_rollup(name == "with")
                try:
                    fill.reset(self.db.conn)
                    fill.jobs(self.db.conn, self.sizes.jobs)
                    fill.settle(self.db.conn)
                    since = time.time()
                    split = self.db.run("--concurrency", "4", "--until-empty")
                    count, rate = self.db.rate(since)
                finally:
                    self._set_rollup(True)
                runs[name].append({"jobs_per_s": rate, **split.per_job_ms(count)})
        figures = {name: {k: _median([r[k] for r in rs]) for k in rs[0]}
                   for name, rs in runs.items()}  # fmt: skip
        history.rebuild_after(self.db.conn)
        self.results["rollup_cpu_ms_per_job"] = figures
        w, wo = figures["with"], figures["without"]
        print(f"history rollup's triggers, concurrency 4, {self.sizes.jobs} noop jobs: CPU per "
              f"job {w['total']:.2f} ms with (PostgreSQL {w['postgres']:.2f} ms, "
              f"{w['jobs_per_s']:.0f} jobs/s), {wo['total']:.2f} ms without (PostgreSQL "
              f"{wo['postgres']:.2f} ms, {wo['jobs_per_s']:.0f} jobs/s)")  # fmt: skip

    def _set_rollup(self, on: bool) -> None:
        with self.db.conn.cursor() as cur:
            for trigger in ROLLUP_TRIGGERS:
                cur.execute(f"ALTER TABLE processing_jobs {'ENABLE' if on else 'DISABLE'} "
                            f"TRIGGER {trigger}")  # fmt: skip

    # -- the figures against the goals -----------------------------------------------------

    # -- progress --------------------------------------------------------------------------

    def progress(self) -> None:
        """No-op jobs with and without a progress call each, in turn (pairs): the median
        share of the throughput kept."""
        pairs = [(self._rate("diag.noop"), self._rate("bench.progress"))
                 for _ in range(max(3, self.sizes.repeat))]  # fmt: skip
        without, with_progress = _median([a for a, _ in pairs]), _median([b for _, b in pairs])
        share = self.shares["progress"] = _median([b / a for a, b in pairs])
        self.results["progress"] = {"without": without, "with": with_progress, "share": share}
        print(f"progress: {with_progress:.0f} jobs/s with a progress call each, {without:.0f} "
              f"without, concurrency 4 ({self.sizes.jobs} jobs a run): {share:.0%} kept "
              f"(median of {len(pairs)} pairs)")  # fmt: skip

    def _rate(self, job_type: str) -> float:
        fill.reset(self.db.conn)
        fill.jobs(self.db.conn, self.sizes.jobs, job_type)
        fill.settle(self.db.conn)
        since = time.time()
        self.db.run("--concurrency", "4", "--until-empty")
        count, rate = self.db.rate(since, job_type)
        if count != self.sizes.jobs:
            raise SystemExit(f"only {count} of {self.sizes.jobs} {job_type} jobs completed")
        return rate

    # -- pipelines -------------------------------------------------------------------------

    def pipelines(self) -> None:
        """A fan-in and a chain, each right after the same count of independent jobs at the
        same concurrency (4): the share is the pipeline's jobs/s over the independent's."""
        figures: dict[str, Any] = {}
        for name, count, fill_with in (("fan_in", self.sizes.fan_in, pipelines.fan_in),
                                       ("chain", self.sizes.chain, pipelines.chain)):  # fmt: skip
            runs = []
            for _ in range(self.sizes.repeat):
                alone = self._pipeline_run(count, lambda c, n: fill.jobs(c, n))
                piped = self._pipeline_run(count, fill_with)
                runs.append((piped, alone, piped / alone))
            piped, alone = _median([r[0] for r in runs]), _median([r[1] for r in runs])
            share = self.shares[f"pipelines {name}"] = _median([r[2] for r in runs])
            figures[name] = {"jobs": count, "jobs_per_s": piped, "independent_jobs_per_s": alone,
                             "share": share}  # fmt: skip
            print(f"pipelines, {name.replace('_', '-')} of {count}: {piped:.0f} jobs/s = "
                  f"{share:.0%} of {count} independent jobs beside it ({alone:.0f} jobs/s), "
                  "concurrency 4")  # fmt: skip
        self.results["pipelines"] = figures

    def _pipeline_run(self, count: int, fill_with: Callable[[Connection, int], None]) -> float:
        fill.reset(self.db.conn)
        fill_with(self.db.conn, count)
        fill.settle(self.db.conn)
        since = time.time()
        self.db.run("--concurrency", "4", "--until-empty")
        done, rate = self.db.rate(since)
        if done != count:
            raise SystemExit(f"pipelines: only {done} of {count} jobs completed")
        return rate

    def summary(self) -> None:
        r = self.results
        if "fork_ceiling_jobs_per_s" in r:
            c = r["fork_ceiling_jobs_per_s"]  # without the ceiling scenario: 2 in flight only
            shown = ", ".join(f"{c[k]:.0f} jobs/s {k} in flight" for k in ("1", "2") if k in c)
            print(f"fork ceiling, median of {len(self.ceilings['2'])} measures: {shown}")
        if self.shares:
            print("paired shares: " + ", ".join(f"{k} {v:.0%}" for k, v in self.shares.items()))
        for line in _goals(r):
            print(line)


def _goals(r: dict[str, Any]) -> list[str]:
    """Issue 28's goals that this run measured, each with its figure and whether it is met."""

    def goal(what: str, figure: float, unit: str, target: float, at_most: bool) -> str:
        met = figure <= target if at_most else figure >= target
        side = "<=" if at_most else ">="
        return (f"goal: {what} {figure:.2f}{unit} ({side} {target:g}{unit}): "
                f"{'met' if met else 'not met'}")  # fmt: skip

    lines = []
    if "cpu_ms_per_job" in r:
        total = r["cpu_ms_per_job"]["total"]
        lines.append(goal("CPU per job at concurrency 4, all parts", total, " ms", 2.5, True))
    if "pickup_ms" in r:
        lines.append(goal("pickup p99", r["pickup_ms"]["p99"], " ms", 15, True))
    if "turnaround_ms" in r:
        lines.append(goal("busy slot turnaround p50", r["turnaround_ms"]["p50"], " ms", 3, True))
    sup = r.get("supervisors", {})
    if sup.get("1"):
        lines.append(goal("four supervisors / one", sup["4"] / sup["1"] * 100, " %", 90, False))
    if "enqueue_many_jobs_per_s" in r:
        rate = r["enqueue_many_jobs_per_s"]
        lines.append(goal("enqueue_many", rate, " jobs/s", 50_000, False))
    return lines


def _cpu(pid: int) -> float:
    reading = stat(pid)
    return reading[0] if reading else 0.0


def _wait_for(probe: Callable[[], int | bool | None], seconds: float, what: str) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return int(found)
        time.sleep(0.05)
    raise SystemExit(f"the supervisor never {what} (within {seconds:.0f} s)")


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
        time.sleep(0.02)
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
    parser.add_argument("--only", nargs="+", choices=(*SCENARIOS, "peers"),
                        help="just these scenarios")  # fmt: skip
    parser.add_argument("--peers", action="store_true",
                        help="also PgQueuer, Procrastinate, Celery and RQ (extra `bench`), "
                        "after jobsup's throughput and latency")  # fmt: skip
    parser.add_argument("--jobs", type=int, help="jobs per throughput run")
    parser.add_argument("--repeat", type=int, help="runs per figure (median kept)")
    parser.add_argument("--depth-rows", type=int, help="rows beside the jobs in depth runs")
    parser.add_argument("--depth-jobs", type=int, help="jobs run per depth figure")
    parser.add_argument("--samples", type=int, help="pickup latencies measured")
    parser.add_argument("--cycles", type=int, help="forks per ceiling measure")
    parser.add_argument("--idle-seconds", type=float, help="the idle supervisor's watch")
    parser.add_argument("--history-small", type=int, help="finished jobs of the small history")
    parser.add_argument("--history-large", type=int, help="finished jobs of the large history")
    parser.add_argument("--enqueue-jobs", type=int, help="jobs of the enqueue_many call")
    parser.add_argument("--fan-in", type=int, help="jobs of the pipelines' fan-in")
    parser.add_argument("--chain", type=int, help="links of the pipelines' chain")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name in Sizes.__dataclass_fields__:
        if getattr(args, name) is not None:
            sizes = Sizes(**{**sizes.__dict__, name: getattr(args, name)})
    began = time.monotonic()
    print(f"{os.cpu_count()} CPUs, load average {_load()} at the start")
    with (
        scratch_database() as url,
        scratch_database() as base_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = write_config(Path(tmp), CONFIG)
        main_db, base_db = BenchDb(url, config), BenchDb(base_url, config)
        bench = Bench(main_db, base_db, sizes)
        scenarios = list(args.only or SCENARIOS)
        if args.peers and "peers" not in scenarios:
            scenarios.append("peers")
        for scenario in scenarios:
            getattr(bench, scenario)()
        if "ceiling" in scenarios:
            bench.ceiling()  # again at the end: the machine's speed drifts
        bench.summary()
        main_db.close()
        base_db.close()
    print(f"{time.monotonic() - began:.0f} s in all; load average {_load()} at the end")
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=1) + "\n")


if __name__ == "__main__":
    main()
