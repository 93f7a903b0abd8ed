"""Periodic schedules on a fake clock: their slots, which are due, and their configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor import config
from supervisor.errors import ConfigError
from supervisor.scheduling import periodic
from supervisor.scheduling.periodic import Schedule, Timetable, due

pytestmark = pytest.mark.unit


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


EVERY_10M = Schedule("ten", every=600)
WEEKDAYS_6 = Schedule("morning", cron="0 6 * * 1-5", timezone="Europe/Paris")


def test_every_slots_are_multiples_of_the_duration_since_the_epoch() -> None:
    now = at("2026-12-01T12:34:56")
    assert EVERY_10M.latest(now) == at("2026-12-01T12:30:00")
    assert EVERY_10M.after(now) == at("2026-12-01T12:40:00")
    assert EVERY_10M.latest(at("2026-12-01T12:30:00")) == at("2026-12-01T12:30:00")
    assert EVERY_10M.after(at("2026-12-01T12:30:00")) == at("2026-12-01T12:40:00")
    assert EVERY_10M.before(now, 2) == [at("2026-12-01T12:20:00"), at("2026-12-01T12:30:00")]
    assert Schedule("d", every=86400).latest(now) == at("2026-12-01T00:00:00")


def test_cron_slots_follow_the_time_zone_and_its_daylight_saving() -> None:
    # Tuesday 1 Dec 2026: 06:00 in Paris is 05:00 UTC (CET, +1)
    now = at("2026-12-01T12:00:00")
    assert WEEKDAYS_6.latest(now) == at("2026-12-01T05:00:00")
    assert WEEKDAYS_6.after(now) == at("2026-12-02T05:00:00")
    # Friday evening: the next is Monday
    assert WEEKDAYS_6.after(at("2026-12-04T18:00:00")) == at("2026-12-07T05:00:00")
    # summer time (CEST, +2)
    assert WEEKDAYS_6.latest(at("2026-07-01T12:00:00")) == at("2026-07-01T04:00:00")
    assert WEEKDAYS_6.latest(at("2026-12-01T05:00:00")) == at("2026-12-01T05:00:00")
    assert WEEKDAYS_6.before(now, 2) == [at("2026-11-30T05:00:00"), at("2026-12-01T05:00:00")]


def test_the_unique_key_names_the_schedule_and_the_slot_in_utc() -> None:
    slot = WEEKDAYS_6.latest(at("2026-12-01T12:00:00"))
    assert WEEKDAYS_6.key(slot) == "periodic:morning:2026-12-01T05:00:00Z"


def test_only_the_latest_slot_since_watching_is_due() -> None:
    since = at("2026-12-01T12:05:00")
    # nothing fell since the supervisor began watching: the 12:00 slot was missed, not due
    assert due(EVERY_10M, None, since, at("2026-12-01T12:09:59")) == []
    assert due(EVERY_10M, None, since, at("2026-12-01T12:10:00")) == [at("2026-12-01T12:10:00")]
    # already enqueued (by this supervisor or a peer): nothing
    last = at("2026-12-01T12:10:00")
    assert due(EVERY_10M, last, since, at("2026-12-01T12:15:00")) == []
    # several fell (the database was unreachable): only the latest
    assert due(EVERY_10M, last, since, at("2026-12-01T12:45:00")) == [at("2026-12-01T12:40:00")]


def test_backfill_enqueues_at_most_the_last_n_missed_slots() -> None:
    schedule = Schedule("ten", every=600, backfill=3)
    since = at("2026-12-01T12:05:00")
    last = at("2026-12-01T10:00:00")  # the last slot anyone enqueued, before every host went
    assert due(schedule, last, since, since) == [
        at("2026-12-01T11:40:00"), at("2026-12-01T11:50:00"), at("2026-12-01T12:00:00")
    ]  # fmt: skip
    # fewer missed than backfill: only those after the last one enqueued
    assert due(schedule, at("2026-12-01T11:50:00"), since, since) == [at("2026-12-01T12:00:00")]
    # and with the current slot when it falls
    assert due(schedule, at("2026-12-01T12:00:00"), since, at("2026-12-01T12:10:01")) == [
        at("2026-12-01T12:10:00")
    ]


def test_a_timetable_keeps_the_watch_of_unchanged_schedules_on_reload() -> None:
    first = at("2026-12-01T12:00:00")
    table = Timetable([EVERY_10M, WEEKDAYS_6], first)
    later = first + timedelta(hours=1)
    changed = Schedule("morning", cron="0 7 * * 1-5", timezone="Europe/Paris")
    table.reload([EVERY_10M, changed], later)
    assert dict((s.name, since) for s, since in table.entries()) == {
        "ten": first, "morning": later
    }  # fmt: skip
    assert table.seconds_to_next(at("2026-12-01T13:05:00")) == pytest.approx(300.01)
    assert Timetable([], first).seconds_to_next(first) is None


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return config.load(path)


def test_schedules_load_from_the_configuration(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
[periodic.report]
cron = "30 2 * * *"
timezone = "Europe/Paris"
description = "Nightly"
file = "/srv/sales.csv"
metadata = { source = "nightly", n = 2 }
priority = 5
backfill = 2
[periodic.tick]
every = "15m"
""")  # fmt: skip
    report, tick = cfg.periodic["report"], cfg.periodic["tick"]
    assert (report.cron, report.timezone, report.job_type) == (
        "30 2 * * *",
        "Europe/Paris",
        "analysis",
    )
    assert (report.file, report.description, report.priority, report.backfill) == (
        "/srv/sales.csv", "Nightly", 5, 2
    )  # fmt: skip
    assert report.metadata == {"source": "nightly", "n": 2}
    assert tick.every == 900 and tick.when == "every 15m00s"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('every = "10m"\ncron = "* * * * *"', 'give either every = "10m" or cron'),
        ("", 'give either every = "10m" or cron'),
        ('every = "soon"', "[periodic.p] every: 'soon': expected a number and a unit"),
        ('every = "0.5s"', "every: expected a whole number of seconds, at least 1"),
        ('cron = "61 * * * *"', "[periodic.p] cron: Bad minute in '61 * * * *'"),
        ('cron = "* * * * * *"', "cron: expected 5 fields"),
        ('cron = "0 6 * * *"\ntimezone = "Mars/Olympus"', "timezone: unknown time zone 'Mars/Olympus'"),
        ('every = "1m"\njob_type = "nope"', "[periodic.p] job_type: no job type 'nope' is configured"),
        ('every = "1m"\nbackfill = -1', "backfill: expected an integer from 0 to 1000, got -1"),
        ('every = "1m"\npriority = "high"', "priority: expected an integer"),
        ('every = "1m"\nmetadata = "x"', "metadata: expected a table"),
        ('every = "1m"\nmetadata = { at = 2026-01-01 }', "metadata: not JSON"),
        ('every = "1m"\nevry = 1', "[periodic.p] unknown key 'evry'"),
    ],
)  # fmt: skip
def test_a_bad_schedule_stops_start_up_with_one_line(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[periodic.p]\n{table}\n")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_schedule_name_goes_into_keys_so_it_is_plain(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        load(tmp_path, '[periodic."a:b"]\nevery = "1m"\n')


def test_iso_is_utc_to_the_second() -> None:
    assert periodic.iso(datetime(2026, 12, 1, 7, 0, 0, 123, tzinfo=UTC)) == "2026-12-01T07:00:00Z"
