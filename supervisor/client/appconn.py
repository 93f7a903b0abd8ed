"""An application's own connection, psycopg2 or psycopg 3: what the Python API needs of it.

The API (`enqueue`, `enqueue_many`, `wait`) runs on the caller's connection, whichever
driver made it and whatever row factory it has: rows are read by column name, values that
differ between the drivers (UUIDs, numerics) are normalised, and LISTEN works on both.
"""

from __future__ import annotations

import select
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

IDLE = 0  # libpq's PQTRANS_IDLE, as both drivers' `info.transaction_status` report it


def is_psycopg2(conn: Any) -> bool:
    return type(conn).__module__.partition(".")[0] == "psycopg2"


def fetch(cur: Any) -> list[dict[str, Any]]:
    """Every row of `cur` as a dict by column name (tuple, named-tuple or dict rows alike)."""
    names = [column[0] for column in cur.description or ()]
    return [_as_dict(row, names) for row in cur.fetchall()]


def _as_dict(row: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(row, Mapping):
        return {name: _plain(row[name]) for name in names}
    return {name: _plain(value) for name, value in zip(names, row, strict=True)}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # psycopg 3 returns UUIDs, psycopg2 strings
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def in_transaction(conn: Any) -> bool:
    """Whether `conn` is inside a transaction (begun, or failed) rather than idle."""
    return int(conn.info.transaction_status) != IDLE


@contextmanager
def listening(conn: Any, channel: str) -> Iterator[None]:
    """LISTEN on `channel` for the block, on an idle connection (in autocommit meanwhile:
    a LISTEN takes effect, and notifications arrive, only outside a transaction). A channel
    the application listens to already stays as it was."""
    autocommit, already = conn.autocommit, True
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT %s::text = ANY(ARRAY(SELECT pg_listening_channels()))", (channel,))
            (row,) = fetch(cur)
            already = next(iter(row.values()))
            if not already:
                cur.execute(f'LISTEN "{channel}"')  # a constant of ours, not input
        yield
    finally:
        try:
            if not already and not conn.closed:
                with conn.cursor() as cur:
                    cur.execute(f'UNLISTEN "{channel}"')  # a constant of ours, not input
        finally:
            if not conn.closed:
                conn.autocommit = autocommit


def notifications(conn: Any, channel: str, timeout: float) -> list[str]:
    """The payloads of `channel`'s notifications: those already received, else the first to
    arrive within `timeout` seconds (an empty list after that)."""
    if is_psycopg2(conn):
        return _psycopg2_notifications(conn, channel, timeout)
    return [n.payload for n in conn.notifies(timeout=timeout, stop_after=1) if n.channel == channel]


def _psycopg2_notifications(conn: Any, channel: str, timeout: float) -> list[str]:
    if not any(n.channel == channel for n in conn.notifies):
        select.select([conn], [], [], timeout)
        conn.poll()
    ours = [n.payload for n in conn.notifies if n.channel == channel]
    # Notifications of the application's own channels stay for it to read.
    conn.notifies[:] = [n for n in conn.notifies if n.channel != channel]
    return ours
