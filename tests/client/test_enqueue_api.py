"""Enqueue from an application: an existing `files` row, many jobs in one statement, on
psycopg2 and psycopg 3 connections."""

from __future__ import annotations

import select
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import psycopg2
import psycopg2.extensions
import pytest
from psycopg.rows import dict_row

from supervisor.api import UnknownFile, enqueue, enqueue_many
from supervisor.db.connect import Connection, transaction
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, rows, scalar, write_config


def _file(conn: Connection, path: str = "/data/uploads/sales.csv") -> str:
    return str(scalar(conn, "INSERT INTO files (file_path, original_name) VALUES (%s, 'sales.csv') "
                      "RETURNING id::text", path))  # fmt: skip


def test_enqueue_file_id_uses_the_given_row_and_adds_none(db_url: str, conn: Connection) -> None:
    file_id = _file(conn)
    with transaction(conn):
        job_id = enqueue(conn, file_id=file_id, description="Sales by region", priority=5)
    assert scalar(conn, "SELECT count(*) FROM files") == 1
    assert rows(conn, "SELECT file_id::text, priority, business_description FROM processing_jobs "
                "WHERE id = %s", job_id) == [(file_id, 5, "Sales by region")]  # fmt: skip

    result = jobsup("enqueue", "--file-id", file_id, "--json", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert scalar(conn, "SELECT count(*) FROM files") == 1
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE file_id = %s", file_id) == 2


def test_enqueue_of_an_unknown_file_id_says_so_and_adds_nothing(
    db_url: str, conn: Connection
) -> None:
    missing = "00000000-0000-0000-0000-00000000f11e"
    with transaction(conn):
        with pytest.raises(
            UnknownFile, match=f"no row in files has id {missing}: nothing enqueued"
        ):
            enqueue(conn, file_id=missing)
        enqueue(conn, job_type="diag.noop")  # the caller's transaction goes on
    result = jobsup("enqueue", "--file-id", missing, env={"DATABASE_URL": db_url})
    assert (result.returncode, result.stderr) == (
        1, f"jobsup: no row in files has id {missing}: nothing enqueued\n",
    )  # fmt: skip
    bad = jobsup("enqueue", "--file-id", "nope", env={"DATABASE_URL": db_url})
    assert bad.returncode == 2 and "'nope' is not a valid UUID" in bad.stderr, bad.stderr
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 1


class _CountingCursor(psycopg2.extensions.cursor):
    statements: ClassVar[list[str]] = []

    def execute(self, query: Any, vars: Any = None) -> None:
        _CountingCursor.statements.append(str(query))
        super().execute(query, vars)


def test_enqueue_many_inserts_10000_jobs_in_one_statement_and_wakes_once(
    db_url: str, conn: Connection
) -> None:
    existing = _file(conn)
    listener = psycopg2.connect(db_url)
    listener.autocommit = True
    listener.cursor().execute("LISTEN jobsup_pending")
    app = psycopg2.connect(db_url, cursor_factory=_CountingCursor)
    later = datetime(2030, 1, 2, tzinfo=UTC)
    jobs: list[Any] = [
        {"file_path": f"/data/{n}.csv", "original_name": f"{n}.csv", "metadata": {"n": n}}
        for n in range(9997)
    ] + [
        {"file_id": existing, "priority": 9},
        {"file_id": existing, "run_at": later},
        {"file_id": existing, "delay": 60.0},
    ]
    with app:
        _CountingCursor.statements.clear()
        ids = enqueue_many(app, jobs)
        assert len(_CountingCursor.statements) == 1
    app.close()
    assert len(ids) == len(set(ids)) == 10000
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'pending'") == 10000
    assert scalar(conn, "SELECT count(*) FROM files") == 9998  # one existing, 9997 new
    assert rows(conn, "SELECT j.metadata, f.file_path, f.original_name FROM processing_jobs j "
                "JOIN files f ON f.id = j.file_id WHERE j.id = %s", ids[1234]) == [
        ({"n": 1234}, "/data/1234.csv", "1234.csv")]  # fmt: skip
    assert rows(conn, "SELECT file_id::text, priority FROM processing_jobs WHERE id = %s",
                ids[9997]) == [(existing, 9)]  # fmt: skip
    assert scalar(conn, "SELECT run_at FROM processing_jobs WHERE id = %s", ids[9998]) == later
    delayed = scalar(conn, "SELECT run_at - now() FROM processing_jobs WHERE id = %s", ids[9999])
    assert timedelta(seconds=55) < delayed <= timedelta(seconds=60)
    select.select([listener], [], [], 2.0)
    listener.poll()
    assert [n.payload for n in listener.notifies] == ["analysis"]  # one wake-up for 10,000
    listener.close()


def test_enqueue_many_is_all_or_nothing(conn: Connection) -> None:
    missing = "00000000-0000-0000-0000-00000000f11e"
    with pytest.raises(UnknownFile, match=missing), transaction(conn):
        enqueue_many(conn, [{"file_path": "/data/a.csv"}, {"file_id": missing}])
    assert scalar(conn, "SELECT count(*) FROM files") == 0
    assert enqueue_many(conn, []) == []


def test_enqueue_and_enqueue_many_on_a_psycopg3_connection(db_url: str, conn: Connection) -> None:
    file_id = _file(conn)
    with psycopg.connect(db_url, row_factory=dict_row) as app:  # commits on leaving
        one = enqueue(app, "/data/x.csv", job_type="diag.noop", metadata={"k": 1}, delay=5,
                      original_name="x.csv")  # fmt: skip
        two = enqueue(app, file_id=file_id, run_at=datetime(2030, 1, 1))  # naive: local time
        many = enqueue_many(app, [{"file_id": file_id}, {"file_path": "/data/y.csv"}])
        with pytest.raises(UnknownFile):
            enqueue(app, file_id="00000000-0000-0000-0000-00000000f11e")
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE id = ANY(%s::uuid[])",
                  [one, two, *many]) == 4  # fmt: skip
    assert rows(conn, "SELECT j.job_type, j.metadata, f.original_name FROM processing_jobs j "
                "JOIN files f ON f.id = j.file_id WHERE j.id = %s", one) == [
        ("diag.noop", {"k": 1}, "x.csv")]  # fmt: skip


@pytest.mark.unit
@pytest.mark.parametrize(
    ("job", "error", "message"),
    [
        ({"file": "/x"}, TypeError, "job 0: unknown key 'file' (known: after, delay, description"),
        ({"file_path": "/x", "file_id": "00000000-0000-0000-0000-000000000001"}, ValueError,
         "give file_path or file_id, not both"),
        ({"file_id": "f11e"}, ValueError, "job 0: file_id: 'f11e' is not a UUID"),
        ({"priority": 2**31}, ValueError, "priority 2147483648 out of range"),
        ({"priority": "high"}, TypeError, "priority must be an int, got str"),
        ({"delay": -1}, ValueError, "delay must be a number of seconds >= 0, got -1"),
        ({"metadata": [1]}, TypeError, "metadata must be a mapping"),
        ({"run_at": "tomorrow"}, TypeError, "run_at must be a datetime"),
        ({}, ValueError, "job 0: an analysis job reads its file: give file_path or file_id"),
        ({"job_type": "analysis", "file_path": []}, ValueError, "an analysis job reads its file"),
    ],
)  # fmt: skip
def test_a_wrong_job_is_refused_before_any_statement(
    job: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        enqueue_many(None, [job])


def test_a_job_over_several_files_gets_them_in_order(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    paths = []
    for n, name in enumerate(("b.csv", "a.csv", "c.csv"), start=1):
        paths.append(tmp_path / name)
        paths[-1].write_text("x" * n)
    with transaction(conn):
        by_path = enqueue(conn, [str(p) for p in paths], job_type="diag.files")
        ids = [_file(conn, str(p)) for p in paths[:2]]
        by_id = enqueue_many(conn, [{"file_id": ids, "job_type": "diag.files"}])[0]
    cli = jobsup("enqueue", "--type", "diag.files", "--force", "--file", str(paths[2]),
                 "--file", str(paths[0]), env={"DATABASE_URL": db_url})  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0, sup.log()
    found = {job_id: content["files"] for job_id, content in rows(
        conn, "SELECT job_id::text, content FROM insights")}  # fmt: skip
    assert found[by_path] == [[str(p), n] for n, p in enumerate(paths, start=1)]
    assert found[by_id] == [[str(paths[0]), 1], [str(paths[1]), 2]]
    assert found[cli.stdout.strip()] == [[str(paths[2]), 3], [str(paths[0]), 1]]
    shown = jobsup("jobs", "show", by_path, env={"DATABASE_URL": db_url}).stdout
    assert f"file 3       {paths[2]}" in shown, shown


def test_a_missing_file_among_several_enqueues_nothing(conn: Connection) -> None:
    known = _file(conn)
    unknown = "00000000-0000-4000-8000-000000000009"
    with pytest.raises(UnknownFile, match=unknown):
        enqueue(conn, file_id=[known, unknown])
    conn.rollback()
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 0
