"""Versioned schema migrations (`sql/migrations/NNNN_name.sql`) and the up-to-date check."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from supervisor.db.connect import Connection, transaction
from supervisor.errors import DatabaseError

# pg_advisory_xact_lock key shared by every jobsup migrate: two hosts migrating at once queue
# up behind it, and the second finds nothing left to do.
MIGRATE_LOCK = 0x6A6F6273  # "jobs"

VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS jobsup_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

# What `check` verifies beyond the version table: the columns the code reads and writes.
REQUIRED_COLUMNS = {
    "files": ("id", "file_path", "original_name", "status", "created_at"),
    "processing_jobs": (
        "id", "file_id", "job_type", "business_description", "status", "metadata",
        "retry_count", "created_at", "started_at", "completed_at", "updated_at",
        "error_message", "run_at", "priority", "worker_id", "runner_pid", "attempts",
        "unique_key", "parents_left", "batch_id", "progress", "steps", "trace_context",
    ),
    "jobsup_edges": ("parent", "child", "on_parent_failure", "n"),
    "jobsup_batches": ("id", "then_id", "created_at"),
    "jobsup_paused": ("job_type", "paused_at", "paused_by"),
    "jobsup_periodic": ("name", "last_slot", "last_job_id", "enqueued_at"),
    "insights": ("id", "job_id", "insight_type", "content", "confidence_score", "created_at"),
    "jobsup_workers": (
        "id", "host", "host_key", "pid", "process_started", "started_at", "heartbeat_at", "state",
        "slots", "running", "job_types", "config_path", "version", "runners",
    ),
}  # fmt: skip

MIN_SERVER_VERSION = 130000  # gen_random_uuid() is built in from PostgreSQL 13


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with jobsup, in version order."""
    folder = resources.files("supervisor") / "sql" / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def migrate(conn: Connection) -> list[Migration]:
    """Apply the missing migrations in one transaction; the ones applied (empty: up to date)."""
    _check_server_version(conn)
    with transaction(conn), conn.cursor() as cur:  # all of it or nothing
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        cur.execute(VERSIONS_TABLE)
        done = _applied_versions(conn)
        todo = [m for m in migrations() if m.version not in done]
        for migration in todo:
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO jobsup_schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return todo


def check(conn: Connection) -> list[str]:
    """What is missing for this version of jobsup, one line each (empty: up to date)."""
    problems = [f"migration {m.version:04d}_{m.name} not applied" for m in pending_migrations(conn)]
    existing = _existing_columns(conn)
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in existing:
            problems.append(f"table {table} missing")
            continue
        problems += [f"column {table}.{c} missing" for c in columns if c not in existing[table]]
    return problems


def pending_migrations(conn: Connection) -> list[Migration]:
    done = _applied_versions(conn)
    return [m for m in migrations() if m.version not in done]


# What a statement raises on a database whose schema jobsup has not created or brought up to
# date: a table, a column or a function it reads is not there.
MISSING = (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn,
           psycopg2.errors.UndefinedFunction)  # fmt: skip


def require_current(conn: Connection) -> None:
    """Raise DatabaseError with the fix when the schema is not up to date: `jobsup db init`
    on a database without jobsup's tables, `jobsup db migrate` on one that is behind (the
    original job-cron tables, or an older jobsup)."""
    problems = check(conn)
    if "table processing_jobs missing" in problems:
        raise DatabaseError(
            "the database has no jobsup tables (processing_jobs missing): run `jobsup db init`"
        )
    if "table jobsup_workers missing" in problems:
        raise DatabaseError(
            "the database has the original job-cron tables only (jobsup_workers missing): "
            "run `jobsup db migrate` (it adds jobsup's tables and columns, keeping every row)"
        )
    if problems:
        raise DatabaseError(
            f"database schema is not up to date ({'; '.join(problems[:3])}"
            f"{'; …' if len(problems) > 3 else ''}): run `jobsup db migrate`"
        )


def explain(conn: Connection, error: psycopg2.Error) -> None:
    """After `error` (one of MISSING) on `conn`: DatabaseError naming the fix when the schema
    is not current; nothing when it is (then `error` is a bug, for the caller to raise)."""
    try:
        if conn.closed:
            return
        if conn.status != psycopg2.extensions.STATUS_READY:
            conn.rollback()
        problems_found = bool(check(conn))
    except psycopg2.Error:
        return  # the connection is gone too: the original error says more
    if problems_found:
        require_current(conn)


def _applied_versions(conn: Connection) -> set[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('jobsup_schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        if not row or not row[0]:
            return set()
        cur.execute("SELECT version FROM jobsup_schema_migrations")
        return {version for (version,) in cur.fetchall()}


def _existing_columns(conn: Connection) -> dict[str, set[str]]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = ANY(%s)
            """,
            (list(REQUIRED_COLUMNS),),
        )
        existing: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            existing.setdefault(table, set()).add(column)
        return existing


def _check_server_version(conn: Connection) -> None:
    if conn.server_version < MIN_SERVER_VERSION:
        raise DatabaseError(
            f"PostgreSQL {conn.server_version // 10000} is too old: jobsup needs 13 or newer"
        )
