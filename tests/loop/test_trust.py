"""The promise under faults: no row can stop a supervisor, no job runs twice at once under
one supervisor, no stale result is written, and the loop keeps its timing while the
database is gone (real supervisors, real PostgreSQL, a proxy that cuts the connection)."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import (
    SupervisorProcess,
    Supervisors,
    add_job,
    alive,
    job,
    rows,
    scalar,
    status,
    wait_for,
    write_config,
)
from tests.fixtures.tcpproxy import Proxy

pytestmark = pytest.mark.slow

SEED_RESET = "UPDATE processing_jobs SET status = 'pending', started_at = NULL " \
    "WHERE status = 'processing'"  # fmt: skip


@pytest.fixture
def proxy(db_url: str) -> Iterator[Proxy]:
    p = Proxy(db_url)
    yield p
    p.close()


def insert(conn: Connection, sql_values: str, *params: object) -> str:
    """A job inserted through SQL as any application may: `sql_values` sets its columns."""
    return str(scalar(conn, f"INSERT INTO processing_jobs {sql_values} RETURNING id", *params))


def runners_of(sup: SupervisorProcess, job_id: str) -> list[int]:
    found = []
    for pid in sup.runner_pids():
        with contextlib.suppress(psutil.Error):
            if job_id in " ".join(psutil.Process(pid).cmdline()):
                found.append(pid)
    return found


def insight_contents(conn: Connection, job_id: str) -> list[dict[str, object]]:
    return [c for (c,) in rows(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)]


def log_time(log: str, pattern: str) -> float:
    """The wall time of the first log line matching `pattern`."""
    match = re.search(r"^(\S+ \S+) .*" + pattern, log, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{log}"
    return time.mktime(time.strptime(match.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + float(
        "0" + match.group(1)[19:]
    )


def test_poison_rows_fail_alone_and_the_supervisor_goes_on(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    good = [add_job(conn, "noop") for _ in range(3)]
    empty_file = scalar(conn, "INSERT INTO files (file_path) VALUES ('') RETURNING id")
    bad = {
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', '[1]')"
        ): "metadata: expected a JSON object, got array [1]",
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', '\"x\"')"
        ): "metadata: expected a JSON object, got string 'x'",
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', '42')"
        ): "metadata: expected a JSON object, got number 42",
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', 'null')"
        ): "metadata: expected a JSON object, got null",
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', '{\"memory_mb\": \"lots\"}')"
        ): "metadata.memory_mb: expected a positive number of MiB, got 'lots'",
        insert(
            conn, "(job_type, metadata) VALUES ('diag.noop', '{\"memory_mb\": -5}')"
        ): "metadata.memory_mb: expected a positive number of MiB, got -5",
        insert(
            conn, "(job_type, retry_count) VALUES ('diag.noop', -2)"
        ): "retry_count: expected 0 or more, got -2",
        insert(conn, "(job_type, file_id) VALUES ('diag.noop', %s)", empty_file): (
            "files.file_path: expected a path, got ''"
        ),
    }
    odd = [  # odd but usable: they run
        insert(conn, "(job_type, priority) VALUES ('diag.noop', -2147483648)"),
        insert(conn, "(job_type, run_at) VALUES ('diag.noop', '-infinity')"),
        insert(conn, "(job_type, metadata) VALUES ('diag.noop', '{\"memory_mb\": 1e300}')"),
    ]
    never = insert(conn, "(job_type, run_at) VALUES ('diag.noop', 'infinity')")
    # a type no supervisor serves (issue 29): never claimed, so never failed; it waits
    nameless = insert(conn, "(job_type) VALUES ('')")
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait(60) == 4, sup.log()  # a batch in which some job failed
    log = sup.log()
    assert "Traceback" not in log, log
    for job_id in good + odd:
        assert status(conn, job_id) == "completed", (job_id, log)
    for job_id, reason in bad.items():
        row = job(conn, job_id)
        assert (row["status"], row["retry_count"]) == ("failed", 0), (row, reason)
        assert row["error_message"] == f"unusable job row: {reason}"
        assert len(row["attempts"]) == 1 and row["attempts"][0]["outcome"] == "failed"
    assert status(conn, never) == "pending"
    assert (job(conn, nameless)["status"], job(conn, nameless)["attempts"]) == ("pending", [])


def test_the_seeds_reset_sql_never_runs_a_job_twice_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=2, insights=1)
    sup = supervisors.start(db_url, write_config(tmp_path))
    first = wait_for(lambda: runners_of(sup, job_id))
    most = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, len(runners_of(sup, job_id)))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with conn.cursor() as cur:
            cur.execute(SEED_RESET)  # the seed's "Reset all processing jobs to pending"
        wait_for(lambda: not alive(first[0]), timeout=5)
        wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    finally:
        stop.set()
        sampler.join()
    assert most == 1, sup.log()
    assert len(insight_contents(conn, job_id)) == 1
    outcomes = [a["outcome"] for a in job(conn, job_id)["attempts"]]
    assert outcomes == ["lost", "completed"], outcomes
    assert "killing its runner" in sup.log()


def test_a_frozen_supervisors_late_result_is_discarded_when_a_peer_completed_the_job(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=1, insights=1)
    config = write_config(tmp_path)
    frozen = supervisors.start(db_url, config)
    frozen_id = frozen.wait_registered(conn)
    runner = wait_for(lambda: runners_of(frozen, job_id))[0]
    with conn.cursor() as cur:  # another machine, as far as a peer can tell
        cur.execute("UPDATE jobsup_workers SET host_key = 'elsewhere' WHERE id = %s", (frozen_id,))
    frozen.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(runner), timeout=10)  # it finished; its result waits
        peer = supervisors.start(db_url, config)
        wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(lambda: "result not written" in frozen.log(), timeout=10)
    for sup in (frozen, peer):
        sup.signal(signal.SIGTERM)
        assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert [c["attempt"] for c in insight_contents(conn, job_id)] == [2]


def test_a_thawed_supervisor_that_claims_the_job_again_writes_only_the_last_claim(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=1, insights=1)
    config = write_config(tmp_path, concurrency=1)
    sup = supervisors.start(db_url, config)
    runner = wait_for(lambda: runners_of(sup, job_id))[0]
    sup.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(runner), timeout=10)  # attempt 1 done, its result unread
        time.sleep(3.5)  # stale_after
        reclaimed = jobsup("-c", str(config), "jobs", "reclaim", env={"DATABASE_URL": db_url})
        assert "reclaimed" in reclaimed.stdout, reclaimed
        assert job(conn, job_id)["retry_count"] == 1
    finally:
        sup.signal(signal.SIGCONT)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1), sup.log()
    assert [c["attempt"] for c in insight_contents(conn, job_id)] == [2], sup.log()
    assert [a["outcome"] for a in row["attempts"]] == ["retry", "completed"]
    assert "result not written" in sup.log()


def test_limits_and_signals_keep_their_timing_while_the_database_is_black_holed(
    db_url: str, conn: Connection, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    hog = add_job(conn, "allocate", mb=400, mb_per_s=150, report_mb=100)
    config = write_config(
        tmp_path,
        extra="[database]\nstatement_timeout = 5.0\n",
        type_extra={"allocate": "memory_mb = 100\n"},
    )
    config.write_text(config.read_text().replace("stale_after = 3.0", "stale_after = 60.0"))
    sup = supervisors.start(proxy.url(), config)
    runner = wait_for(lambda: runners_of(sup, hog))[0]
    proxy.set("blackhole")
    wait_for(lambda: "| crossed " in sup.log(), timeout=10)
    wait_for(lambda: not alive(runner), timeout=5)
    died = time.time()
    crossed = float(re.search(r"\| crossed (\S+)", sup.log()).group(1))  # type: ignore[union-attr]
    assert died - crossed < 0.5, sup.log()
    time.sleep(1.0)  # the heartbeat in flight still hangs
    sent = time.time()
    sup.signal(signal.SIGTERM)
    wait_for(lambda: "stop signal" in sup.log(), timeout=5)
    assert log_time(sup.log(), "stop signal") - sent < 1.0, sup.log()
    proxy.set("pass")
    assert sup.wait(60) == 0, sup.log()
    row = job(conn, hog)
    assert row["error_message"].startswith("memory limit exceeded"), row


def test_after_an_outage_longer_than_stale_after_no_live_supervisors_job_is_reclaimed(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    proxies = [Proxy(db_url), Proxy(db_url)]
    try:
        ids = [add_job(conn, "sleep", seconds=8, insights=1) for _ in range(2)]
        config = write_config(tmp_path, concurrency=1,
                              supervisor_extra='on_lost_lease = "finish"')  # fmt: skip
        sups = [supervisors.start(p.url(), config) for p in proxies]
        for sup in sups:  # as if on two machines: only heartbeats tell them apart
            worker = sup.wait_registered(conn)
            with conn.cursor() as cur:
                cur.execute("UPDATE jobsup_workers SET host_key = %s WHERE id = %s",
                            (worker, worker))  # fmt: skip
        wait_for(lambda: all(status(conn, i) == "processing" for i in ids))
        for p in proxies:
            p.set("refuse")
        time.sleep(5.0)  # longer than stale_after = 3 s: every heartbeat is old now
        for p in proxies:
            p.set("pass")
        wait_for(lambda: all(status(conn, i) == "completed" for i in ids), timeout=30)
        for sup in sups:
            sup.signal(signal.SIGTERM)
            assert sup.wait() == 0, sup.log()
            assert "declared dead" not in sup.log(), sup.log()
        for job_id in ids:
            row = job(conn, job_id)
            assert row["retry_count"] == 0, row
            assert [a["outcome"] for a in row["attempts"]] == ["completed"]
    finally:
        for p in proxies:
            p.close()


def test_a_supervisor_cut_off_past_lease_timeout_kills_its_runners_before_peers_reclaim(
    db_url: str, conn: Connection, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=30, insights=1)
    config = write_config(tmp_path, supervisor_extra="lease_timeout = 2.0")
    cut = supervisors.start(proxy.url(), config)
    cut_id = cut.wait_registered(conn)
    runner = wait_for(lambda: runners_of(cut, job_id))[0]
    with conn.cursor() as cur:
        cur.execute("UPDATE jobsup_workers SET host_key = 'elsewhere' WHERE id = %s", (cut_id,))
        cur.execute('UPDATE processing_jobs SET metadata = \'{"seconds": 0.3, "insights": 1}\'')
    peer = supervisors.start(db_url, config)
    peer.wait_registered(conn)
    time.sleep(3.5)  # the peer has watched for stale_after
    proxy.set("blackhole")
    killed = reclaimed = None
    deadline = time.monotonic() + 30
    while reclaimed is None and time.monotonic() < deadline:
        if killed is None and not alive(runner):
            killed = time.monotonic()
        if status(conn, job_id) != "processing" or job(conn, job_id)["worker_id"] != cut_id:
            reclaimed = time.monotonic()
        time.sleep(0.01)
    assert killed is not None and reclaimed is not None, cut.log()
    assert killed < reclaimed, (killed, reclaimed)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
    proxy.set("pass")
    wait_for(lambda: "heartbeat went through again" in cut.log(), timeout=30)
    for sup in (cut, peer):
        sup.signal(signal.SIGTERM)
        assert sup.wait() == 0, sup.log()
    assert "killing 1 runners before peers may reclaim" in cut.log()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert len(insight_contents(conn, job_id)) == 1


def test_a_job_failed_at_claim_time_is_written_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    unusable = insert(conn, "(job_type, metadata) VALUES ('diag.noop', '[1]')")
    began = time.monotonic()
    sup = supervisors.start(db_url, write_config(tmp_path, interval=300), "--until-empty")
    assert sup.wait(60) == 4, sup.log()
    assert time.monotonic() - began < 10  # not a poll interval, nor a heartbeat, later
    row = job(conn, unusable)
    assert row["status"] == "failed" and row["error_message"].startswith("unusable job row")


def test_a_supervisor_waiting_for_the_database_does_not_spin(
    db_url: str, proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(proxy.url(), write_config(tmp_path))
    wait_for(lambda: "started:" in sup.log())
    proxy.set("refuse")
    wait_for(lambda: "database connection lost" in sup.log(), timeout=10)
    process = psutil.Process(sup.pid)
    before = process.cpu_times()
    time.sleep(3.0)
    after = process.cpu_times()
    busy = (after.user + after.system - before.user - before.system) / 3.0
    assert busy < 0.1, f"{busy:.0%} of a core while the database is down"
    proxy.set("pass")
    wait_for(lambda: "re-established" in sup.log(), timeout=30)


def test_a_stop_signal_while_the_first_connection_hangs_stops_at_once(
    proxy: Proxy, tmp_path: Path, supervisors: Supervisors
) -> None:
    proxy.set("blackhole")
    sup = supervisors.start(proxy.url(), write_config(tmp_path))
    wait_for(proxy.held, timeout=30)  # connecting: its signal handlers are in place
    sup.signal(signal.SIGTERM)
    assert sup.wait(5) == 0, sup.log()
    assert "stop signal before the database answered: stopped" in sup.log()
