"""Schema: init on an empty database, migrate a seed-built one without touching a row, check."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from supervisor.client.enqueue import enqueue
from supervisor.db import schema
from supervisor.db.connect import connect
from tests.fixtures.commands import jobsup
from tests.fixtures.seed import seed_database

SEED_COLUMNS = {
    "files": "id, file_path, original_name, status, created_at",
    "processing_jobs": "id, file_id, job_type, business_description, status, metadata, "
    "retry_count, created_at, started_at, completed_at, updated_at, error_message",
    "insights": "id, job_id, insight_type, content, confidence_score, created_at",
}


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    conn = connect(url)
    with conn.cursor() as cur:
        rows = {}
        for table, columns in SEED_COLUMNS.items():
            cur.execute(f"SELECT {columns} FROM {table} ORDER BY id")
            rows[table] = cur.fetchall()
    conn.close()
    return rows


def test_init_creates_everything(empty_db_url: str) -> None:
    result = jobsup("db", "init", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0, result.stderr
    assert "0002_jobsup_queue" in result.stdout
    conn = connect(empty_db_url)
    assert schema.check(conn) == []
    conn.close()
    again = jobsup("db", "init", env={"DATABASE_URL": empty_db_url})
    assert again.returncode == 0
    assert "up to date" in again.stdout


def test_check_names_what_is_missing(empty_db_url: str) -> None:
    seed_database(empty_db_url)
    result = jobsup("db", "check", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert "migration 0002_jobsup_queue not applied" in result.stdout
    assert "column processing_jobs.run_at missing" in result.stdout
    assert "table jobsup_workers missing" in result.stdout
    assert "jobsup db migrate" in result.stdout


def test_migrate_keeps_every_seed_row(empty_db_url: str) -> None:
    seed_database(empty_db_url)
    before = snapshot(empty_db_url)
    result = jobsup("db", "migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0, result.stderr
    assert snapshot(empty_db_url) == before
    assert jobsup("db", "check", env={"DATABASE_URL": empty_db_url}).returncode == 0
    conn = connect(empty_db_url)
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM jobsup_schema_migrations ORDER BY version")
        assert [v for (v,) in cur.fetchall()] == [m.version for m in schema.migrations()]
    conn.close()


def test_seed_enqueue_snippet_works_after_migrate(empty_db_url: str) -> None:
    seed_database(empty_db_url)
    schema.migrate(connect(empty_db_url))
    conn = connect(empty_db_url, autocommit=False)
    with conn, conn.cursor() as cursor:  # the seed document's snippet, unchanged
        file_id = "11111111-1111-1111-1111-111111111111"
        business_description = "Why did sales drop?"
        cursor.execute("""
            INSERT INTO processing_jobs (file_id, business_description, job_type)
            VALUES (%s, %s, %s)
        """, (file_id, business_description, "analysis"))  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            "SELECT status, retry_count, priority, run_at <= now() FROM processing_jobs "
            "WHERE business_description = 'Why did sales drop?'"
        )
        assert cur.fetchone() == ("pending", 0, 0, True)
    conn.close()


def test_two_concurrent_migrates_apply_once(empty_db_url: str) -> None:
    seed_database(empty_db_url)
    results: list[list[schema.Migration]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        conn = connect(empty_db_url)
        barrier.wait()
        try:
            results.append(schema.migrate(conn))
        except BaseException as e:
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, len(schema.migrations())]


def test_a_failing_migration_leaves_nothing_behind(empty_db_url: str) -> None:
    conn = connect(empty_db_url)
    with conn.cursor() as cur:  # a table in the way of the seed DDL's index makes 0001 fail
        cur.execute("CREATE TABLE processing_jobs (id int)")
    with pytest.raises(psycopg2.Error):
        schema.migrate(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('files'), to_regclass('jobsup_schema_migrations')")
        assert cur.fetchone() == (None, None)
    conn.close()


def test_enqueue_joins_the_callers_transaction(db_url: str) -> None:
    conn = connect(db_url, autocommit=False)
    job_id = enqueue(conn, "/data/x.csv", description="d", priority=5, metadata={"k": 1})
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM processing_jobs WHERE id = %s", (job_id,))
        assert cur.fetchone() == (0,)
    job_id = enqueue(conn, "/data/x.csv", description="d", priority=5, metadata={"k": 1})
    conn.commit()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT j.status, j.priority, j.metadata, f.file_path, f.original_name "
            "FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE j.id = %s",
            (job_id,),
        )
        assert cur.fetchone() == ("pending", 5, {"k": 1}, "/data/x.csv", None)
    conn.close()
