"""How `jobsup jobs list` and `jobsup jobs show` print a job for a person to read."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from supervisor.cli.common import first_line, progress_text, table
from supervisor.durations import human
from supervisor.ops.job_admin import FIELDS, SHORT, SHOWN_ELSEWHERE
from supervisor.ops.pipeline import progress_line

WIDTH = 96
_ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?")


def job_table(jobs: list[dict[str, Any]]) -> str:
    rows = [
        (
            j["id"], j["job_type"], j["status"], j["retry_count"],
            f"{human(j['age'])} ago", human(j["duration"]), progress_text(j.get("progress")),
            first_line(j["error"], 60),
        )
        for j in jobs
    ]  # fmt: skip
    headers = ("ID", "TYPE", "STATUS", "RETRIES", "CREATED", "RAN", "PROGRESS", "ERROR")
    return table(headers, rows)


def show(job: dict[str, Any], insights: list[dict[str, Any]], details: bool,
         around: dict[str, Any] | None = None) -> str:  # fmt: skip
    """The job's fields, its last error, its parents, children and batch (`around`:
    ops.pipeline.of_job), its attempts and its insights, as text."""
    parts = [f"job {job['id']}", _fields(job, details)]
    if job.get("error_message"):
        parts += ["", "last error:", textwrap.indent(job["error_message"].rstrip(), "  ")]
    parts += _pipeline(around or {}, job.get("parents_left") or 0)
    parts += ["", _attempts(job.get("attempts") or [])]
    parts += ["", steps_text(job.get("steps"), details)]
    parts += ["", insights_text(insights, details)]
    return "\n".join(parts)


def _pipeline(around: dict[str, Any], waiting: int) -> list[str]:
    """The job's batch, parents and children, each part only when there is one."""
    parts = []
    if around.get("batch"):
        batch = around["batch"]
        parts += ["", f"batch {batch['batch_id']}: {progress_line(batch)}"]
    if around.get("parents"):
        rows: list[tuple[Any, ...]] = [
            (p["id"], p["job_type"], p["status"], p["on_parent_failure"],
             first_line(p["error"], 60) or None) for p in around["parents"]
        ]  # fmt: skip
        head = f"parents ({waiting} not ended):" if waiting else "parents:"
        parts += ["", head + "\n" + table(
            ("ID", "TYPE", "STATUS", "IF IT FAILS", "ERROR"), rows, indent="  ")]  # fmt: skip
    if around.get("children"):
        rows = [(c["id"], c["job_type"], c["status"], c["parents_left"])
                for c in around["children"]]  # fmt: skip
        parts += ["", "children:\n" + table(
            ("ID", "TYPE", "STATUS", "WAITS FOR"), rows, indent="  ")]  # fmt: skip
    return parts


def _fields(job: dict[str, Any], details: bool) -> str:
    names = dict(FIELDS)
    keys = [k for k, _ in FIELDS if k in job]
    keys += [k for k in job if k not in names and k not in SHOWN_ELSEWHERE]
    values = [(k, _value(job[k])) for k in keys]
    rows = [(names.get(k, k.replace("_", " ")), v if details else _cut(v)) for k, v in values]
    if job.get("file_path"):
        rows.insert(1, ("file", f"{job['file_path']} ({job.get('original_name') or '-'})"))
        for n, path in enumerate(job.get("more_files") or (), start=2):
            rows.insert(n, (f"file {n}", path or "(no row in files)"))
    if job.get("worker_host"):
        owner = f"{job['worker_host']} pid {job['worker_pid']} ({job['worker_state']})"
        rows.append(("worker host", owner))
    if job.get("progress"):
        rows.append(("progress", progress_text(job["progress"])))
    rows.append(("insights", str(job["insights_count"])))
    return "\n".join(f"  {label:<12} {value}" for label, value in rows)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return _time(str(value))


def _cut(text: str) -> str:
    """A long value's start and its length (a description may be megabytes)."""
    if len(text) <= SHORT:
        return text
    return f"{text[:SHORT]}… ({len(text):,} characters; --details prints them all)"


def _time(text: str) -> str:
    """`2026-11-29T01:09:38.250932+00:00` → `2026-11-29 01:09:38+00:00`; other text as is."""
    return _ISO_TIME.sub(r"\1 \2", text)


def steps_text(steps: Any, details: bool) -> str:
    """The durable steps done (`job.step`): their names, and with `details` their results."""
    if not isinstance(steps, dict) or not steps:
        return "steps: none done"
    if not details:
        return f"steps done ({len(steps)}): {', '.join(steps)} (--details: their results)"
    lines = [f"steps done ({len(steps)}):"]
    for name, result in steps.items():
        lines.append(f"  {name}: {_cut(json.dumps(result, sort_keys=True))}")
    return "\n".join(lines)


def _attempts(attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return "attempts: none yet"
    rows = [
        (
            a.get("attempt"), a.get("outcome"), a.get("host"), a.get("pid"),
            _time(a.get("started") or "-"),
            a.get("seconds"), a.get("peak_memory_mb"), a.get("cpu_seconds"),
            first_line(a.get("error"), 60) or None,
        )
        for a in attempts
    ]  # fmt: skip
    headers = ("#", "OUTCOME", "HOST", "PID", "STARTED", "SECONDS", "PEAK MB", "CPU S", "ERROR")
    return "attempts:\n" + table(headers, rows, indent="  ")


def insights_text(insights: list[dict[str, Any]], details: bool) -> str:
    """A numbered list of `insights`: title, summary (and details), confidence."""
    if not insights:
        return "insights: none"
    lines = [f"insights ({len(insights)}):"]
    for n, insight in enumerate(insights, start=1):
        lines += _insight(n, insight, details)
    return "\n".join(lines)


def _insight(n: int, insight: dict[str, Any], details: bool) -> list[str]:
    content = insight["content"]
    score = insight.get("confidence_score")
    confidence = f" (confidence {score:.2f})" if score is not None else ""
    head = f"  {n}. [{insight.get('insight_type') or '-'}]"
    if not isinstance(content, dict) or "title" not in content:
        return [f"{head}{confidence} {json.dumps(content, sort_keys=True)}"]
    lines = [f"{head} {content['title']}{confidence}"]
    for paragraph in str(content.get("summary") or "").splitlines():
        lines += textwrap.wrap(paragraph, WIDTH, initial_indent="     ", subsequent_indent="     ")
    if details and content.get("details"):
        text = json.dumps(content["details"], indent=2, sort_keys=True, default=str)
        lines.append(textwrap.indent(text, "     "))
    return lines
