"""Database access: connections named `jobsup`, URLs with the password masked, backoff."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from supervisor.errors import DatabaseError, describe

Connection = psycopg2.extensions.connection

# An idle connection is probed after 10 s, then every 3 s; 3 unanswered probes end it.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 3, 3

# The user info of a URL, whatever its scheme and even where libpq cannot parse it
# (`postgresql:/u:pw@h`, `mysql://u:pw@h`): everything from the first ':' after the user name
# to the last '@' is taken as the password. Without a scheme (`u:pw@h`), the same.
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*:/*[^\s:@/]*:)(.*)(@)", re.IGNORECASE)
_BARE_PASSWORD = re.compile(r"^([^\s:@/=]*:)(.*)(@)")
_IS_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# ?password=… and &sslpassword=… in a URL's query.
_PARAM_PASSWORD = re.compile(r"(password=)([^&#\s]+)()", re.IGNORECASE)
# password=… in key=value form: a quoted value, else everything up to the next `key=` (an
# unquoted value with a space is malformed, and libpq quotes its second half).
_KEYWORD_PASSWORD = re.compile(
    r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|.+?)()(?=\s+\w+\s*=|\s*$)", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """`url` with any password replaced by `***`, safe to print or log."""
    return _masked(url)[0]


def redact(text: str, url: str) -> str:
    """`text` (a message about `url`, e.g. libpq's) with every password of `url` replaced by
    `***`, wherever and however much of it the message quotes."""
    for secret in sorted(_masked(url)[1], key=len, reverse=True):
        text = _whole(secret).sub("***", text)
    return _masked(text)[0]


def _whole(secret: str) -> re.Pattern[str]:
    """`secret` where it stands whole: not the end of a longer word or number. A password
    `7` (or one word of `pass 7`) is masked where the message quotes it, not inside the
    host `127.0.0.1` (which it turned into `12***.0.0.1`)."""
    pattern = re.escape(secret)
    if secret[0].isalnum():
        pattern = r"(?<![0-9A-Za-z])" + pattern
    if secret[-1].isalnum():
        pattern += r"(?![0-9A-Za-z])"
    return re.compile(pattern)


def _masked(url: str) -> tuple[str, set[str]]:
    """`url` masked, and the passwords taken out of it: raw, as libpq decodes them, and each
    word of one (libpq's errors quote a malformed string from a space on)."""
    found: set[str] = set()

    def take(match: re.Match[str]) -> str:
        head, secret, tail = match.groups()
        if not secret:
            return match.group(0)
        for form in (secret, unquote(secret), secret.strip("'")):
            found.update({form, *form.split()})
        return f"{head}***{tail}"

    if _IS_URL.match(url) or "=" not in url:
        masked = _URL_PASSWORD.sub(take, url, count=1)
        if masked == url and "://" not in url:
            masked = _BARE_PASSWORD.sub(take, url, count=1)
        url = _PARAM_PASSWORD.sub(take, masked)
    else:
        url = _KEYWORD_PASSWORD.sub(take, url)
    return url, {secret for secret in found if secret}


def connect(
    url: str,
    *,
    statement_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    application_name: str = "jobsup",
    autocommit: bool = True,
    synchronous_commit: bool = True,
    pooler: str = "none",
) -> Connection:
    """A new connection to `url`, or DatabaseError with one line saying why (password masked).

    Over TCP, keepalives and `tcp_user_timeout` (the statement timeout) make a dead peer or
    a black-holed network an error within seconds instead of the kernel's 15 minutes.

    `pooler` (`[database] pooler`): behind PgBouncer, which refuses the startup parameter
    `options`, the settings are SET once connected in session mode; in transaction mode a
    SET would stay on a server connection other clients then get, so none is made: the
    statement timeout is the role's (`ALTER ROLE … SET statement_timeout`, README "Behind
    PgBouncer").
    """
    settings = [f"statement_timeout={int(statement_timeout * 1000)}"]
    if not synchronous_commit:
        settings.append("synchronous_commit=off")
    startup: dict[str, Any] = {}
    if pooler == "none":
        startup["options"] = " ".join(f"-c {s}" for s in settings)
    try:
        conn: Connection = psycopg2.connect(
            url,
            application_name=application_name,
            connect_timeout=max(1, int(connect_timeout)),
            **startup,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE,
            keepalives_interval=KEEPALIVE_INTERVAL,
            keepalives_count=KEEPALIVE_COUNT,
            tcp_user_timeout=int(statement_timeout * 1000) or 30000,
        )
    except psycopg2.ProgrammingError as e:  # libpq could not parse the URL
        reason = redact(describe(e), url)
        raise DatabaseError(f"invalid database URL {mask_url(url)}: {reason}") from None
    except psycopg2.Error as e:
        reason = redact(describe(e), url)
        if "unsupported startup parameter" in reason:  # PgBouncer: say how to go through it
            reason += ' (a connection pooler: set [database] pooler = "session" or ' \
                '"transaction", README "Behind PgBouncer")'  # fmt: skip
        raise DatabaseError(f"cannot connect to {mask_url(url)}: {reason}") from None
    conn.autocommit = autocommit
    if pooler == "session":
        try:
            with conn.cursor() as cur:
                for setting in settings:
                    name, value = setting.split("=")
                    cur.execute("SELECT set_config(%s, %s, false)", (name, value))
            if not autocommit:
                conn.commit()
        except psycopg2.Error as e:
            close_quietly(conn)
            raise DatabaseError(f"{mask_url(url)}: {describe(e)}") from None
    return conn


def dict_cursor(conn: Connection) -> psycopg2.extras.RealDictCursor:
    """A cursor whose rows are dicts keyed by column name."""
    cursor: psycopg2.extras.RealDictCursor = conn.cursor(
        cursor_factory=psycopg2.extras.RealDictCursor
    )
    return cursor


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """A transaction on an autocommit connection: committed on success, rolled back on error."""
    conn.autocommit = False
    try:
        with conn:
            yield conn
    finally:
        if not conn.closed:
            conn.autocommit = True


def close_quietly(conn: Connection | None) -> None:
    """Close `conn`, ignoring the errors of a connection that is already gone."""
    if conn is None:
        return
    with suppress(psycopg2.Error):
        conn.close()


@dataclass
class Backoff:
    """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s, ... up to `maximum`."""

    base: float = 0.5
    maximum: float = 30.0
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.base * 2**self.attempts)
        self.attempts += 1
        return random.uniform(delay / 2, delay)  # nosec B311  # jitter, not a secret

    def reset(self) -> None:
        self.attempts = 0
