"""The history rollup's upkeep (migration 0014): the deltas that processing_jobs' triggers
append at each change, folded into the totals the operator's views read (`stats`, the
dashboard), so that those views count years of history without reading it."""

from __future__ import annotations

from psycopg2.extras import Json

from supervisor.db import queries
from supervisor.db.connect import Connection, transaction

SQL = queries.load("history.sql")

# pg_try_advisory_xact_lock key of the fold ("hist"), beside the retention's and the caps'.
HISTORY_LOCK = 0x68697374


def fold(conn: Connection) -> int | None:
    """Fold the deltas committed so far into the totals; how many were folded (None: another
    supervisor is folding now)."""
    with transaction(conn), conn.cursor() as cur:
        cur.execute(SQL["history_lock"], {"key": HISTORY_LOCK})
        row = cur.fetchone()
        if row is None or not row[0]:
            return None
        cur.execute(SQL["fold_history"])
        folded = cur.fetchone()
        assert folded is not None  # nosec B101  # one row, always
        deltas, empty_counts, empty_hours = folded
        if empty_counts or empty_hours:
            cur.execute(SQL["drop_empty_history"],
                        {"counts": Json(empty_counts), "hours": Json(empty_hours)})  # fmt: skip
        return int(deltas)


def rebuild(conn: Connection) -> None:
    """Count the rollup afresh from the whole table (a scan): after a bulk load with the
    triggers disabled."""
    with transaction(conn), conn.cursor() as cur:
        cur.execute(SQL["rebuild_history"])
