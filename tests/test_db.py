"""Connections: named `jobsup`, passwords never shown, clear errors, backoff."""

from __future__ import annotations

import pytest

from supervisor.db import Backoff, connect, mask_url
from supervisor.errors import DatabaseError
from tests.conftest import jobsup


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql://app:s3cret@db.example:5432/prod",
            "postgresql://app:***@db.example:5432/prod",
        ),
        ("postgres://app:p@ss@db/prod", "postgres://app:***@db/prod"),
        ("postgresql://app@db/prod", "postgresql://app@db/prod"),
        (
            "postgresql://db/prod?user=app&password=s3cret",
            "postgresql://db/prod?user=app&password=***",
        ),
        (
            "host=db user=app password=s3cret dbname=prod",
            "host=db user=app password=*** dbname=prod",
        ),
        ("host=db password='with space' dbname=prod", "host=db password=*** dbname=prod"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_connection_is_named_and_has_a_statement_timeout(db_url: str) -> None:
    conn = connect(db_url, statement_timeout=7)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('application_name'), current_setting('statement_timeout')"
        )
        assert cur.fetchone() == ("jobsup", "7s")
    conn.close()


def test_unreachable_database_is_one_masked_line() -> None:
    with pytest.raises(DatabaseError) as info:
        connect("postgresql://app:s3cret@127.0.0.1:1/prod", connect_timeout=2)
    assert "s3cret" not in str(info.value)
    assert "postgresql://app:***@127.0.0.1:1/prod" in str(info.value)


def test_cli_never_prints_the_password() -> None:
    result = jobsup("db", "check", env={"DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert "s3cret" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    bad = jobsup("db", "check", env={"DATABASE_URL": "host=x password=s3cret dbname"})
    assert bad.returncode == 1
    assert "invalid database URL" in bad.stderr
    assert "s3cret" not in bad.stderr


def test_backoff_grows_to_its_maximum() -> None:
    backoff = Backoff(base=1, maximum=8)
    delays = [backoff.next_delay() for _ in range(6)]
    assert 0.5 <= delays[0] <= 1
    assert 4 <= delays[-1] <= 8
    backoff.reset()
    assert backoff.next_delay() <= 1
