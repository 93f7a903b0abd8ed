"""Periodic jobs: `[periodic.<name>]` schedules, and which of their slots are due.

Pure logic on an explicit clock (tests hand it a fake one); the database side, where each
slot is enqueued exactly once, is `scheduling/periodic_store.py`.

A schedule's slots are the same on every host: `every` slots are whole multiples of the
duration since the Unix epoch (UTC), so `every = "1d"` falls at midnight UTC; `cron` slots
are those of a 5-field cron expression in `timezone` (cronsim does the calendar and the
daylight-saving changes). A slot is due once the clock has passed it. A supervisor enqueues
only the latest due slot, and only one that fell while it was watching the schedule: slots
missed while no supervisor served it are skipped, except that `backfill = N` enqueues up
to the last N of them when a supervisor starts watching.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from supervisor import durations
from supervisor.errors import ConfigError, JobsupError

KEYS = ("every", "cron", "timezone", "job_type", "file", "description", "metadata", "priority",
        "backfill")  # fmt: skip
NAME = re.compile(r"[A-Za-z0-9_.-]+")
MAX_BACKFILL = 1000
INT4 = 2**31 - 1
TINY = timedelta(microseconds=1)
WAKE_MARGIN = 0.01  # seconds past a slot to wake at: a timer a little early finds it due


@dataclass(frozen=True)
class Schedule:
    """One `[periodic.<name>]` table: when, and the job each slot enqueues."""

    name: str
    every: float = 0.0  # seconds between slots; 0: `cron` says when
    cron: str = ""
    timezone: str = "UTC"
    job_type: str = "analysis"
    file: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0
    backfill: int = 0

    @property
    def when(self) -> str:
        """`every 10m` or `cron 0 6 * * 1-5 (Europe/Paris)`, for people."""
        if self.every:
            return f"every {durations.human(self.every)}"
        return f"cron {self.cron}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")

    def latest(self, now: datetime) -> datetime:
        """The last slot at or before `now` (UTC)."""
        if self.every:
            return _epoch(math.floor(now.timestamp() / self.every) * self.every)
        return next(self._cron(now + TINY, reverse=True)).astimezone(UTC)

    def after(self, moment: datetime) -> datetime:
        """The first slot after `moment` (UTC)."""
        if self.every:
            return _epoch((math.floor(moment.timestamp() / self.every) + 1) * self.every)
        return next(self._cron(moment, reverse=False)).astimezone(UTC)

    def before(self, moment: datetime, count: int) -> list[datetime]:
        """The last `count` slots before `moment`, oldest first."""
        slots: list[datetime] = []
        if self.every:
            last = self.latest(moment - TINY)
            slots = [last - timedelta(seconds=self.every * i) for i in range(count)]
        else:
            cron = self._cron(moment, reverse=True)
            slots = [next(cron).astimezone(UTC) for _ in range(count)]
        return sorted(slots)

    def key(self, slot: datetime) -> str:
        """The unique key of the job for `slot`: `periodic:<name>:2026-12-01T06:00:00Z`."""
        return f"periodic:{self.name}:{iso(slot)}"

    def _cron(self, moment: datetime, reverse: bool) -> Iterator[datetime]:
        return iter(CronSim(self.cron, moment.astimezone(ZoneInfo(self.timezone)), reverse))


def due(
    schedule: Schedule, last: datetime | None, since: datetime, now: datetime
) -> list[datetime]:
    """The slots of `schedule` to enqueue at `now`, oldest first.

    `last`: the last slot enqueued by anyone (None: never); `since`: when this supervisor
    began to watch the schedule. The latest slot counts only if it fell since then; before
    that, `backfill` slots at most.
    """
    slots = schedule.before(since, schedule.backfill) if schedule.backfill else []
    latest = schedule.latest(now)
    if latest >= since:
        slots.append(latest)
    return [s for s in sorted(set(slots)) if last is None or s > last]


def next_wake(schedules: Iterable[Schedule], now: datetime) -> datetime | None:
    """The first slot after `now` among `schedules` (None: no schedule)."""
    return min((s.after(now) for s in schedules), default=None)


class Timetable:
    """The schedules a supervisor serves, each with the time it began watching it."""

    def __init__(self, schedules: Sequence[Schedule], now: datetime) -> None:
        self.watched: dict[str, tuple[Schedule, datetime]] = {}
        self.reload(schedules, now)

    def reload(self, schedules: Sequence[Schedule], now: datetime) -> None:
        """Serve `schedules` from now on; a schedule that did not change keeps its watch."""
        old = self.watched
        self.watched = {
            s.name: (s, old[s.name][1] if s.name in old and old[s.name][0] == s else now)
            for s in schedules
        }

    def shift(self, delta: timedelta) -> None:
        """Move every watch's start by `delta` (from a host's clock to the database's)."""
        self.watched = {n: (s, since + delta) for n, (s, since) in self.watched.items()}

    def entries(self) -> list[tuple[Schedule, datetime]]:
        return list(self.watched.values())

    def seconds_to_next(self, now: datetime) -> float | None:
        """Seconds from `now` until just after the next slot (None: no schedule)."""
        wake = next_wake((s for s, _ in self.watched.values()), now)
        return None if wake is None else (wake - now).total_seconds() + WAKE_MARGIN


def iso(moment: datetime) -> str:
    """`2026-12-01T06:00:00Z`: a slot in ISO 8601, UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- configuration --------------------------------------------------------------------------


def build(tables: Mapping[str, Any], where: str) -> dict[str, Schedule]:
    """The schedules of the `[periodic]` tables, or ConfigError naming the key at fault."""
    schedules = {}
    for name, table in tables.items():
        label = f"{where}: [periodic.{name}]"
        if not NAME.fullmatch(name):
            raise ConfigError(f"{label}: a schedule's name may hold letters, digits, '_.-' only")
        if not isinstance(table, dict):
            raise ConfigError(f"{label} must be a table, got {type(table).__name__}")
        schedules[name] = _schedule(name, table, label)
    return schedules


def _schedule(name: str, table: Mapping[str, Any], label: str) -> Schedule:
    unknown = [k for k in table if k not in KEYS]
    if unknown:
        raise ConfigError(f"{label} unknown key '{unknown[0]}' (keys: {', '.join(KEYS)})")
    if ("every" in table) == ("cron" in table):
        raise ConfigError(f'{label}: give either every = "10m" or cron = "0 6 * * 1-5"')
    schedule = Schedule(
        name=name,
        every=_every(table["every"], label) if "every" in table else 0.0,
        cron=_text(table, "cron", label) or "",
        timezone=_text(table, "timezone", label) or "UTC",
        job_type=_text(table, "job_type", label) or "analysis",
        file=_text(table, "file", label),
        description=_text(table, "description", label),
        metadata=_metadata(table.get("metadata", {}), label),
        priority=_integer(table, "priority", label, -INT4 - 1, INT4),
        backfill=_integer(table, "backfill", label, 0, MAX_BACKFILL),
    )
    _check_calendar(schedule, label)
    return schedule


def _every(value: Any, label: str) -> float:
    try:
        seconds = durations.parse(value) if isinstance(value, str) else None
    except JobsupError as e:
        raise ConfigError(f"{label} every: {e}") from None
    if seconds is None or seconds < 1 or seconds != int(seconds):
        raise ConfigError(f'{label} every: expected a whole number of seconds, at least 1, '
                          f'such as "30s", "15m", "2h", "1d", got {value!r}')  # fmt: skip
    return seconds


def _check_calendar(schedule: Schedule, label: str) -> None:
    try:
        zone = ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{label} timezone: unknown time zone {schedule.timezone!r} (e.g. 'Europe/Paris')"
        ) from None
    if schedule.every:
        return
    if len(schedule.cron.split()) != 5:
        raise ConfigError(f"{label} cron: expected 5 fields (minute hour day month weekday), "
                          f"got {schedule.cron!r}")  # fmt: skip
    try:
        CronSim(schedule.cron, datetime.now(zone))
    except CronSimError as e:
        raise ConfigError(f"{label} cron: {e} in {schedule.cron!r}") from None


def _text(table: Mapping[str, Any], key: str, label: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{label} {key}: expected a string, got {value!r}")
    return value


def _integer(table: Mapping[str, Any], key: str, label: str, least: int, most: int) -> int:
    value = table.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise ConfigError(f"{label} {key}: expected an integer from {least} to {most}, "
                          f"got {value!r}")  # fmt: skip
    return value


def _metadata(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{label} metadata: expected a table, got {value!r}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{label} metadata: not JSON ({e}): use strings for dates") from None
    return dict(value)
