"""The history rollup (migration 0014): `stats`' counts and throughput and the dashboard's
counts by type answer what a scan of processing_jobs answers, through every way a job
changes (enqueue, claim, write-back, cancel, retry, the seed's reset, prune, delete,
truncate), under concurrent writers and folds, and read no processing_jobs row; the jobs
list's text search goes through the trigram index, or without pg_trgm reads the table."""

from __future__ import annotations

import json
import random
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from supervisor.client.enqueue import enqueue
from supervisor.db import queries, schema
from supervisor.db.connect import Connection, connect, transaction
from supervisor.ops import job_admin
from supervisor.store import history, retention
from tests.fixtures.jobrows import make_job
from tests.fixtures.processes import Supervisors, rows, scalar, wait_for, write_config
from tests.fixtures.servers import as_admin, database_url

ADMIN = queries.load("admin.sql")
WEB = queries.load("web.sql")
HOURS = 72
TRGM = "jobsup_jobs_description_trgm"

# The statements as they were before the rollup: scans of the whole table, the answer the
# rollup must give.
SCAN_COUNTS = """
SELECT status, coalesce(retry_count, 0) AS retry_count, count(*) AS jobs
FROM processing_jobs GROUP BY 1, 2 ORDER BY 1, 2"""
SCAN_BY_TYPE = """
SELECT coalesce(job_type, 'analysis') AS job_type, status, count(*) AS jobs
FROM processing_jobs GROUP BY 1, 2 ORDER BY 1, 2"""
SCAN_THROUGHPUT = """
SELECT h.hour::timestamptz AS hour,
       count(j.id) FILTER (WHERE j.status = 'completed') AS completed,
       count(j.id) FILTER (WHERE j.status = 'failed') AS failed
FROM generate_series(date_trunc('hour', localtimestamp - make_interval(hours => %(hours)s - 1)),
                     date_trunc('hour', localtimestamp), interval '1 hour') AS h(hour)
LEFT JOIN processing_jobs j
       ON j.completed_at >= h.hour AND j.completed_at < h.hour + interval '1 hour'
GROUP BY h.hour ORDER BY h.hour"""


def _answers(conn: Connection) -> list[list[tuple[Any, ...]]]:
    with conn.cursor() as cur:
        found = []
        for sql in (SCAN_COUNTS, ADMIN["counts"], SCAN_BY_TYPE, WEB["jobs_by_type"],
                    SCAN_THROUGHPUT, ADMIN["throughput"]):  # fmt: skip
            cur.execute(sql, {"hours": HOURS})
            found.append(cur.fetchall())
        return found


def assert_rollup_equals_scan(conn: Connection) -> None:
    scan_counts, counts, scan_types, types, scan_hours, hours = _answers(conn)
    assert counts == scan_counts
    assert types == scan_types
    assert hours == scan_hours


def _deltas(conn: Connection) -> int:
    return int(scalar(conn, "SELECT count(*) FROM jobsup_job_deltas"))


def _plant(conn: Connection) -> list[str]:
    ids = []
    for n in range(40):
        status = ("completed", "failed", "cancelled", "pending", "processing")[n % 5]
        ago = f"{n % 50} hours"
        ends = {"completed": ago} if status in ("completed", "failed", "cancelled") else {}
        ids.append(make_job(conn, ("analysis", "diag.noop", None)[n % 3] or "analysis",
                            status=status, retry_count=n % 3, created=ago, **ends))  # fmt: skip
    with conn.cursor() as cur:  # a job type NULL (the seed's), a status outside the vocabulary
        cur.execute("INSERT INTO processing_jobs (job_type, status) VALUES (NULL, 'archived')")
    return ids


def test_the_rollup_answers_as_the_scan_through_every_change(conn: Connection) -> None:
    assert_rollup_equals_scan(conn)  # empty
    ids = _plant(conn)
    assert_rollup_equals_scan(conn)
    before = _deltas(conn)
    assert before > 0
    assert history.fold(conn) == before
    assert _deltas(conn) == 0
    assert_rollup_equals_scan(conn)
    with conn.cursor() as cur:
        cur.execute(WEB["status_exists"], {"status": "archived"})
        assert cur.fetchone() == (True,)
        cur.execute(WEB["status_exists"], {"status": "frozen"})
        assert cur.fetchone() == (False,)
    for _ in range(3):
        enqueue(conn, job_type="diag.noop")
    with conn.cursor() as cur:  # the seed's resets
        cur.execute("UPDATE processing_jobs SET status = 'pending', started_at = NULL "
                    "WHERE status = 'processing'")  # fmt: skip
        cur.execute("UPDATE processing_jobs SET status = 'pending', retry_count = 0, "
                    "error_message = NULL WHERE status = 'failed'")  # fmt: skip
    assert_rollup_equals_scan(conn)
    job_admin.cancel(conn, ids[3:12])
    assert_rollup_equals_scan(conn)
    history.fold(conn)
    job_admin.retry(conn, ids[:15])
    with conn.cursor() as cur:  # claims and endings, as the supervisor writes them
        cur.execute(
            "UPDATE processing_jobs SET status = 'processing', started_at = "
            "localtimestamp WHERE status = 'pending' AND job_type = 'diag.noop'"
        )
        cur.execute(
            "UPDATE processing_jobs SET status = 'completed', completed_at = "
            "localtimestamp WHERE status = 'processing' AND retry_count = 0"
        )
        cur.execute(
            "UPDATE processing_jobs SET status = 'failed', retry_count = 3, "
            "completed_at = localtimestamp - interval '5 hours' WHERE status = 'processing'"
        )
    assert_rollup_equals_scan(conn)
    history.fold(conn)
    assert_rollup_equals_scan(conn)
    pruned = retention.apply(conn, {"completed": 10 * 3600.0, "cancelled": 3600.0}, 4, 10.0)
    assert pruned.deleted > 0
    assert_rollup_equals_scan(conn)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM processing_jobs WHERE status = 'failed'")
    history.fold(conn)
    assert_rollup_equals_scan(conn)
    # keys that count nothing any more are gone from the totals, not kept at 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_job_counts WHERE jobs = 0") == 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_job_hours WHERE jobs = 0") == 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_job_hours WHERE status = 'failed'") == 0
    with conn.cursor() as cur:  # a rolled-back change leaves no delta behind
        try:
            with transaction(conn):
                cur.execute("UPDATE processing_jobs SET status = 'completed'")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert_rollup_equals_scan(conn)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs CASCADE")
    assert scalar(conn, "SELECT count(*) FROM jobsup_job_counts") == 0
    assert_rollup_equals_scan(conn)


def test_the_rollup_holds_under_concurrent_writers_and_folds(db_url: str, conn: Connection) -> None:
    _plant(conn)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        c = connect(db_url)
        try:
            for _ in range(60):
                with transaction(c), c.cursor() as cur:
                    choice = rng.randrange(5)
                    if choice == 0:
                        cur.execute("INSERT INTO processing_jobs (job_type) "
                                    "SELECT 'diag.noop' FROM generate_series(1, 5)")  # fmt: skip
                    elif choice == 1:  # a claim: SKIP LOCKED, as the supervisor's
                        cur.execute("UPDATE processing_jobs SET status = 'processing' WHERE id IN "
                                    "(SELECT id FROM processing_jobs WHERE status = 'pending' "
                                    "LIMIT 3 FOR UPDATE SKIP LOCKED)")  # fmt: skip
                    elif choice == 2:
                        cur.execute("UPDATE processing_jobs SET status = 'completed', "
                                    "completed_at = localtimestamp WHERE id IN (SELECT id FROM "
                                    "processing_jobs WHERE status = 'processing' LIMIT 3 "
                                    "FOR UPDATE SKIP LOCKED)")  # fmt: skip
                    elif choice == 3:
                        cur.execute("DELETE FROM processing_jobs WHERE id IN (SELECT id FROM "
                                    "processing_jobs WHERE status = 'completed' LIMIT 2 "
                                    "FOR UPDATE SKIP LOCKED)")  # fmt: skip
                    else:
                        cur.execute("UPDATE processing_jobs SET retry_count = retry_count + 1 "
                                    "WHERE id IN (SELECT id FROM processing_jobs LIMIT 2 "
                                    "FOR UPDATE SKIP LOCKED)")  # fmt: skip
        except BaseException as e:  # reported by the test
            errors.append(e)
        finally:
            c.close()

    def folder() -> None:
        c = connect(db_url)
        try:
            while not stop.is_set():
                history.fold(c)
        except BaseException as e:  # reported by the test
            errors.append(e)
        finally:
            c.close()

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    folders = [threading.Thread(target=folder) for _ in range(2)]
    for t in writers + folders:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in folders:
        t.join()
    assert not errors, errors
    assert_rollup_equals_scan(conn)
    history.fold(conn)
    assert _deltas(conn) == 0
    assert_rollup_equals_scan(conn)


def test_a_supervisor_keeps_the_rollup_and_folds_it(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    jobs = [enqueue(conn, job_type="diag.noop") for _ in range(12)]
    jobs += [enqueue(conn, job_type="diag.fail") for _ in range(3)]
    sup = supervisors.start(db_url, write_config(tmp_path, max_retries=1))
    sup.wait_registered(conn)
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status IN "
                                  "('completed', 'failed')") == len(jobs))  # fmt: skip
    assert_rollup_equals_scan(conn)
    wait_for(lambda: _deltas(conn) == 0, 10)  # folded by its heartbeat
    assert_rollup_equals_scan(conn)
    counts = {(s, r): n for s, r, n in rows(conn, ADMIN["counts"])}
    assert counts == {("completed", 0): 12, ("failed", 1): 3}


def _plan(conn: Connection, sql: str, params: dict[str, Any]) -> str:
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + cur.mogrify(sql, params).decode())
        return "\n".join(r[0] for r in cur.fetchall())


def test_the_views_read_no_processing_jobs_row_by_a_scan(conn: Connection) -> None:
    with conn.cursor() as cur:  # the trigram index built after the rows: quicker
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (TRGM,))
        (definition,) = cur.fetchone() or (None,)
        assert definition is not None
        cur.execute(f"DROP INDEX {TRGM}")
        cur.execute(
            "INSERT INTO processing_jobs (job_type, status, business_description, created_at, "
            "completed_at) SELECT 'diag.noop', 'completed', 'weekly sales ' || n || "
            "CASE WHEN n % 50000 = 0 THEN ' zeppelin' ELSE '' END, "
            "localtimestamp - n * interval '1 minute', localtimestamp - n * interval '1 minute' "
            "FROM generate_series(1, 200000) AS n"
        )
        cur.execute(definition)
        cur.execute("ANALYZE processing_jobs")
    filters = job_admin.Filters(text="zeppelin")
    params = {**job_admin.list_params(filters), "hours": 24, "status": "frozen"}
    checks = {
        "counts": ADMIN["counts"], "throughput": ADMIN["throughput"],
        "jobs_by_type": WEB["jobs_by_type"], "status_exists": WEB["status_exists"],
    }  # fmt: skip
    for name, sql in checks.items():
        assert "processing_jobs" not in _plan(conn, sql, params), name
    plan = _plan(conn, ADMIN["search_older"], {**job_admin.list_params(filters), "limit": 51})
    assert "jobsup_jobs_description_trgm" in plan and "Seq Scan" not in plan, plan
    plan = _plan(conn, ADMIN["list_jobs"], job_admin.list_params(job_admin.Filters()))
    assert "Seq Scan" not in plan, plan
    common = job_admin.list_params(job_admin.Filters(text="weekly"))
    plan = _plan(conn, ADMIN["list_window"], {**common, "window": job_admin.SEARCH_WINDOW})
    assert "jobsup_jobs_created_id" in plan and "trgm" not in plan and "Seq Scan" not in plan


def test_a_text_search_finds_the_newest_matches_wherever_they_are(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_admin, "SEARCH_WINDOW", 10)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, status, business_description, created_at) "
            "SELECT 'diag.noop', CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'completed' END, "
            "CASE WHEN n % 3 = 0 THEN 'Quarterly review ' ELSE 'churn study ' END || n, "
            "localtimestamp - n * interval '1 minute' FROM generate_series(1, 200) AS n"
        )
    for words, status, limit in (("quarterly", None, 50), ("CHURN", "failed", 5),
                                 ("review 1", None, 50), ("nothing like it", None, 5),
                                 ("study", "failed", 100)):  # fmt: skip
        filters = job_admin.Filters(status=status, text=words, limit=limit)
        found = [j["id"] for j in job_admin.list_jobs(conn, filters)]
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id::text FROM processing_jobs WHERE business_description ILIKE %s "
                "AND (%s::text IS NULL OR status = %s) ORDER BY created_at DESC, id DESC LIMIT %s",
                (f"%{words}%", status, status, limit),
            )
            assert found == [r for (r,) in cur.fetchall()], (words, status)


def test_without_pg_trgm_the_migration_goes_on_and_the_search_reads_the_table(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role that may not create extensions (no CREATE on the database) migrates a
    database: everything but the trigram index; the jobs list's search still answers."""
    role, name = f"jobsup_nt_{uuid.uuid4().hex[:8]}", f"jobsup_t_{uuid.uuid4().hex[:12]}"
    as_admin(server_url, f"CREATE ROLE {role} LOGIN")
    as_admin(server_url, f"CREATE DATABASE {name} TEMPLATE template0")
    owner = psycopg2.connect(database_url(server_url, name))
    owner.autocommit = True
    with owner.cursor() as cur:
        cur.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
    owner.close()
    url = make_dsn(database_url(server_url, name), user=role)  # a URL or key=value
    monkeypatch.setattr(job_admin, "_searched", [])
    warned: list[str] = []
    monkeypatch.setattr(job_admin.logger, "warning", lambda text, *a: warned.append(text))
    try:
        conn = connect(url)
        try:
            assert [m.version for m in schema.migrate(conn)][-1] == 14
            assert scalar(conn, "SELECT to_regclass('jobsup_jobs_description_trgm')") is None
            make_job(conn, status="completed", business_description="a zeppelin ride")
            for _ in range(2):
                found = job_admin.list_jobs(conn, job_admin.Filters(text="zeppelin"))
                assert [j["description"] for j in found] == ["a zeppelin ride"]
            assert len(warned) == 1 and "no trigram index" in warned[0]
        finally:
            conn.close()
    finally:
        as_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        as_admin(server_url, f"DROP ROLE IF EXISTS {role}")


def test_jobs_list_searches_the_descriptions(db_url: str, conn: Connection) -> None:
    from tests.fixtures.commands import jobsup

    wanted = make_job(conn, status="failed", business_description="Quarterly Zeppelin ride")
    make_job(conn, status="completed", business_description="zeppelin, completed")
    make_job(conn, status="failed", business_description="a boat")
    listed = jobsup("jobs", "list", "--text", "zeppelin", "--status", "failed", "--json",
                    env={"DATABASE_URL": db_url})  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [j["id"] for j in json.loads(listed.stdout)] == [wanted]
