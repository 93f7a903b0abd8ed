"""enqueue_many in bulk: the ids it makes itself are distinct version-4 UUIDs, each job's in
its place in the list, with held unique keys and new files still answered per job."""

from __future__ import annotations

import uuid

import pytest

from supervisor.client.enqueue import _new_ids, enqueue_many
from supervisor.db.connect import Connection
from tests.fixtures.processes import rows


@pytest.mark.unit
def test_the_ids_made_in_bulk_are_distinct_random_uuids() -> None:
    ids = list(_new_ids(5000))
    assert len(set(ids)) == 5000
    for text in ids:
        made = uuid.UUID(text)
        assert str(made) == text and made.version == 4 and made.variant == uuid.RFC_4122


def test_enqueue_many_in_bulk_keeps_each_job_in_its_place(conn: Connection) -> None:
    held = enqueue_many(conn, [{"job_type": "diag.noop", "unique_key": "k"}])[0]
    jobs: list[dict[str, object]] = [
        {"job_type": "diag.noop", "description": f"bulk {n}", "metadata": {"n": n}}
        for n in range(3000)
    ]
    jobs[10] = {"job_type": "diag.noop", "unique_key": "k"}  # held: the holder's id
    jobs[20] = {"job_type": "diag.files", "file_path": ["/tmp/a.csv", "/tmp/b.csv"]}
    ids = enqueue_many(conn, jobs)
    assert len(ids) == 3000 and ids[10] == held and len(set(ids)) == 3000
    found = dict(rows(conn, "SELECT id::text, metadata->>'n' FROM processing_jobs "
                            "WHERE business_description LIKE 'bulk %%'"))  # fmt: skip
    assert len(found) == 2998
    assert all(found[ids[n]] == str(n) for n in range(3000) if n not in (10, 20))
    paths = rows(conn, "SELECT f.file_path FROM processing_jobs j JOIN files f ON f.id = "
                       "j.file_id WHERE j.id = %s", ids[20])  # fmt: skip
    assert paths == [("/tmp/a.csv",)]
