"""Fault injection at scale: many jobs, several supervisors on one database, random faults.

    .venv/bin/python scripts/chaos.py                     # 3000 jobs, 3 supervisors, 120 s
    .venv/bin/python scripts/chaos.py --duration 20 --jobs 300
    sudo .venv/bin/python scripts/chaos.py --netns        # each supervisor a host of its own
    .venv/bin/python scripts/chaos.py --pipelines         # 40 % in batches and chains

It starts a PostgreSQL of its own (own data directory, own TCP port), `jobsup db init`, S
supervisors, each reaching the database through a TCP proxy of its own on 127.0.0.1 (or on
its host's link with `--netns`), and enqueues M `chaos` jobs (`runner.diag:chaos`) over the
first part of the run: sleeps of random length, some raising in their first attempts, some
dying by SIGSEGV or growing past the memory limit in their first attempt; each records every
execution in the run's execution log and returns one insight naming its job, attempt,
lease token and execution. Meanwhile it draws faults (`chaoslib/faults.py`): SIGKILL, SIGTERM
(drain) and SIGSTOP of supervisors, SIGKILL of fork servers and runners, SIGHUP with a
changed config, PostgreSQL restarted (fast, immediate) or stopped past `stale_after`, a
supervisor's connections refused, black-holed or frozen past `stale_after`, the original
document's emergency reset SQL, and with `--netns` a host's link taken down (at either end).
Each fault is logged with its time; `--exclude` leaves some out.

At the end it heals everything, lets the queue drain while jobs keep finishing, stops the
supervisors, checks that no process of theirs is left, and judges every job. Its terms:

- **lost**: an enqueued job whose row is gone, whose status is one jobsup never gives a job
  unasked (anything but completed, failed, pending, processing), or that is `completed`
  without an insight row (the result it reported was dropped).
- **stuck**: a job still `pending` or `processing` once the faults have stopped and no job
  has finished for `--drain-timeout` seconds.
- **written twice**: a job with more than one insight row, or whose insight was written by
  an execution other than its last claim's: its attempt is not the row's last attempt
  (retry_count + 1), its lease token is not the row's, or the execution log holds an
  execution of a later claim (a higher attempt or lease token); also a `failed` job with an
  insight.

Other anomalies fail the run too: a job `failed` without a reason or before its retries were
spent; an insight naming an execution the log never saw finish; an execution that no attempt
record explains (in `processing_jobs.attempts`: that attempt by that runner, or a reclaim of
it from that runner's supervisor) nor an operator's reset; a runner that held memory over its
limit to the end of its hold; two runners of one job alive at once on one supervisor, or on
two when neither was frozen (SIGSTOP) nor the job just reset (within 2 s; within the
owner's lease, `lease_timeout` past the cut's start, when it was reset while the owner's
connections were cut: the reset SQL's documented cost); a running supervisor declared
dead before it had been silent for `stale_after` with the database up (as right after a
database outage, when every heartbeat is old); a supervisor that exits on its own (other than
`jobsup start` refusing, in one line, a database it cannot reach), that takes over 10 s to
stop on SIGTERM, or whose log holds a traceback; a host key shared by two hosts, or changing
across one host's restarts; a process of the run left after the stop.

It prints each anomaly on a line, then, as its last line:

    chaos: <N> jobs: <C> completed, <F> failed, <L> lost, <S> stuck, <D> written twice

Exit status 0 when nothing is lost, stuck or written twice and no other check failed; 1
otherwise; 2 when the run cannot be made (e.g. `--netns` without root). The run directory
(`/tmp/jobsup-chaos-*`: the faults' log, the execution log, each supervisor's log, the jobs'
final rows) is kept when the run fails, or with `--keep`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg2
from chaoslib import pipelines
from chaoslib.check import (
    Life,
    Row,
    Verdict,
    check_host_keys,
    judge,
    judge_watch,
    most_in_a_window,
    read_executions,
)
from chaoslib.faults import FAULTS, Chaos, Context, FaultLog, stop_after_term
from chaoslib.hosts import NamespaceError, Network
from chaoslib.pgbouncer import PgBouncer
from chaoslib.postgres import Postgres, stop_left_over
from chaoslib.proxy import Loop, Proxy
from chaoslib.supervisors import (
    JOBSUP,
    MAX_RETRIES,
    RATE_PERIOD,
    RATE_STARTS,
    START_MARK,
    Supervisor,
    Timers,
    skew,
    title,
)
from chaoslib.watch import Watcher

from supervisor.db.connect import Connection, connect

FEED_SHARE = 0.6  # jobs are enqueued over this share of the run, so faults meet a busy queue
RUN_PREFIX = "jobsup-chaos-"  # the run's directory in /tmp
# Every start of a job, as its claim stamped it (started_at: for a rate-limited type the time
# written into its window), kept apart from the row (a retry clears started_at).
RECORD_STARTS = """
CREATE TABLE chaos_starts (job_type text, at timestamptz);
CREATE FUNCTION chaos_record_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chaos_starts VALUES (NEW.job_type, NEW.started_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER chaos_record_start AFTER UPDATE OF status ON processing_jobs
    FOR EACH ROW WHEN (NEW.status = 'processing' AND OLD.status <> 'processing')
    EXECUTE FUNCTION chaos_record_start();
"""
OWNER = "owner"  # in it: the pid and start time of the run's process
DRAIN_CAP = 600.0  # the longest the queue may take to drain, even while it makes progress
PIPELINE_SHARE = 0.4  # with --pipelines, of --jobs: in batches and chains
BEHAVIOURS = {"sleep": 62, "raise": 12, "segv": 8, "memory": 6, "step": 12}  # per cent


def main() -> int:
    args = _arguments()
    signal.signal(signal.SIGTERM, _interrupt)  # so that the clean-up runs
    sweep_dead_runs()
    if args.pgbouncer and args.netns:
        print("chaos: --pgbouncer runs on one host only (not with --netns)", file=sys.stderr)
        return 2
    try:
        network = Network.namespaces(args.supervisors) if args.netns else None
    except NamespaceError as e:
        print(f"chaos: {e}", file=sys.stderr)
        return 2
    run: Run | None = None
    verdict = None
    try:
        run = Run(args, network or Network.local(args.supervisors))
        verdict = run.execute()
    except KeyboardInterrupt:
        print("chaos: interrupted; cleaning up", file=sys.stderr)
    finally:
        if run is not None:
            run.clean_up(keep=args.keep or verdict is None or not verdict.ok)
        elif network is not None:
            network.destroy()
    if verdict is None:
        return 1
    for anomaly in verdict.anomalies:
        print(anomaly)
    print(verdict.summary(), flush=True)
    return 0 if verdict.ok else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--supervisors", type=int, default=3)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of faults")
    parser.add_argument("--concurrency", type=int, default=8, help="runners per supervisor")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="after the faults, seconds the queue may go without a job "
                             "finishing before what is left counts as stuck")  # fmt: skip
    parser.add_argument("--netns", action="store_true", help="each supervisor a host of its own")
    parser.add_argument("--pipelines", action="store_true",
                        help="a share of the jobs in batches (fan-in 50) and chains (depth 4) "
                             "(chaoslib/pipelines.py)")  # fmt: skip
    names = ", ".join(f.name for f in FAULTS)
    parser.add_argument("--exclude", type=_fault_names, default=set(), metavar="FAULT,…",
                        help=f"faults not to make: {names}")  # fmt: skip
    parser.add_argument("--pgbouncer", choices=("transaction", "session"), default=None,
                        help="supervisors reach PostgreSQL through Debian's PgBouncer in this "
                             "pool mode (one host only)")  # fmt: skip
    parser.add_argument("--skew", type=float, default=0.0, metavar="SECONDS",
                        help="supervisors' wall clocks this far ahead, behind and right, in "
                             "turn (Debian's faketime)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    return parser.parse_args()


def _fault_names(text: str) -> set[str]:
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - {f.name for f in FAULTS}
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault {', '.join(sorted(unknown))} (known: "
                                         f"{', '.join(f.name for f in FAULTS)})")  # fmt: skip
    return names


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


class Run:
    def __init__(self, args: argparse.Namespace, network: Network) -> None:
        self.args = args
        self.network = network
        self.seed = args.seed if args.seed is not None else random.randrange(1 << 32)
        self.rng = random.Random(self.seed)
        self.directory = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
        self.directory.chmod(0o755)  # a root run's PostgreSQL runs as another user
        (self.directory / OWNER).write_text(f"{os.getpid()} {psutil.Process().create_time()}")
        self.record = self.directory / "executions.jsonl"
        self.log = FaultLog(self.directory / "faults.log")
        addresses = ["127.0.0.1"] + [h.db_address for h in network.hosts if h.netns]
        self.postgres = Postgres(self.directory / "postgres", addresses, network.trusted)
        self.timers = Timers(pooler=args.pgbouncer or "none")
        self.pgbouncer: PgBouncer | None = None
        self.proxies: Loop | None = None
        self.supervisors: list[Supervisor] = []
        share = int(args.jobs * PIPELINE_SHARE) if args.pipelines else 0
        self.groups = pipelines.groups(share, self.rng,
                                       lambda n: job_mix(n, self.rng, self.record))  # fmt: skip
        self.jobs = job_mix(args.jobs - sum(len(g.jobs) for g in self.groups), self.rng,
                            self.record)  # fmt: skip
        self.fed = 0
        self.conn: Connection | None = None
        self.watcher: Watcher | None = None
        self.chaos: Chaos | None = None

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> Verdict:
        mode = "netns hosts" if self.network.hosts[0].netns else "one host"
        self.log(f"chaos: {self.args.jobs} jobs, {self.args.supervisors} supervisors ({mode}), "
                 f"{self.args.duration:g} s, seed {self.seed}, in {self.directory}")  # fmt: skip
        if self.groups:
            chains = sum(1 for g in self.groups if g.kind == "chain")
            self.log(f"chaos: pipelines: {len(self.groups) - chains} batches of "
                     f"{pipelines.FAN_IN} and a then-job, {chains} chains of "
                     f"{pipelines.CHAIN_DEPTH}")  # fmt: skip
        self._set_up()
        ctx = Context(self.supervisors, self.postgres, self.network, self.timers,
                      random.Random(self.rng.random()), self.log)  # fmt: skip
        chaos = Chaos(ctx, bool(self.network.hosts[0].netns), self.args.exclude)
        started = time.monotonic()
        chaos.start()
        self.chaos = chaos
        self._watch(started + self.args.duration, ctx, started)
        chaos.stop()
        self.log("chaos: faults stopped; healing and draining")
        self._heal()
        drained = self._drain(ctx)
        self.log(f"chaos: queue {'drained' if drained else 'NOT drained'}; stopping")
        self._stop_supervisors(ctx)
        assert self.watcher is not None
        self.watcher.close()
        ctx.anomalies += self._leftovers() + self._tracebacks()
        return self._verdict(ctx)

    def _set_up(self) -> None:
        self.postgres.init()
        env = {**os.environ, "DATABASE_URL": self.postgres.url()}
        result = subprocess.run([JOBSUP, "db", "init"], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"jobsup db init: {result.stderr.strip()}")
        conn = self._connection()
        assert conn is not None  # nosec B101  # just initialised
        with conn.cursor() as cur:
            cur.execute(RECORD_STARTS)
        self.proxies = Loop()
        if self.args.pgbouncer:
            self.pgbouncer = PgBouncer(self.directory / "pgbouncer", self.args.pgbouncer,
                                       "127.0.0.1", self.postgres.port, self.args.supervisors,
                                       self.args.concurrency)  # fmt: skip
        for i, host in enumerate(self.network.hosts):
            upstream = (host.db_address, self.postgres.port)
            if self.pgbouncer is not None:
                upstream = (self.pgbouncer.host, self.pgbouncer.port)
            proxy = Proxy(self.proxies, host.db_address, upstream)
            self.supervisors.append(Supervisor(i + 1, host, proxy, self.directory, self.timers,
                                               self.args.concurrency))  # fmt: skip
        if self.args.skew:
            skew(self.supervisors, self.args.skew)
        for sup in self.supervisors:
            sup.start()
        self.watcher = Watcher(self.supervisors, self.postgres.url())
        self.watcher.start()

    def _watch(self, until: float, ctx: Context, started: float) -> None:
        """While the faults last: feed the jobs due, restart supervisors that exit on their own."""
        feed_time = self.args.duration * FEED_SHARE
        while time.monotonic() < until:
            self._feed(_share(started, feed_time, len(self.jobs)))
            self._feed_groups(_share(started, feed_time, len(self.groups)))
            self._restart_exited(ctx)
            time.sleep(0.2)

    def _drain(self, ctx: Context) -> bool:
        """Wait for the queue to empty while it makes progress; False when no job finished
        for --drain-timeout seconds (or DRAIN_CAP passed): what is left is stuck."""
        now = time.monotonic()
        cap, progress, left_before = now + DRAIN_CAP, now, None
        while time.monotonic() < min(cap, progress + self.args.drain_timeout):
            self._feed(len(self.jobs))
            self._feed_groups(len(self.groups))
            self._restart_exited(ctx)
            left = self._unfinished()
            fed_all = self.fed == len(self.jobs) and all(g.fed for g in self.groups)
            if left is not None and fed_all:
                if left == 0:
                    return True
                if left_before is None or left < left_before:
                    left_before, progress = left, time.monotonic()
            time.sleep(0.2)
        return False

    def _heal(self) -> None:
        if not self.postgres.running():
            self.postgres.start()
        for sup in self.supervisors:
            sup.proxy.set("pass")
            if sup.host.netns:
                sup.host.set_link(True, "peer")
                sup.host.set_link(True, "host")
            sup.signal(signal.SIGCONT)

    def _restart_exited(self, ctx: Context) -> None:
        for sup in self.supervisors:
            if not sup.lock.acquire(blocking=False):
                continue  # a fault is acting on it
            try:
                code = sup.exit_code()
                if code is None:
                    continue
                tail = sup.log_tail()
                refused = _refused_at_start(code, sup.log_tail(1), sup.ready())
                if not sup.expected_exit and not refused:
                    ctx.anomalies.append(f"supervisor {sup.name}: exited on its own with code "
                                         f"{code}: {tail}")  # fmt: skip
                self.log(f"       supervisor {sup.name} exited (code {code}): restarting")
                sup.start()
            finally:
                sup.lock.release()

    def _stop_supervisors(self, ctx: Context) -> None:
        sent = time.monotonic()
        for sup in self.supervisors:
            sup.expected_exit = True
            sup.signal(signal.SIGTERM)
        for sup in self.supervisors:
            stop_after_term(ctx, sup, sent, "the final SIGTERM")

    # -- the queue -------------------------------------------------------------------------

    def _connection(self) -> Connection | None:
        if self.conn is None or self.conn.closed:
            try:
                self.conn = connect(self.postgres.url(), connect_timeout=2)
            except Exception:  # down at the moment (a fault): later
                self.conn = None
        return self.conn

    def _feed(self, due: int) -> None:
        if due <= self.fed or (conn := self._connection()) is None:
            return
        batch = self.jobs[self.fed : due]
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO processing_jobs (id, job_type, metadata, fair_key) "
                    "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::jsonb[], %s::text[]) "
                    "ON CONFLICT (id) DO NOTHING",  # a batch may be sent again after a fault
                    ([i for i, _ in batch], [m["job_type"] for _, m in batch],
                     [json.dumps(m) for _, m in batch], [m["fair_key"] for _, m in batch]),
                )  # fmt: skip
            self.fed = due
        except psycopg2.Error:
            self.conn = None

    def _feed_groups(self, due: int) -> None:
        for group in self.groups[:due]:
            if group.fed:
                continue
            conn = self._connection()
            if conn is None or not pipelines.feed(conn, group):
                self.conn = None
                return

    def _unfinished(self) -> int | None:
        conn = self._connection()
        if conn is None:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM processing_jobs "
                            "WHERE status IN ('pending', 'processing')")  # fmt: skip
                row = cur.fetchone()
            return int(row[0]) if row else None
        except psycopg2.Error:
            self.conn = None
            return None

    # -- processes -------------------------------------------------------------------------

    def _leftovers(self) -> list[str]:
        """Processes of this run still alive after the supervisors stopped (killed now)."""
        time.sleep(1.0)  # runners of a supervisor just stopped die with it
        job_ids = {job_id for job_id, _ in self.jobs}
        left = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if self._ours(process, job_ids):
                    left.append(process)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        return [f"left running after the stop: pid {p.pid} {_title(p)!r}" for p in left]

    def _ours(self, process: psutil.Process, job_ids: set[str]) -> bool:
        """Seen in a supervisor's tree, a runner of one of our jobs, or a supervisor (or its
        nsenter) by its config file in our directory."""
        assert self.watcher is not None
        if (process.pid, process.create_time()) in self.watcher.seen:
            return True
        name = title(process)
        if name.startswith("jobsup: runner ") and name.split()[2] in job_ids:
            return True
        return _supervisor_of(self.directory, name)

    def _tracebacks(self) -> list[str]:
        """A traceback in a supervisor's log (its own, its fork server's) is a bug."""
        found = []
        for sup in self.supervisors:
            lines = sup.log_path.read_text(errors="replace").splitlines()
            for i, line in enumerate(lines):
                if "Traceback (most recent call last)" in line:
                    error = _traceback(lines[i + 1 :])
                    found.append(f"supervisor {sup.name}: traceback in its log "
                                 f"({sup.log_path}:{i + 1}): {error}")  # fmt: skip
        return found

    # -- the verdict -----------------------------------------------------------------------

    def _verdict(self, ctx: Context) -> Verdict:
        conn = self._connection()
        if conn is None:
            raise RuntimeError("the database is unreachable at the end of the run")
        rows, insights, workers, keys = collect(conn)
        with (self.directory / "jobs.jsonl").open("w") as f:  # for a post-mortem
            for job_id, row in rows.items():
                f.write(json.dumps({"id": job_id, **dataclasses.asdict(row),
                                    "insights": insights.get(job_id, [])}) + "\n")  # fmt: skip
        assert self.watcher is not None
        executions, unreadable = read_executions(self.record, self.watcher.fork_servers)
        expected = [job_id for job_id, _ in self.jobs]
        expected += [job_id for g in self.groups if g.fed for job_id, _ in g.jobs]
        verdict = judge(expected, rows, insights, executions, workers, ctx.disturbances,
                        MAX_RETRIES)  # fmt: skip
        piped = pipelines.check(conn, self.groups, executions, insights) if self.groups else []
        verdict.anomalies = (unreadable + ctx.anomalies + check_host_keys(keys)
                             + verdict.anomalies + self._watched(ctx) + piped
                             + self._rate_checked(conn))  # fmt: skip
        runs = sum(len(r) for r in executions.values())
        restarts = sum(len(s.incarnations) - 1 for s in self.supervisors)
        self.log(f"chaos: {runs} executions of {len(executions)} jobs, {restarts} supervisor "
                 f"restarts, {len(ctx.disturbances.freezes)} freezes")  # fmt: skip
        return verdict

    def _rate_checked(self, conn: Connection) -> list[str]:
        """The rate limit held: no window of RATE_PERIOD seconds of chaos_limited's starts (as
        the claims stamped them, recorded by RECORD_STARTS) holds over RATE_STARTS."""
        with conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM at)::float8 FROM chaos_starts "
                        "WHERE job_type = 'chaos_limited' ORDER BY at")  # fmt: skip
            starts = [at for (at,) in cur.fetchall()]
        most = most_in_a_window(starts, RATE_PERIOD)
        self.log(f"chaos: chaos_limited: {len(starts)} starts, at most {most} in any "
                 f"{RATE_PERIOD:g} s (limit {RATE_STARTS})")  # fmt: skip
        if most > RATE_STARTS:
            return [f"rate limit exceeded: {most} starts of chaos_limited within "
                    f"{RATE_PERIOD:g} s (limit {RATE_STARTS})"]  # fmt: skip
        return []

    def _watched(self, ctx: Context) -> list[str]:
        watcher = self.watcher
        assert watcher is not None
        lives = [Life(sup.name, sup.host.hostname, life.ns_pid, life.pid, watcher.ended_at(life))
                 for sup in self.supervisors for life in sup.incarnations]  # fmt: skip
        return judge_watch(watcher.at_once, watcher.declared, lives, ctx.disturbances,
                           self.timers.stale_after)  # fmt: skip

    def clean_up(self, keep: bool) -> None:
        if self.chaos is not None:
            self.chaos.stop()  # no new fault; the ones under way heal
        if self.watcher is not None:
            self.watcher.close()
        for sup in self.supervisors:
            if sup.pid is not None:
                sup.kill()
        if self.conn is not None:
            self.conn.close()
        if self.proxies is not None:
            for sup in self.supervisors:
                with contextlib.suppress(Exception):
                    sup.proxy.close()
            self.proxies.close()
        if self.pgbouncer is not None:
            self.pgbouncer.close()
        self.network.destroy()
        self.postgres.destroy()
        (self.directory / OWNER).unlink(missing_ok=True)  # nothing left to sweep
        if keep:
            print(f"chaos: run directory kept: {self.directory}", flush=True)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


def sweep_dead_runs() -> None:
    """Stop what a chaos run killed outright (SIGKILL) left running: its supervisors and its
    PostgreSQL (`Network.namespaces` sweeps its namespaces)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}*"):
        owner = directory / OWNER
        with contextlib.suppress(OSError, ValueError):
            pid, started = owner.read_text().split()
            if _same_process(int(pid), float(started)):
                continue
            for process in psutil.process_iter():
                with contextlib.suppress(psutil.Error):
                    if _supervisor_of(directory, title(process)):
                        process.kill()
            stop_left_over(directory / "postgres")
            owner.unlink()


def _supervisor_of(directory: Path, name: str) -> bool:
    """Is the process titled `name` a supervisor of the run in `directory` (by its config
    file), or the nsenter that started one?"""
    return (
        name.startswith(("jobsup: supervisor job_cron.py [", "nsenter ")) and str(directory) in name
    )


def _same_process(pid: int, started: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False


def job_mix(count: int, rng: random.Random, record: Path) -> list[tuple[str, dict[str, Any]]]:
    """`count` (job id, metadata) pairs: of the chaos job type, or one in four of the
    rate-limited chaos_limited; most with a fair_key (one customer with half of those, the
    others spread over 20), the rest without (the metadata carries both, for the insert)."""
    jobs = []
    for _ in range(count):
        behaviour = rng.choices(list(BEHAVIOURS), list(BEHAVIOURS.values()))[0]
        draw = rng.random()
        key = None if draw < 0.3 else "big" if draw < 0.65 else f"customer-{rng.randrange(20)}"
        metadata: dict[str, Any] = {"record": str(record), "behaviour": behaviour,
                                    "seconds": round(_sleep(rng), 3), "fair_key": key,
                                    "job_type": "chaos_limited" if rng.random() < 0.25
                                    else "chaos"}  # fmt: skip
        if behaviour == "raise":
            metadata["fail_attempts"] = rng.choice((1, 1, 2, MAX_RETRIES + 1))  # 1 in 4 fails
        elif behaviour == "memory":
            # Over the type's 128 MB, then held: a runner that lives to the end of the hold
            # was not stopped at its limit.
            metadata |= {"mb": 300, "mb_per_s": 1000, "hold": 1.5}
        elif behaviour == "step":  # half of them die right after it, in their first attempt
            metadata["die_after_step"] = rng.random() < 0.5
        jobs.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), metadata))
    return jobs


def _sleep(rng: random.Random) -> float:
    """Mostly short, some long enough for a fault to cut them short, a few longer than
    stale_after."""
    draw = rng.random()
    if draw < 0.60:
        return rng.uniform(0.01, 0.2)
    if draw < 0.90:
        return rng.uniform(0.2, 1.0)
    if draw < 0.99:
        return rng.uniform(1.0, 3.0)
    return rng.uniform(5.0, 10.0)  # past stale_after: a cut-off supervisor must fence itself


def collect(conn: Connection) -> tuple[dict[str, Row], dict[str, list[dict[str, Any]]],
                                       dict[str, tuple[str, int]],
                                       list[tuple[str, str]]]:  # fmt: skip
    """The jobs' rows, their insights' contents, the supervisors' (host, pid) by id, and
    each supervisor's (host, host key)."""
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'processing_jobs' AND column_name = 'lease'")  # fmt: skip
        lease = "lease" if cur.fetchone() else "NULL"
        cur.execute("SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'processing_jobs' AND column_name = 'steps'")  # fmt: skip
        steps = "steps" if cur.fetchone() else "NULL"
        cur.execute(f"SELECT id::text, status, retry_count, error_message, attempts, {lease}, "
                    f"{steps} FROM processing_jobs")  # fmt: skip
        rows = {r[0]: Row(r[1], r[2] or 0, r[3], r[4] or [], r[5], r[6]) for r in cur.fetchall()}
        cur.execute("SELECT job_id::text, content FROM insights ORDER BY created_at")
        insights: dict[str, list[dict[str, Any]]] = {}
        for job_id, content in cur.fetchall():
            insights.setdefault(job_id, []).append(content)
        cur.execute("SELECT id::text, host, pid, host_key FROM jobsup_workers")
        found = cur.fetchall()
    workers = {r[0]: (r[1], r[2]) for r in found}
    return rows, insights, workers, [(r[1], r[3]) for r in found]


def _share(started: float, over: float, count: int) -> int:
    return min(count, int(count * (time.monotonic() - started) / over)) if over else count


def _refused_at_start(code: int, last_line: str, ready: bool) -> bool:
    """`jobsup start` exits 1, saying why in one line, when it cannot reach the database as it
    starts (documented: systemd's Restart=on-failure starts it again)."""
    return code == 1 and not ready and last_line.startswith("jobsup: ")


def _traceback(lines: list[str]) -> str:
    """`error, at file:line`: a traceback's error and jobsup's deepest frame in it, from the
    lines after its head (others' lines may be interleaved; it may end with its process)."""
    frames: list[str] = []
    error = "(cut short)"
    for line in lines[:100]:
        if START_MARK in line or "Traceback (most recent call last)" in line:
            break
        if line.startswith("  File "):
            frames.append(line.strip())
        elif line and not line[0].isspace() and not line[:4].isdigit():
            error = line.strip()
            break
    ours = [f for f in frames if "/runner/" in f or "/supervisor/" in f] or frames or ["?"]
    return f"{error}, at {ours[-1]}"


def _title(process: psutil.Process) -> str:
    try:
        return title(process)
    except psutil.Error:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
