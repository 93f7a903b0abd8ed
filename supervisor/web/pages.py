"""What each page of the dashboard shows, read with the command line's own queries:
`report` (`ps`, `stats`, `status`), `job_admin` (`jobs list`, `jobs show`), and `sql/web.sql`
for the little only the dashboard needs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from supervisor.config import Config
from supervisor.db import queries
from supervisor.db.connect import Connection, dict_cursor
from supervisor.durations import parse as parse_duration
from supervisor.errors import JobsupError
from supervisor.ops import job_admin, pipeline, report
from supervisor.ops.job_admin import FIELDS, SHORT, SHOWN_ELSEWHERE
from supervisor.web import charts, insights, present

SQL = queries.load("web.sql")

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
HOURS = 24
PAGE = 50
_HEX = re.compile(r"^[0-9a-f]{1,32}$")


class BadRequest(JobsupError):
    """A query parameter a person can fix (shown on the page, answered 400)."""


def overview(conn: Connection, cfg: Config) -> dict[str, Any]:
    """Jobs by status and type, the queue now, the last day's charts, the supervisors, and
    the job types no live supervisor serves (`stats["unserved"]`)."""
    stats = report.stats(conn, HOURS, cfg.supervisor.stale_after)
    with dict_cursor(conn) as cur:
        cur.execute(SQL["jobs_by_type"])
        by_type = [dict(row) for row in cur.fetchall()]
    by_status = {s: 0 for s in STATUSES}
    for row in by_type:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["jobs"]
    workers = report.workers(conn, cfg.supervisor.stale_after)
    return {
        "queue": report.queue(conn),
        "by_status": by_status,
        "by_type": _type_table(by_type),
        "stats": stats,
        "hours": HOURS,
        "throughput_chart": charts.throughput(stats["throughput"]),
        "duration_chart": charts.durations(stats["durations"]),
        "status_chart": charts.shares(by_status),
        "supervisors": _count_states(workers),
    }


def _type_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per job type: its count in each status and in all."""
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = table.setdefault(row["job_type"], {"job_type": row["job_type"], "total": 0})
        entry[row["status"]] = row["jobs"]
        entry["total"] += row["jobs"]
    return list(table.values())


def _count_states(workers: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"running": 0, "draining": 0, "dead": 0}
    for w in workers:
        counts[w["state"]] = counts.get(w["state"], 0) + 1
    return counts


@dataclass(frozen=True)
class JobQuery:
    """The filters of /jobs as given (strings, for the form) and as parsed."""

    status: str = ""
    job_type: str = ""
    q: str = ""
    since: str = ""
    after: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> JobQuery:
        return cls(*(params.get(k, "").strip() for k in ("status", "type", "q", "since", "after")))

    def filters(self, statuses: Sequence[str] = STATUSES) -> job_admin.Filters:
        """The filters for `job_admin.list_jobs`; BadRequest naming a parameter that is wrong
        (a status outside `statuses`)."""
        if self.status and self.status not in statuses:
            raise BadRequest(f"status {self.status!r}: choose one of {', '.join(STATUSES)}")
        try:
            since = parse_duration(self.since) if self.since else None
        except JobsupError as e:
            raise BadRequest(f"since {e}") from None
        return job_admin.Filters(self.status or None, self.job_type or None, since, PAGE + 1,
                             self.q or None, parse_cursor(self.after))  # fmt: skip

    def link(self, **changes: str) -> str:
        """The query string of these filters with `changes` (an empty value drops a key)."""
        values = {"status": self.status, "type": self.job_type, "q": self.q,
                  "since": self.since, "after": self.after} | changes  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v})


def jobs(conn: Connection, cfg: Config, query: JobQuery) -> dict[str, Any]:
    """A page of the jobs list, newest first, and the cursor of the next page (if any)."""
    statuses: tuple[str, ...] = STATUSES
    if query.status and query.status not in STATUSES and _status_exists(conn, query.status):
        statuses = (*STATUSES, query.status)  # the overview links to every status jobs have
    found = job_admin.list_jobs(conn, query.filters(statuses))
    page, more = found[:PAGE], len(found) > PAGE
    last = page[-1] if page else None
    cursor = cursor_of(last["created_at"], last["id"]) if more and last else ""
    return {"query": query, "jobs": page, "next": cursor, "statuses": statuses,
            "types": sorted(cfg.job_types)}  # fmt: skip


def _status_exists(conn: Connection, status: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(SQL["status_exists"], {"status": status})
        row = cur.fetchone()
    return bool(row and row[0])


def cursor_of(created_at: datetime | None, job_id: str) -> str:
    """The keyset (created_at, id) of a row as `after=` takes it back."""
    return f"{created_at.isoformat() if created_at else ''}_{job_id}"


def parse_cursor(text: str) -> tuple[datetime, str] | None:
    if not text:
        return None
    stamp, _, job_id = text.rpartition("_")
    try:
        return datetime.fromisoformat(stamp), str(uuid.UUID(job_id))
    except ValueError:
        raise BadRequest(f"after {text!r}: not a cursor of this list (use its Next link)") from None


def resolve(conn: Connection, ref: str) -> tuple[str | None, list[str]]:
    """(the job id, []) for a full id or a unique prefix; (None, candidates) otherwise."""
    try:
        return str(uuid.UUID(ref)), []
    except ValueError:
        pass
    digits = ref.lower().replace("-", "")
    if not _HEX.match(digits):
        return None, []
    low, high = (str(uuid.UUID(digits.ljust(32, fill))) for fill in "0f")
    with conn.cursor() as cur:
        cur.execute(SQL["ids_in_range"], {"low": low, "high": high})
        found = [job_id for (job_id,) in cur.fetchall()]
    return (found[0], []) if len(found) == 1 else (None, found)


def job(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """Every field of a job, its attempts on a timeline, its error, output, and its insights:
    the executive summary and the others by rank, each with its chart and figures."""
    found = job_admin.show_job(conn, job_id)
    if found is None:
        return None
    attempts = found.get("attempts") or []
    error, output = present.split_output(found.get("error_message"))
    file_row = None
    if found.get("file_id"):
        with dict_cursor(conn) as cur:
            cur.execute(SQL["file_row"], {"id": found["file_id"]})
            row = cur.fetchone()
            file_row = row["file"] if row else None
    summary, ranked = insights.ranked(job_admin.job_insights(conn, job_id))
    return {
        "job": found,
        "fields": _fields(found),
        "attempts": attempts,
        "timeline": charts.timeline(attempts),
        "error": error,
        "output": output,
        "file": file_row,
        "summary": summary,
        "insights": ranked,
        "pipeline": pipeline.of_job(conn, job_id, found.get("batch_id")),
    }


@dataclass(frozen=True)
class Field:
    """One of a job's columns as its page shows it: a long text cut as `jobs show` cuts it."""

    name: str
    value: Any
    length: int = 0  # characters of the whole value when `value` is only its start


def _fields(job: dict[str, Any]) -> list[Field]:
    """The job's columns in the order `jobs show` prints them; the other columns follow."""
    names = dict(FIELDS)
    keys = [k for k, _ in FIELDS if k in job]
    keys += [k for k in job if k not in names and k not in SHOWN_ELSEWHERE]
    return [_field(names.get(k, k.replace("_", " ")), job[k]) for k in keys]


def _field(name: str, value: Any) -> Field:
    """A description of 50 MB is 300 characters and a link on the page, not 50 MB of HTML."""
    text = present.as_json(value) if isinstance(value, dict | list) else value
    if isinstance(text, str) and len(text) > SHORT:
        return Field(name, text[:SHORT], len(text))
    return Field(name, value)


def description(conn: Connection, job_id: str) -> str | None:
    """The job's whole business description; None when it has none."""
    with conn.cursor() as cur:
        cur.execute(SQL["description"], {"id": job_id})
        row = cur.fetchone()
    return row[0] if row else None


def supervisors(conn: Connection, cfg: Config) -> dict[str, Any]:
    """Every supervisor on every host with its runners, as `jobsup ps` shows them."""
    workers = report.workers(conn, cfg.supervisor.stale_after)
    return {"workers": workers, "states": _count_states(workers)}
