"""Memory, process and time limits, enforced on a runner's whole process tree."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil

from supervisor.db.connect import Connection
from tests.fixtures.processes import (
    SupervisorProcess,
    Supervisors,
    add_job,
    job,
    wait_for,
    write_config,
)


def job_processes(job_id: str) -> list[psutil.Process]:
    """Live processes whose environment marks them as part of `job_id`'s tree."""
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                proc.status() != psutil.STATUS_ZOMBIE
                and proc.environ().get("JOBSUP_JOB_ID") == job_id
            ):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def run_batch(
    db_url: str,
    tmp_path: Path,
    supervisors: Supervisors,
    extra: str,
    max_retries: int = 0,
) -> SupervisorProcess:
    config = write_config(tmp_path, max_retries=max_retries, extra=extra)
    sup = supervisors.start(db_url, config, "--until-empty")
    sup.wait(120)
    return sup


LIMITS = """
[limits]
memory_mb = {memory_mb}
check_interval = 0.05
{more}
"""


def limits(memory_mb: int = 120, more: str = "") -> str:
    return LIMITS.format(memory_mb=memory_mb, more=more)


def test_a_job_past_its_memory_limit_is_killed_and_leaves_nothing(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "allocate", mb=600, mb_per_s=300)
    sup = run_batch(db_url, tmp_path, supervisors, limits(120))
    row = job(conn, job_id)
    assert row["status"] == "failed", sup.log()
    assert row["error_message"].startswith("memory limit exceeded: ")
    assert row["error_message"].split("\n")[0].endswith(" > 120 MiB (pss)")  # the default
    attempt = row["attempts"][0]
    assert attempt["peak_memory_mb"] > 120
    assert job_processes(job_id) == []


def test_grandchildren_count_and_die_with_the_runner(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    # Three children of 60 MiB each: none is over 150 MiB alone, the tree is.
    in_group = add_job(conn, "spawn", children=3, mb=60, seconds=30)
    detached = add_job(conn, "spawn", children=3, mb=60, seconds=30, setsid=True)
    sup = run_batch(db_url, tmp_path, supervisors, limits(150))
    for job_id in (in_group, detached):
        row = job(conn, job_id)
        assert row["status"] == "failed", sup.log()
        assert row["error_message"].startswith("memory limit exceeded: "), row["error_message"]
        wait_for(lambda job_id=job_id: job_processes(job_id) == [], timeout=10)


def test_children_left_behind_by_a_finished_job_are_killed(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "spawn", children=2, mb=1, setsid=True)  # returns, children live on
    sup = run_batch(db_url, tmp_path, supervisors, limits(500))
    assert job(conn, job_id)["status"] == "completed", sup.log()
    wait_for(lambda: job_processes(job_id) == [], timeout=10)


def test_process_limit(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "spawn", children=6, seconds=30)
    run_batch(db_url, tmp_path, supervisors, limits(1000, "max_processes = 3"))
    row = job(conn, job_id)
    assert row["error_message"].startswith("process limit exceeded: ")
    assert "> 3 processes" in row["error_message"]
    wait_for(lambda: job_processes(job_id) == [], timeout=10)


def test_soft_time_limit_lets_the_handler_clean_up(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    marker = tmp_path / "cleaned"
    job_id = add_job(conn, "sleep", seconds=60, cleanup_file=str(marker))
    run_batch(
        db_url, tmp_path, supervisors, limits(1000, "soft_time_limit = 1.0\ntime_limit = 30.0")
    )
    row = job(conn, job_id)
    assert row["error_message"].startswith("soft time limit 1 s exceeded"), row["error_message"]
    assert marker.read_text() == f"job {job_id} cleaned up\n"


def test_hard_time_limit_kills_a_handler_that_ignores_sigterm(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=60, ignore_sigterm=True)
    run_batch(
        db_url, tmp_path, supervisors, limits(1000, "soft_time_limit = 1.0\ntime_limit = 2.0")
    )
    row = job(conn, job_id)
    assert row["error_message"].startswith("time limit 2 s exceeded (killed)"), row["error_message"]
    assert job_processes(job_id) == []


def test_a_runner_ignoring_sigterm_is_gone_after_kill_timeout(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=60, ignore_sigterm=True)
    run_batch(db_url, tmp_path, supervisors, limits(1000, "soft_time_limit = 1.0\ntime_limit = 0"))
    row = job(conn, job_id)  # kill_timeout is 2 s in the test config
    assert row["error_message"].startswith("soft time limit 1 s exceeded"), row["error_message"]
    assert row["attempts"][0]["seconds"] >= 3.0


def test_job_type_and_per_job_memory_limits(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    plain = add_job(conn, "allocate", mb=150, hold=10)  # held: a sample sees it, however late
    bigger = add_job(conn, "allocate", mb=150, memory_mb=400)  # asks for 400: capped at 300
    greedy = add_job(conn, "allocate", mb=350, memory_mb=400, hold=10)
    config = write_config(
        tmp_path,
        max_retries=0,
        extra=limits(2000, "max_memory_mb = 300"),
        type_extra={"allocate": "memory_mb = 100\n"},
    )
    sup = supervisors.start(db_url, config, "--until-empty")
    sup.wait(120)
    assert job(conn, plain)["error_message"].split("\n")[0].endswith("> 100 MiB (pss)"), sup.log()
    assert job(conn, bigger)["status"] == "completed", job(conn, bigger)
    assert job(conn, greedy)["error_message"].split("\n")[0].endswith("> 300 MiB (pss)")


def test_on_memory_limit_fail_fails_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "allocate", mb=400, mb_per_s=400)
    config = write_config(
        tmp_path, max_retries=3, extra=limits(100), retry_extra='on_memory_limit = "fail"'
    )
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait(120) == 4, sup.log()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"], len(row["attempts"])) == ("failed", 0, 1)


def test_rss_metric(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "allocate", mb=500, mb_per_s=500)
    run_batch(db_url, tmp_path, supervisors, limits(150, 'memory_metric = "rss"'))
    assert job(conn, job_id)["error_message"].split("\n")[0].endswith("> 150 MiB (rss)")


def test_kernel_backstop_refuses_an_allocation_burst(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    # Sampling every 10 s cannot catch this; the kernel limit must.
    job_id = add_job(conn, "allocate", mb=2000)
    extra = "[limits]\nmemory_mb = 200\ncheck_interval = 10.0\nhard_memory = true\n"
    sup = run_batch(db_url, tmp_path, supervisors, extra)
    row = job(conn, job_id)
    assert row["error_message"].startswith(
        "memory limit exceeded: allocation refused at the kernel limit (200 MiB)"
    ), sup.log()
    assert row["attempts"][0]["peak_memory_mb"] < 300


def test_ps_figures_of_a_running_job(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    add_job(conn, "allocate", mb=80, hold=30)
    config = write_config(tmp_path, extra=limits(500))
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)

    def figures() -> dict | None:
        with conn.cursor() as cur:
            cur.execute("SELECT runners FROM jobsup_workers WHERE pid = %s", (sup.pid,))
            row = cur.fetchone()
        runners = row[0] if row else []
        return runners[0] if runners and runners[0]["rss_mb"] > 80 else None

    runner = wait_for(figures, timeout=30)
    assert runner["memory_limit_mb"] == 500
    assert runner["peak_rss_mb"] >= runner["rss_mb"] > 80
    assert runner["processes"] == 1 and runner["attempt"] == 1 and runner["max_attempts"] == 4
    sup.signal(signal.SIGQUIT)
    sup.wait()


def test_forked_children_sharing_memory_count_once_by_default_and_each_by_rss(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    # A pre-forking handler: 50 children share the runner's 40 MiB and its interpreter. RSS
    # counts every shared page once per process (over 2 GiB); PSS splits them (some 100 MiB).
    shared = {"children": 50, "mb": 40, "fork": True, "seconds": 3}
    job_id = add_job(conn, "spawn", **shared)
    sup = run_batch(db_url, tmp_path, supervisors, limits(512))
    row = job(conn, job_id)
    assert row["status"] == "completed", (row["error_message"], sup.log())
    assert 40 < row["attempts"][0]["peak_memory_mb"] < 512
    wait_for(lambda: job_processes(job_id) == [], timeout=10)
    by_rss = add_job(conn, "spawn", **shared)
    run_batch(db_url, tmp_path, supervisors, limits(512, 'memory_metric = "rss"'))
    row = job(conn, by_rss)
    assert row["error_message"].split("\n")[0].endswith(" > 512 MiB (rss)"), row["error_message"]
    wait_for(lambda: job_processes(by_rss) == [], timeout=10)
