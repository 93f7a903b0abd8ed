"""`jobsup enqueue --fair-key` and `enqueue(fair_key=…)`: the key and its round on the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.client.enqueue import enqueue, enqueue_many
from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import rows, write_config


def test_fair_key_from_the_command_line(db_url: str, conn: Connection, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {"DATABASE_URL": db_url}
    for key in ("customer-1", "customer-1", "customer-2"):
        done = jobsup("enqueue", "-c", str(config), "--type", "diag.noop", "--fair-key", key,
                      env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    found = rows(conn, "SELECT fair_key, fair_seq FROM processing_jobs ORDER BY created_at")
    assert found == [("customer-1", 1), ("customer-1", 2), ("customer-2", 1)]


def test_rounds_follow_each_key_and_the_earliest_pending_round(conn: Connection) -> None:
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "a"} for _ in range(3)])
    enqueue(conn, job_type="diag.noop", fair_key="b")
    enqueue(conn, job_type="diag.noop", fair_key="a", priority=1)  # its own priority's rounds
    enqueue(conn, job_type="diag.noop")  # no key: no round
    found = rows(conn, "SELECT fair_key, priority, fair_seq FROM processing_jobs "
                       "ORDER BY created_at, fair_seq")  # fmt: skip
    assert found == [("a", 0, 1), ("a", 0, 2), ("a", 0, 3), ("b", 0, 1), ("a", 1, 1),
                     (None, 0, None)]  # fmt: skip
    with conn.cursor() as cur:  # rounds 1 and 2 taken: a newcomer joins round 3, not 1
        cur.execute("UPDATE processing_jobs SET status = 'completed' "
                    "WHERE fair_seq <= 2 AND priority = 0")  # fmt: skip
    enqueue(conn, job_type="diag.noop", fair_key="c")
    assert rows(conn, "SELECT fair_seq FROM processing_jobs WHERE fair_key = 'c'") == [(3,)]


@pytest.mark.parametrize("key", ["", 42])
def test_a_bad_fair_key_is_refused(conn: Connection, key: object) -> None:
    with pytest.raises(TypeError, match="fair_key must be a non-empty string"):
        enqueue(conn, job_type="diag.noop", fair_key=key)  # type: ignore[arg-type]
