"""`jobsup start --daemon`, `status`, `stop` and the pidfile: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from supervisor import statedir
from supervisor.db.connect import Connection
from supervisor.errors import JobsupError
from supervisor.ops import pidfile
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import (
    Supervisors,
    add_job,
    alive,
    scalar,
    status,
    wait_for,
    write_config,
)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The state directory (JOBSUP_HOME); a daemon left running by a failed test is killed."""
    path = Path(os.environ["JOBSUP_HOME"])
    yield path
    pid = pidfile.read(path / pidfile.NAME)
    if pid is not None and alive(pid):
        os.kill(pid, signal.SIGKILL)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_daemon_lifecycle(db_url: str, conn: Connection, tmp_path: Path, home: Path) -> None:
    config = str(write_config(tmp_path, drain_timeout=30))
    env = {"DATABASE_URL": db_url}
    started = jobsup("start", "--daemon", "-c", config, env=env)
    assert started.returncode == 0, started.stderr
    pid = pidfile.read(home / "jobsup.pid")
    assert pid is not None and f"started in the background: pid {pid}" in started.stdout
    process = psutil.Process(pid)
    assert process.ppid() != os.getpid()  # detached: not our child
    assert os.getsid(pid) not in (os.getsid(0), pid)  # own session, and not its leader
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/2") == str(home / "jobsup.log")

    again = jobsup("start", "--daemon", "-c", config, env=env)
    assert again.returncode == 1
    assert f"a supervisor already runs from {home} (pid {pid}" in again.stderr

    # Long enough to outlast the status calls below (each a fresh Python: 2 s on a loaded
    # machine without bytecode caches), so the stop finds it running.
    job_id = add_job(conn, "sleep", seconds=12)
    wait_for(lambda: status(conn, job_id) == "processing")

    def busy() -> bool:  # the worker row says so from its next heartbeat on
        result = jobsup("status", "-c", config, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        return f"supervisor: running, pid {pid}, 1/2 slots busy ({home / 'jobsup.pid'})" in (
            result.stdout.splitlines()
        )

    wait_for(busy)
    assert json.loads(jobsup("status", "--json", env=env).stdout)["queue"]["processing"] == 1

    stopped = jobsup("stop", "-c", config, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "1 jobs finished while it drained, 0 returned to pending" in stopped.stdout
    assert not alive(pid) and not (home / "jobsup.pid").exists()
    assert status(conn, job_id) == "completed"
    assert "stop signal: draining 1 runners" in (home / "jobsup.log").read_text()
    assert jobsup("status", env=env).returncode == 3
    assert "no supervisor runs from" in jobsup("stop", env=env).stdout


def test_a_stale_pidfile_is_cleaned_and_stop_now_returns_jobs(
    db_url: str, conn: Connection, tmp_path: Path, home: Path
) -> None:
    env = {"DATABASE_URL": db_url}
    home.mkdir(parents=True)
    stale = dead_pid()
    (home / "jobsup.pid").write_text(f"{stale}\n")
    reported = jobsup("status", env=env)
    assert reported.returncode == 3
    assert f"not running (removed a stale pidfile of pid {stale})" in reported.stdout
    assert not (home / "jobsup.pid").exists()

    (home / "jobsup.pid").write_text(f"{stale}\n")
    config = str(write_config(tmp_path))
    assert jobsup("start", "--daemon", "-c", config, env=env).returncode == 0
    pid = pidfile.read(home / "jobsup.pid")
    assert pid not in (None, stale)
    job_id = add_job(conn, "sleep", seconds=120)
    wait_for(lambda: status(conn, job_id) == "processing")
    stopped = json.loads(jobsup("stop", "--now", "--json", env=env).stdout)
    assert (stopped["pid"], stopped["returned"], stopped["finished"]) == (pid, 1, 0)
    assert status(conn, job_id) == "pending"


def test_stop_from_a_shell_with_another_database_says_it_could_not_count(
    db_url: str, conn: Connection, tmp_path: Path, home: Path
) -> None:
    """`jobsup stop` counts the jobs of the supervisor in the supervisor's database: the state
    directory notes it (masked); from a shell without it, the report says it could not count
    instead of "0 returned to pending"."""
    with_password = db_url.replace("postgresql://postgres@", "postgresql://postgres:S3cret9@")
    config = str(write_config(tmp_path))
    assert (
        jobsup("start", "--daemon", "-c", config, env={"DATABASE_URL": with_password}).returncode
        == 0
    )
    pid = pidfile.read(home / "jobsup.pid")
    noted = (home / "jobsup.database").read_text()
    assert noted == db_url.replace("postgresql://postgres@", "postgresql://postgres:***@") + "\n"
    job_id = add_job(conn, "sleep", seconds=120)
    wait_for(lambda: status(conn, job_id) == "processing")
    stopped = jobsup("stop", "--now", "-c", config)  # no DATABASE_URL in this shell
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith(f"stopped supervisor pid {pid} in ")
    assert stopped.stdout.rstrip().endswith(
        f"; its jobs were not counted: it uses {noted.strip()}, this command none (run "
        "`jobsup stop` with the supervisor's DATABASE_URL to count them)"
    )
    assert status(conn, job_id) == "pending"  # returned, though this shell could not count it
    assert not (home / "jobsup.database").exists()

    # From a shell with the supervisor's own DATABASE_URL, the count is there.
    assert jobsup("start", "--daemon", "-c", config, env={"DATABASE_URL": db_url}).returncode == 0
    wait_for(lambda: status(conn, job_id) == "processing")
    counted = json.loads(jobsup("stop", "--now", "--json", env={"DATABASE_URL": db_url}).stdout)
    assert (counted["returned"], counted["finished"], counted["uncounted"]) == (1, 0, None)


def test_a_daemon_that_cannot_start_says_so(tmp_path: Path, home: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(
        "[supervisor]\nconcurrency = 1\n[runner]\nallow_root = true\n"
        "[database]\nurl = 'postgresql://u:S3cret@127.0.0.1:1/x'\n"
    )
    began = time.monotonic()
    result = jobsup("start", "--daemon", "-c", str(config))
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "jobsup: cannot connect to postgresql://u:***@127.0.0.1:1/x: connection to server at "
        '"127.0.0.1", port 1 failed: Connection refused'
    ]
    assert time.monotonic() - began < 20
    assert not (home / "jobsup.pid").exists()  # the daemon has gone, and said why in its log
    assert "cannot connect to postgresql://u:***@" in (home / "jobsup.log").read_text()


def test_a_daemon_reports_ready_only_once_registered_and_keeps_an_outer_notify_socket(
    db_url: str, conn: Connection, tmp_path: Path, home: Path
) -> None:
    outer = tmp_path / "notify.sock"  # as systemd would listen (NOTIFY_SOCKET)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(outer))
        env = {"DATABASE_URL": db_url, "NOTIFY_SOCKET": str(outer)}
        started = jobsup("start", "--daemon", "-c", str(write_config(tmp_path)), env=env)
        assert started.returncode == 0, started.stderr
        pid = pidfile.read(home / "jobsup.pid")
        # Ready means registered: the worker row is there the moment the starter returns.
        assert scalar(conn, "SELECT state FROM jobsup_workers WHERE pid = %s", pid) == "running"
        systemd.settimeout(5)
        said = [systemd.recv(4096) for _ in range(2)]  # READY=1, and STATUS= from the heartbeat
        assert any(b"READY=1" in message.split(b"\n") for message in said), said
    assert jobsup("stop", env=env).returncode == 0


def test_foreground_start_holds_the_pidfile_and_stop_reaches_it(
    db_url: str, conn: Connection, tmp_path: Path, home: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path)
    first = supervisors.start(db_url, config)
    first.wait_registered(conn)
    assert pidfile.read(home / "jobsup.pid") == first.pid
    second = supervisors.start(db_url, config)  # another worker on the same state directory
    second.wait_registered(conn)
    assert "this supervisor runs without a pidfile" in second.log()
    assert pidfile.read(home / "jobsup.pid") == first.pid
    stopped = jobsup("stop", env={"DATABASE_URL": db_url})
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped supervisor pid {first.pid}" in stopped.stdout
    assert first.wait() == 0 and not (home / "jobsup.pid").exists()
    assert second.proc.poll() is None
    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    assert not (home / "jobsup.pid").exists()


def test_pidfile_refuses_a_live_holder_and_sees_through_a_reused_pid(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jobsup.pid"
    pidfile.acquire(path)
    assert pidfile.running(path) == os.getpid()
    with pytest.raises(pidfile.AlreadyRunning, match="already runs"):
        pidfile.acquire(path)
    pidfile.release(path)
    assert not path.exists()
    # A pidfile older than the process it names: the pid was reused, the file is stale.
    path.write_text(f"{os.getpid()}\n")
    before = psutil.Process().create_time() - 60
    os.utime(path, (before, before))
    assert pidfile.running(path) is None
    with pidfile.held(path):
        assert pidfile.read(path) == os.getpid()
    assert not path.exists()
    path.write_text("garbage")
    assert pidfile.read(path) is None
    pidfile.acquire(path)  # garbage is stale too
    assert pidfile.read(path) == os.getpid()
    assert isinstance(pidfile.AlreadyRunning(path, 1), JobsupError)


@pytest.mark.unit
def test_a_draft_named_after_our_pid_by_another_pid_namespace_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "jobsup.pid"
    path.parent.mkdir(mode=0o700)
    theirs = path.with_name(f".{path.name}.{os.getpid()}")  # how drafts were once named
    theirs.write_text("2\n")
    with pidfile.held(path):
        assert pidfile.read(path) == os.getpid()
        assert path.stat().st_mode & 0o777 == statedir.PRIVATE_FILE
    assert theirs.read_text() == "2\n"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".jobsup.pid.")] == [
        theirs.name
    ]


def test_a_daemon_logging_to_its_own_log_file_writes_each_line_once(
    db_url: str, conn: Connection, tmp_path: Path, home: Path
) -> None:
    """`[logging] file = "jobsup.log"` names the file `--daemon` sends its output to: one
    sink for it (every line was written twice)."""
    config = str(write_config(tmp_path, extra='file = "jobsup.log"  # in [logging]\n'))
    env = {"DATABASE_URL": db_url}
    assert jobsup("start", "--daemon", "-c", config, env=env).returncode == 0
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed")
    assert jobsup("stop", "-c", config, env=env).returncode == 0
    lines = [line for line in (home / "jobsup.log").read_text().splitlines() if line.strip()]
    assert any(" started: pid " in line for line in lines), lines
    assert len(lines) == len(set(lines)), [line for line in lines if lines.count(line) > 1]
