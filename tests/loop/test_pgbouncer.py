"""Behind Debian's PgBouncer (started by the tests on a port of its own, a pool of 2 server
connections) in session and transaction mode: supervisors, the CLI, the dashboard and the
Python API work through it; in transaction mode nothing relies on session state (no
prepared statements, no SET, LISTEN only on a direct `listen_url`, else polling said once)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from supervisor import api
from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.pgbouncer import PgBouncer, available
from tests.fixtures.processes import Supervisors, job, status, wait_for, write_config
from tests.web.dashboard import Dashboard

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not available(), reason="Debian's pgbouncer is not installed "
                       "(scripts/test.sh installs it)"),
]  # fmt: skip

POLLING = "without listen_url: LISTEN needs a session of its own"


@pytest.fixture(params=["session", "transaction"])
def bouncer(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[PgBouncer]:
    pgb = PgBouncer(db_url, request.param, tmp_path / "pgbouncer")
    pgb.mode = request.param  # type: ignore[attr-defined]
    yield pgb
    pgb.close()


def through(bouncer: PgBouncer, db_url: str) -> str:
    return bouncer.url(psycopg2.extensions.parse_dsn(db_url)["dbname"])


def test_supervisors_cli_dashboard_and_api_work_through_pgbouncer(
    db_url: str, conn: Connection, bouncer: PgBouncer, tmp_path: Path, supervisors: Supervisors
) -> None:
    mode = bouncer.mode  # type: ignore[attr-defined]
    url = through(bouncer, db_url)
    app = psycopg2.connect(url)  # the application's own connection, through the pooler
    app.autocommit = True
    try:
        ids = [api.enqueue(app, job_type="diag.sleep", metadata={"seconds": 0.2, "insights": 1})
               for _ in range(8)]  # fmt: skip
        config = write_config(tmp_path, concurrency=2, interval=0.5,
                              extra=f'[database]\npooler = "{mode}"\n')  # fmt: skip
        sups = [supervisors.start(url, config) for _ in range(2)]
        results = api.wait_all(app, ids, timeout=60)
        assert [r.status for r in results] == ["completed"] * 8, results
        assert all(len(r.insights) == 1 for r in results)
        for command in (["ps"], ["stats"], ["jobs", "show", ids[0]]):
            done = jobsup(*command, "-c", str(config), env={"DATABASE_URL": url})
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        dashboard = Dashboard(url, tmp_path, config=config)
        try:
            page = dashboard.get(f"/jobs/{ids[0]}")
            assert page.status == 200 and ids[0] in page.body, page.status
        finally:
            dashboard.stop()
        for sup in sups:
            sup.signal(signal.SIGTERM)
            assert sup.wait(30) == 0, sup.log()
            log = sup.log()
            assert "Traceback" not in log and "vanished" not in log, log
            assert log.count(POLLING) == (1 if mode == "transaction" else 0), log
        for job_id in ids:
            assert job(conn, job_id)["retry_count"] == 0
    finally:
        app.close()


def test_under_a_transaction_pooler_listen_url_brings_wake_ups(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    pgb = PgBouncer(db_url, "transaction", tmp_path / "pgbouncer")
    try:
        url = through(pgb, db_url)
        extra = f'[database]\npooler = "transaction"\nlisten_url = "{db_url}"\n'
        sup = supervisors.start(url, write_config(tmp_path, interval=300, extra=extra))
        sup.wait_registered(conn)
        wait_for(lambda: "LISTEN/NOTIFY" in sup.log())
        time.sleep(0.5)
        job_id = api.enqueue(conn, job_type="diag.noop")
        started = time.monotonic()
        wait_for(lambda: status(conn, job_id) == "completed", timeout=20)
        assert time.monotonic() - started < 5.0  # woken, not the 300 s poll
        assert POLLING not in sup.log()
        sup.signal(signal.SIGTERM)
        assert sup.wait(30) == 0, sup.log()
    finally:
        pgb.close()


def test_a_pooler_not_declared_is_refused_in_one_line_naming_the_fix(
    db_url: str, tmp_path: Path
) -> None:
    pgb = PgBouncer(db_url, "transaction", tmp_path / "pgbouncer")
    try:
        done = jobsup("ps", env={"DATABASE_URL": through(pgb, db_url)})
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "[database] pooler" in lines[0], done.stderr
    finally:
        pgb.close()
