"""A job's place in a pipeline: its parents, its children, its batch's progress
(`jobs show`, the dashboard's job page)."""

from __future__ import annotations

from typing import Any

from supervisor.db.connect import Connection, dict_cursor
from supervisor.ops.job_admin import SQL

CHILDREN_SHOWN = 200  # a fan-out of thousands is summed up, not listed


def of_job(conn: Connection, job_id: str, batch_id: str | None) -> dict[str, Any]:
    """`parents` and `children` (each: id, job_type, status, on_parent_failure, …) and
    `batch` (its progress, None when the job is in none)."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["job_parents"], {"id": job_id})
        parents = [dict(row) for row in cur.fetchall()]
        cur.execute(SQL["job_children"], {"id": job_id, "limit": CHILDREN_SHOWN})
        children = [dict(row) for row in cur.fetchall()]
    return {"parents": parents, "children": children,
            "batch": progress(conn, batch_id) if batch_id else None}  # fmt: skip


def progress(conn: Connection, batch_id: str) -> dict[str, Any] | None:
    """How batch `batch_id` stands: jobs, ended, completed, failed (or cancelled), running,
    its then-job and that one's status; None when there is no such batch."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["batch_progress"], {"id": batch_id})
        row = cur.fetchone()
    return dict(row) if row else None


def progress_line(batch: dict[str, Any]) -> str:
    """`batch 4c1e… : 38 of 40 ended (2 failed), 1 running; then 9a0b… pending`."""
    failed = f" ({batch['failed']} failed)" if batch["failed"] else ""
    running = f", {batch['running']} running" if batch["running"] else ""
    then = f"; then {batch['then_id']} {batch['then_status']}" if batch["then_id"] else ""
    return f"{batch['ended']} of {batch['jobs']} ended{failed}{running}{then}"
