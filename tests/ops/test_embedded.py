"""The embedded PostgreSQL: created by `db init`, `db start` or `start` only, reused by later
commands while it runs, stopped on request and left stopped."""

from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path

import psutil
import psycopg2

from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, write_config


def postmaster_pid(home: Path) -> int:
    return int((home / "postgres" / "postmaster.pid").read_text().split()[0])


def gone(pid: int, timeout: float = 10) -> bool:
    """True once process `pid` has exited (a zombie counts as exited)."""
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def test_embedded_server_lifecycle(tmp_path: Path) -> None:
    home = Path(os.environ["JOBSUP_HOME"])
    init = jobsup("db", "init")
    assert init.returncode == 0, init.stderr
    first = jobsup("db", "url")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("postgresql://") and str(home / "postgres") in url
    pid = postmaster_pid(home)
    # Private: only its owner may list the state directory (as root, the server's own user
    # must still pass through it), and the data directory is the server's alone.
    assert stat.S_IMODE(home.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
    assert stat.S_IMODE((home / "postgres").stat().st_mode) == 0o700
    try:
        again = jobsup("db", "init")
        assert again.returncode == 0, again.stderr
        assert postmaster_pid(home) == pid  # reused, not restarted
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), count(*) FROM processing_jobs")
            assert cur.fetchone() == ("jobsup", 0)
        conn.close()
        assert jobsup("db", "check").returncode == 0
    finally:
        stop = jobsup("db", "stop")
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    assert gone(pid)
    assert "not running" in jobsup("db", "stop").stdout


def test_db_stop_refuses_with_a_url_configured(db_url: str) -> None:
    result = jobsup("db", "stop", env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    assert "no embedded server" in result.stderr


def test_db_stop_refuses_while_a_supervisor_uses_the_embedded_server(
    tmp_path: Path, supervisors: Supervisors
) -> None:
    home = Path(os.environ["JOBSUP_HOME"])
    assert jobsup("db", "init").returncode == 0
    url = jobsup("db", "url").stdout.strip()
    pid = postmaster_pid(home)
    try:
        sup = supervisors.start(None, write_config(tmp_path))
        conn = psycopg2.connect(url)
        conn.autocommit = True
        sup.wait_registered(conn)
        conn.close()
        refused = jobsup("db", "stop")
        assert refused.returncode == 1
        assert refused.stderr == (
            f"jobsup: the embedded PostgreSQL in {home / 'postgres'} serves a live supervisor "
            f"({socket.gethostname()} pid {sup.pid}): `jobsup stop` it first, or "
            "`jobsup db stop --force`\n"
        )
        assert not gone(pid, timeout=0.1)
        sup.signal(signal.SIGTERM)
        assert sup.wait() == 0
        stopped = jobsup("db", "stop")  # its supervisor gone: the server may stop
        assert stopped.returncode == 0, stopped.stderr
        assert gone(pid)
        assert (
            jobsup("db", "start").stdout
            == f"started the embedded PostgreSQL in {home / 'postgres'}\n"
        )
        sup = supervisors.start(None, write_config(tmp_path))
        conn = psycopg2.connect(url)
        conn.autocommit = True
        sup.wait_registered(conn)
        conn.close()
        forced = jobsup("db", "stop", "--force")
        assert forced.returncode == 0, forced.stderr
    finally:
        jobsup("db", "stop", "--force")


NO_DATABASE = (
    "jobsup: no database configured and no embedded database here ({home}): "
    "set DATABASE_URL, or `jobsup db init` to create one\n"
)
COMMANDS = (
    ("jobs", "show", "12345678"), ("jobs", "list"), ("db", "url"), ("db", "check"),
    ("db", "migrate"), ("stats",), ("ps",), ("periodic", "list"),
    ("enqueue", "--type", "analysis", "--file", __file__),
)  # fmt: skip


def test_commands_in_a_scratch_directory_create_no_database(tmp_path: Path) -> None:
    """Without DATABASE_URL, only `start`, `db init` and `db start` create the embedded
    cluster: any other command says so in one line and leaves the directory as it was."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"JOBSUP_HOME": ""}  # ./.jobsup, as in a shell that never set it
    for args in COMMANDS:
        result = jobsup(*args, env=env, cwd=scratch)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr == NO_DATABASE.format(home=scratch / ".jobsup"), args
        assert result.stdout == ""
    status = jobsup("status", env=env, cwd=scratch)
    assert status.returncode == 3
    assert status.stdout.splitlines()[1] == "queue: unknown: " + NO_DATABASE.format(
        home=scratch / ".jobsup"
    ).removeprefix("jobsup: ").rstrip("\n")
    assert list(scratch.iterdir()) == []


def test_a_stopped_embedded_server_stays_stopped_until_db_start(tmp_path: Path) -> None:
    """`db stop` stops it for good: `db url`, `status`, `jobs list` and `web` name `db start`
    instead of starting it; `db start` (or `start`) does."""
    home = Path(os.environ["JOBSUP_HOME"])
    created = jobsup("db", "start")
    assert created.stdout == f"created and started the embedded PostgreSQL in {home / 'postgres'}\n"
    assert jobsup("db", "init").returncode == 0
    pid = postmaster_pid(home)
    try:
        assert jobsup("db", "start").stdout.endswith("is running\n")
        assert jobsup("db", "stop").returncode == 0
        assert gone(pid)
        stopped = (
            f"jobsup: the embedded PostgreSQL in {home / 'postgres'} is stopped: "
            "`jobsup db start` starts it (or set DATABASE_URL)\n"
        )
        for args in (("db", "url"), ("jobs", "list"), ("ps",)):
            result = jobsup(*args)
            assert (result.returncode, result.stderr) == (1, stopped), args
        status = jobsup("status")
        assert status.returncode == 3
        assert "is stopped: `jobsup db start` starts it" in status.stdout
        web = jobsup("web", "--listen", "127.0.0.1:0")
        assert (web.returncode, web.stderr) == (1, stopped)
        assert not (home / "postgres" / "postmaster.pid").exists()
        started = jobsup("db", "start")
        assert started.stdout == f"started the embedded PostgreSQL in {home / 'postgres'}\n"
        assert jobsup("db", "url").returncode == 0
    finally:
        jobsup("db", "stop", "--force")
