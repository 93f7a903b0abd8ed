"""`jobsup ps` and `jobsup stats`: what runs now, and how the queue has been doing."""

from __future__ import annotations

import time
from typing import Any

import click

from supervisor.cli import cli, config_option, database, json_option, load_config, print_json
from supervisor.cli.common import first_line, progress_text, table
from supervisor.durations import human
from supervisor.ops import report
from supervisor.scheduling import pauses

SUPERVISOR_HEADERS = ("HOST", "PID", "STATE", "SLOTS", "UPTIME", "HEARTBEAT", "VERSION", "ID")
RUNNER_HEADERS = ("JOB", "TYPE", "PID", "ELAPSED", "MEMORY MB", "PEAK MB", "CPU", "ATTEMPT",
                  "PROGRESS")  # fmt: skip
DASH = "\u2013"  # an en dash: a figure the supervisor has not sampled yet


@cli.command()
@config_option
@click.option("--host", help="Only the supervisors of this host.")
@click.option(
    "--all", "include_stopped", is_flag=True,
    help="Also those that stopped, and dead ones whose jobs were taken back.",
)  # fmt: skip
@click.option(
    "--watch",
    type=click.FloatRange(0.1, 86400),
    metavar="SECONDS",
    help="Print again every SECONDS until Ctrl-C.",
)
@json_option
def ps(host: str | None, include_stopped: bool, watch: float | None, as_json: bool) -> None:
    """Every supervisor and its runners, on every host.

    A supervisor whose heartbeat is older than [supervisor] stale_after, or on this host
    with its process gone, shows as dead while it holds jobs (until they are reclaimed; then
    only with --all), its uptime as at least its time to its last heartbeat. A job started
    since the last heartbeat shows at once, its figures as a dash until the next.
    """
    cfg = load_config()
    with database(cfg) as conn:

        def snapshot() -> list[dict[str, Any]]:
            return report.workers(conn, cfg.supervisor.stale_after, host, include_stopped)

        if watch is None:
            _print_ps(snapshot(), as_json)
            if not as_json:
                _print_paused(conn)
                _print_unserved(conn, cfg.supervisor.stale_after)
            return
        _watch(snapshot, watch, as_json)


def _print_paused(conn: Any) -> None:
    paused = [p.job_type for p in pauses.paused(conn)]
    if paused:
        shown = "every job type" if pauses.ALL in paused else ", ".join(paused)
        click.echo(f"paused: {shown} (`jobsup resume` lets them be claimed again)")


def _print_unserved(conn: Any, stale_after: float) -> None:
    found = report.unserved(conn, stale_after)
    if found:
        click.echo(f"not served by any live supervisor: {report.unserved_line(found)}")


def _watch(snapshot: Any, seconds: float, as_json: bool) -> None:
    """Print `snapshot()` every `seconds` until interrupted (JSON: one document a line)."""
    try:
        while True:
            found = snapshot()
            if as_json:
                print_json(found, indent=None)
            else:
                click.clear()
                click.echo(f"every {seconds:g} s, {time.strftime('%H:%M:%S')}  (Ctrl-C to stop)")
                _print_ps(found, as_json=False)
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass


def _print_ps(workers: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(workers)
        return
    if not workers:
        click.echo("no supervisors registered (`jobsup start` starts one)")
        return
    lines = table(SUPERVISOR_HEADERS, [_supervisor_row(w) for w in workers]).split("\n")
    click.echo(lines[0])
    for line, worker in zip(lines[1:], workers, strict=True):
        click.echo(line)
        if worker["runners"]:
            rows = [_runner_row(r) for r in worker["runners"]]
            click.echo(table(RUNNER_HEADERS, rows, indent="    "))
    click.echo(_ps_summary(workers))


def _supervisor_row(w: dict[str, Any]) -> tuple[Any, ...]:
    return (
        w["host"], w["pid"], w["state"], f"{w['running']}/{w['slots']}", report.uptime_text(w),
        f"{human(w['heartbeat_age'])} ago", w["version"], w["id"],
    )  # fmt: skip


def _runner_row(r: dict[str, Any]) -> tuple[Any, ...]:
    """A held job's row: figures from the last heartbeat, DASH for a job started since."""
    rss, limit = r.get("rss_mb"), r.get("memory_limit_mb")
    memory = DASH if rss is None else f"{rss}/{limit}" if limit else str(rss)
    if rss is not None and r.get("memory_metric", "rss") != "rss":  # pss or uss: say which
        memory += f" {r['memory_metric']}"
    cpu = DASH if r.get("cpu_percent") is None else f"{r['cpu_percent']:.0f}%"
    attempt = f"{r.get('attempt', '?')}/{r.get('max_attempts') or DASH}"
    return (
        r.get("job_id"), r.get("job_type"), r.get("pid") or DASH, human(r.get("elapsed")),
        memory, _or_dash(r.get("peak_rss_mb")), cpu, attempt,
        progress_text(r.get("progress"), DASH),
    )  # fmt: skip


def _or_dash(value: Any) -> Any:
    return DASH if value is None else value


def _ps_summary(workers: list[dict[str, Any]]) -> str:
    live = [w for w in workers if w["state"] in ("running", "draining")]
    busy = sum(len(w["runners"]) for w in live)
    states: dict[str, int] = {}
    for w in workers:
        states[w["state"]] = states.get(w["state"], 0) + 1
    counted = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    total = sum(w["slots"] for w in live)
    return f"{len(workers)} supervisors ({counted}); {busy}/{total} slots busy"


@cli.command()
@config_option
@click.option(
    "--hours", type=click.IntRange(1, 24 * 3660), default=24, help="Report on the last HOURS."
)
@json_option
def stats(hours: int, as_json: bool) -> None:
    """Jobs by status and retry count, throughput per hour, durations per type, failures,
    paused job types, those no live supervisor serves, and the rate limits."""
    cfg = load_config()
    with database(cfg) as conn:
        found = report.stats(conn, hours, cfg.supervisor.stale_after)
    if as_json:
        print_json(found)
    else:
        click.echo(_stats_text(found))


def _stats_text(found: dict[str, Any]) -> str:
    hours = found["hours"]
    sections = [
        _section(
            "jobs by status and retry count (all time)",
            ("STATUS", "RETRIES", "JOBS"),
            [(c["status"], c["retry_count"], c["jobs"]) for c in found["counts"]],
        ),
        _section(
            f"throughput, last {hours} h (jobs ended per hour)",
            ("HOUR", "COMPLETED", "FAILED"),
            [(f"{h['hour']:%Y-%m-%d %H:00}", h["completed"], h["failed"])
             for h in found["throughput"]],
        ),
        _section(
            f"duration per job type, last {hours} h (completed jobs, last attempt)",
            ("TYPE", "JOBS", "MEDIAN", "P95", "LONGEST"),
            [(d["job_type"], d["jobs"], human(d["median"]), human(d["p95"]), human(d["longest"]))
             for d in found["durations"]],
        ),
        _section(
            f"failures, last {hours} h, by first line of the error (numbers and ids as <n>, <id>)",
            ("JOBS", "LAST", "REASON", "EXAMPLE"),
            [(f["jobs"], f"{f['last']:%Y-%m-%d %H:%M}", first_line(f["reason"], 60),
              first_line(f["example"], 60) if f["example"] != f["reason"] else "")
             for f in found["failures"]],
        ),
        _section(
            "paused job types (no supervisor claims them until `jobsup resume`)",
            ("TYPE", "SINCE", "BY"),
            [(p["job_type"], f"{p['paused_at']:%Y-%m-%d %H:%M}", p["paused_by"])
             for p in found["paused"]],
        ),
        _section(
            "job types no live supervisor serves (their jobs wait pending for one that does)",
            ("TYPE", "PENDING", "OLDEST"),
            [(u["job_type"], u["jobs"], human(u["oldest_age"])) for u in found["unserved"]],
        ),
        _section(
            "rate limits ([job_types.<name>] rate_limit; WAITING: runnable jobs held back now)",
            ("TYPE", "LIMIT", "STARTED", "WAITING", "ROOM IN"),
            [(r["job_type"], r["limit"], r["started"],
              r["waiting"], human(r["reopens_in"]) if r["reopens_in"] else "now")
             for r in found["rate_limits"]],
        ),
    ]  # fmt: skip
    return "\n\n".join(sections)


def _section(title: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    return f"{title}\n{table(headers, rows, indent='  ') if rows else '  none'}"
