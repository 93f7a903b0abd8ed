"""The embedded PostgreSQL: started on first use, reused by later commands, stopped on request."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import psycopg2

from tests.conftest import jobsup


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
    first = jobsup("db", "url")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("postgresql://") and str(home / "postgres") in url
    pid = postmaster_pid(home)
    try:
        init = jobsup("db", "init")
        assert init.returncode == 0, init.stderr
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
