"""Connections: named `jobsup`, passwords never shown, clear errors, backoff."""

from __future__ import annotations

import pytest

from supervisor.db.connect import Backoff, connect, mask_url, redact
from supervisor.errors import DatabaseError
from tests.fixtures.commands import jobsup


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
        # Shapes libpq cannot parse, whose errors used to print the password.
        ("postgresql:/postgres:S3cret@127.0.0.1/x", "postgresql:/postgres:***@127.0.0.1/x"),
        ("postgresql:postgres:S3cret@h/x", "postgresql:postgres:***@h/x"),
        ("mysql://u:PW@h/db", "mysql://u:***@h/db"),
        ("u:PW@h/db", "u:***@h/db"),
        ("postgresql://u:two words@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a/b?c#d@h/db", "postgresql://u:***@h/db"),
        ("host=db password=two words port=5", "host=db password=*** port=5"),
        ("host=db sslpassword=S3 password=S4", "host=db sslpassword=*** password=***"),
        ("postgresql://h/db?sslpassword=S3&x=1", "postgresql://h/db?sslpassword=***&x=1"),
        # No password: nothing to hide, nothing changed.
        (
            "postgresql://postgres:@/jobsup?host=/run/x",
            "postgresql://postgres:@/jobsup?host=/run/x",
        ),
        ("postgresql://db:5432/prod", "postgresql://db:5432/prod"),
        ("host=/tmp dbname=x", "host=/tmp dbname=x"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql:/postgres:S3cret@127.0.0.1/x",
        "mysql://u:S3cret@h/db",
        "host=x password=S3cret dbname",
        "host=x password=S3 cret port=1",
        "host=x password='S3 cret' port=x",
        "postgresql://u:S3cret@127.0.0.1:99999/x",
        "postgresql://u:S3cret@[::1/x",
        "postgresql://u:S3%63ret@127.0.0.1:1/x?sslmode=bogus",
    ],
)
def test_a_malformed_url_is_refused_in_one_line_without_its_password(url: str) -> None:
    with pytest.raises(DatabaseError) as info:
        connect(url, connect_timeout=1)
    message = str(info.value)
    assert "S3cret" not in message and "cret" not in message, message
    assert message.startswith(("invalid database URL ", "cannot connect to "))
    assert "\n" not in message


@pytest.mark.parametrize("password", ["7", "S3cret7", "pass 7", "27"])
def test_a_password_ending_in_a_digit_leaves_the_host_whole(password: str) -> None:
    """The masker hides the password where an error quotes it, never a piece of the host
    (a password `7` made `127.0.0.1` read `12***.0.0.1`)."""
    url = f"postgresql://u:{password}@127.0.0.1:1/x"
    with pytest.raises(DatabaseError) as info:
        connect(url, connect_timeout=1)
    message = str(info.value)
    assert message.startswith(("cannot connect to postgresql://u:***@127.0.0.1:1/x", "invalid")), (
        message
    )
    assert '"127.0.0.1", port 1' in message or "invalid" in message, message
    quoted = redact(f'password "{password}" rejected by 127.0.0.1', url)
    assert quoted == 'password "***" rejected by 127.0.0.1'


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
