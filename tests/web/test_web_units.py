"""The dashboard's pure parts: tokens, sessions and CSRF, the listen check, chart geometry,
how values read, the jobs list's cursor and filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from supervisor import config
from supervisor.config import WebConfig
from supervisor.errors import ConfigError
from supervisor.listen import check_listen, is_loopback
from supervisor.web import charts, insight_charts, insights, pages, present
from supervisor.web.security import Guard

pytestmark = pytest.mark.unit


def test_a_session_is_signed_expires_and_ends_with_the_token() -> None:
    guard = Guard("s3cret")
    session = guard.new_session(now=1000.0)
    assert "s3cret" not in session and "s3cret" not in repr(guard)
    assert guard.signed_in(session, now=1001.0)
    assert not guard.signed_in(session, now=1000.0 + 13 * 3600)  # expired
    assert not guard.signed_in(
        session.replace(session[-1], "x" if session[-1] != "x" else "y"), now=1001.0
    )
    expiry, _, signature = session.partition(".")
    assert not guard.signed_in(f"{int(expiry) + 1000}.{signature}", now=1001.0)  # a later expiry
    assert not Guard("other", guard.secret).signed_in(session, now=1001.0)  # the token changed
    assert not Guard("s3cret").signed_in(session, now=1001.0)  # another process (restart)
    assert not Guard(None).signed_in(session, now=1001.0)
    assert not guard.signed_in("", now=1001.0) and not guard.signed_in("abc", now=1001.0)


def test_tokens_and_csrf_compare_exactly() -> None:
    guard = Guard("s3cret")
    assert (
        guard.token_matches("s3cret")
        and not guard.token_matches("s3cre")
        and not guard.token_matches("")
    )
    assert not Guard(None).token_matches("")
    field = guard.csrf_token("cookie-value")
    assert guard.csrf_matches("cookie-value", field)
    assert not guard.csrf_matches("other-cookie", field)
    assert not guard.csrf_matches("cookie-value", None) and not guard.csrf_matches(None, field)
    assert not Guard("s3cret").csrf_matches("cookie-value", field)  # another secret


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.org", False), ("", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_listen_check() -> None:
    web = WebConfig()
    assert check_listen("127.0.0.1:8080", web, None) == ("127.0.0.1", 8080)
    assert check_listen("[::1]:8080", web, None) == ("::1", 8080)
    assert check_listen("0.0.0.0:8080", web, "t" * 16) == ("0.0.0.0", 8080)
    with pytest.raises(
        ConfigError,
        match=r"^\[web\] listen :8080: not a loopback address and \$JOBSUP_WEB_TOKEN is unset",
    ):
        check_listen(":8080", web, None)
    with pytest.raises(ConfigError, match=r"\$OPS_TOKEN is unset"):
        check_listen("192.0.2.1:80", WebConfig(token_env="OPS_TOKEN"), None)
    with pytest.raises(
        ConfigError, match=r"^\[web\] listen: expected HOST:PORT, e.g. 127.0.0.1:8080, got 'nope'$"
    ):
        check_listen("nope", web, "token")


def test_a_short_token_is_refused_beyond_loopback_only() -> None:
    web = WebConfig()
    with pytest.raises(ConfigError) as refused:
        check_listen("0.0.0.0:8080", web, "abc")
    assert str(refused.value) == (
        "[web] listen 0.0.0.0:8080: $JOBSUP_WEB_TOKEN is 3 characters, too short to guard a "
        "non-loopback address: use at least 16 (`openssl rand -hex 16` makes 32), or listen "
        "on 127.0.0.1"
    )
    with pytest.raises(ConfigError, match=r"is 15 characters"):
        check_listen("[::]:8080", web, "x" * 15)
    assert check_listen("127.0.0.1:8080", web, "abc") == ("127.0.0.1", 8080)  # loopback: any


@pytest.mark.parametrize("refresh", ["0", "0.1"])
def test_a_web_refresh_below_half_a_second_is_refused(tmp_path: Path, refresh: str) -> None:
    path = tmp_path / "jobsup.toml"
    path.write_text(f"[web]\nrefresh = {refresh}\n")
    with pytest.raises(ConfigError) as refused:
        config.load(path)
    assert str(refused.value) == (
        f"{path}: [web] refresh: must be at least 0.5, got {float(refresh):g} (a live page "
        "fetched more often only loads the database)"
    )
    path.write_text("[web]\nrefresh = 0.5\n")
    assert config.load(path).web.refresh == 0.5


def test_throughput_bars_stack_failed_on_completed() -> None:
    hours = [
        {"hour": datetime(2026, 1, 1, h), "completed": h, "failed": 1 if h == 3 else 0}
        for h in range(24)
    ]
    chart = charts.throughput(hours)
    completed = [r for r in chart.rects if r.kind == "completed"]
    failed = [r for r in chart.rects if r.kind == "failed"]
    assert len(completed) == len(failed) == 24
    tallest = completed[23]
    assert tallest.h == pytest.approx(charts.HEIGHT) and tallest.y == pytest.approx(
        0.0
    )  # 23 is the top
    assert failed[3].y + failed[3].h == pytest.approx(completed[3].y)  # on top of its hour's bar
    assert completed[0].h == 0 and failed[3].title == "03:00: 3 completed, 1 failed"
    assert [label.text for label in chart.labels][:4] == ["00:00", "06:00", "12:00", "18:00"]
    assert charts.throughput([{"hour": datetime(2026, 1, 1), "completed": 0, "failed": 0}]).empty


def test_duration_bars_share_one_scale() -> None:
    chart = charts.durations([
        {"job_type": "a", "jobs": 3, "median": 1.0, "p95": 10.0},
        {"job_type": "b", "jobs": 1, "median": 2.0, "p95": 5.0},
    ])  # fmt: skip
    p95 = [r for r in chart.rects if r.kind == "p95"]
    median = [r for r in chart.rects if r.kind == "median"]
    assert p95[0].w == pytest.approx(2 * p95[1].w)
    assert median[0].w == pytest.approx(p95[0].w / 10)
    assert charts.durations([]).empty


def test_shares_and_timeline() -> None:
    chart = charts.shares({"completed": 3, "failed": 1, "pending": 0})
    assert [(r.kind, r.w) for r in chart.rects] == [("completed", 750.0), ("failed", 250.0)]
    line = charts.timeline([
        {"attempt": 1, "outcome": "retry", "started": "2026-01-01T00:00:00+00:00", "seconds": 10},
        {"attempt": 2, "outcome": "completed", "started": "2026-01-01T00:00:30+00:00", "seconds": 10},
        {"attempt": 3, "outcome": "retry", "error": "reclaimed: its supervisor died"},  # never ran here
    ])  # fmt: skip
    assert [(r.kind, r.x, r.w) for r in line.rects] == [
        ("retry", 0.0, 250.0),
        ("completed", 750.0, 250.0),
    ]
    assert charts.timeline([{"attempt": 1, "outcome": "failed"}]).empty


def test_values_read_as_a_person_wants() -> None:
    assert [present.figure(v) for v in (1234, 12.345, 3.14159, 0.01234, 1e6 + 0.5, None, True)] == [
        "1,234", "12.3", "3.14", "0.0123", "1,000,000.5", "-", "True"]  # fmt: skip
    assert (
        present.label("change_pct") == "change pct" and present.label("peakMemory") == "peak memory"
    )
    assert present.short_id("1f64f4c9-4880-4e24-ae8a-4fe77429b723") == "1f64f4c9"
    assert present.split_output("Boom\nTraceback\n--- last output ---\nline 1\n") == (
        "Boom\nTraceback",
        "line 1",
    )
    assert present.split_output(None) == ("", "")
    assert present.when("2026-11-29T01:09:38.250932+00:00") == "2026-11-29 01:09:38"


def test_insight_details_become_lines_and_tables() -> None:
    entries = present.details({
        "rows": 4273, "files": ["sales.csv"], "segment": None,
        "measures": [{"measure": "revenue", "z": 6.57}, {"measure": "quantity", "z": 5.14, "extra": 1}],
        "points": [["2024-12-30", 2797.99, 1073.44]] * 20,
        "thresholds": {"alpha": 0.05, "deeper": {"deepest": {"x": 1}}},
    })  # fmt: skip
    by = {e.label: e for e in entries}
    assert (
        by["rows"].text == "4,273" and by["files"].text == "sales.csv" and by["segment"].text == "-"
    )
    table = by["measures"].table
    assert table is not None and table.headers == ["measure", "z", "extra"]
    assert table.rows == [["revenue", "6.57", "-"], ["quantity", "5.14", "1"]]
    points = by["points"].table
    assert points is not None and len(points.rows) == present.MAX_ROWS and points.more == 8
    assert by["thresholds"].entries[0].text == "0.05"
    assert present.details("just text")[0].text == "just text"


def test_the_jobs_cursor_round_trips_and_bad_parameters_are_named() -> None:
    stamp = datetime(2026, 11, 29, 1, 9, 38, 250932)
    job_id = "1f64f4c9-4880-4e24-ae8a-4fe77429b723"
    assert pages.parse_cursor(pages.cursor_of(stamp, job_id)) == (stamp, job_id)
    assert pages.parse_cursor("") is None
    for bad in ("nonsense", "2026-11-29T01:09:38_notauuid", f"yesterday_{job_id}"):
        with pytest.raises(pages.BadRequest, match="not a cursor of this list"):
            pages.parse_cursor(bad)
    query = pages.JobQuery.from_params({"status": "failed", "q": " revenue ", "since": "2h"})
    filters = query.filters()
    assert (filters.status, filters.text, filters.since, filters.limit) == (
        "failed",
        "revenue",
        7200.0,
        pages.PAGE + 1,
    )
    assert query.link(after="x") == "status=failed&q=revenue&since=2h&after=x"
    with pytest.raises(pages.BadRequest, match=r"^status 'done': choose one of pending"):
        pages.JobQuery(status="done").filters()
    with pytest.raises(pages.BadRequest, match=r"^since '2x': expected a number and a unit"):
        pages.JobQuery(since="2x").filters()


def test_an_insights_chart_is_drawn_from_the_figures_its_details_carry() -> None:
    values = [[f"2024-01-{d:02d}", float(d)] for d in range(1, 11)]
    drawn = insight_charts.draw("trend", {"measure": "revenue", "grain": "day", "values": values,
                                          "fitted_start": 1.0, "fitted_end": 10.0})  # fmt: skip
    assert drawn is not None and drawn.title.startswith("revenue per day, 2024-01-01 to")
    series, fit = drawn.chart.lines
    assert (series.kind, fit.kind) == ("series", "fit") and len(series.points) == 10
    assert series.points == fit.points  # the fit of a straight series is the series
    grown = insight_charts.draw("trend", {"values": values, "fitted_start": 1.0,
                                          "fitted_end": 100.0, "model": "exponential"})  # fmt: skip
    assert grown is not None
    ys = [y for _, y in grown.chart.lines[1].points]
    assert ys[0] - ys[1] < ys[-2] - ys[-1]  # geometric: it rises faster at the end
    week = insight_charts.draw("seasonality", {"part": "weekday", "peak": 1, "trough": 6,
        "levels": [{"equals": d, "value": 10.0 - d} for d in range(1, 8)]})  # fmt: skip
    assert week is not None
    assert [r.kind for r in week.chart.rects] == ["high", "bar", "bar", "bar", "bar", "low", "bar"]
    assert [label.text for label in week.chart.labels][:7] == list(insight_charts.WEEKDAYS)
    segments = insight_charts.draw("segment_comparison", {"basis": "rows", "best": "a",
        "segments": [{"segment": "a", "rows": 30, "row_share": 0.75, "average": 1.0},
                     {"segment": "b", "rows": 10, "row_share": 0.25, "average": 1.0}]})  # fmt: skip
    assert segments is not None
    a, b = segments.chart.rects
    assert a.w == pytest.approx(3 * b.w) and a.kind == "high"
    assert "30 rows (75.0%)" in [label.text for label in segments.chart.labels]
    spike = insight_charts.draw("anomaly", {"measure": "revenue", "measures": [
        {"measure": "revenue", "points": [["2024-06-21", 300.0, 100.0]]}]})  # fmt: skip
    assert spike is not None and [r.kind for r in spike.chart.rects] == ["spike"]
    assert spike.chart.lines[0].kind == "expected"
    assert spike.chart.lines[0].points[0][1] > spike.chart.rects[0].y  # the usual level is lower
    link = insight_charts.draw("correlation", {"r": -0.5, "r_within": 0.25, "columns": ["x", "y"],
                                               "within_segment": "region"})  # fmt: skip
    assert link is not None and [r.kind for r in link.chart.rects] == ["negative", "positive"]
    assert link.chart.rects[0].w == pytest.approx(2 * link.chart.rects[1].w)


def test_a_growth_between_two_windows_is_drawn_over_its_series() -> None:
    """A trend that states its growth as the level of its first and last windows (not a fit)."""
    values = [[f"2024-{m:02d}-01", float(m)] for m in range(1, 13)]
    drawn = insight_charts.draw("trend", {"values": values, "aggregation": "sum", "grain": "month",
        "window": 3, "observed_from": 6.0, "observed_to": 33.0})  # fmt: skip
    assert drawn is not None and [line.kind for line in drawn.chart.lines] == [
        "series", "window", "window"]  # fmt: skip
    series, first, last = drawn.chart.lines
    assert first.points[0][1] == pytest.approx(series.points[1][1])  # 6 over 3 months: 2 a month
    assert last.points[0][1] == pytest.approx(series.points[10][1])  # 33 over 3: 11
    assert (first.points[0][0], last.points[1][0]) == (series.points[0][0], series.points[-1][0])
    assert first.title == "6 in the first 3 months" and "bold: the level" in drawn.note
    averaged = insight_charts.draw("trend", {"values": values, "aggregation": "mean",
        "window": 3, "observed_from": 2.0, "observed_to": 11.0})  # fmt: skip
    assert averaged is not None
    assert averaged.chart.lines[1].points[0][1] == pytest.approx(series.points[1][1])


@pytest.mark.parametrize("kind", [*insight_charts.DRAWERS, "drawdown", "something new"])
def test_details_of_an_unforeseen_shape_draw_no_chart_and_never_fail(kind: str) -> None:
    strange: list[object] = [
        {}, None, [], "text", {"values": "no"}, {"values": [[1], ["a", "b"], None]},
        {"levels": [{"equals": 1}], "segments": [1, 2]}, {"measures": [{"points": [[1, 2]]}]},
        {"r": "high"}, {"r": float("nan")}, {"segments": [{"segment": "a", "average": True}] * 3},
        {"values": [["a", 1e308], ["b", -1e308]], "fitted_start": 0, "fitted_end": 0},
    ]  # fmt: skip
    for details in strange:
        drawn = insight_charts.draw(kind, details)
        assert drawn is None or drawn.chart.rects or drawn.chart.lines


def test_insights_are_ranked_with_the_summary_first_and_their_figures_described() -> None:
    def row(kind: str, rank: int | None, **details: object) -> dict[str, object]:
        content = {"title": f"{kind} {rank}", "summary": "s", "details": {"rank": rank, **details}}
        return {"insight_type": kind, "content": content, "confidence_score": 0.9}

    highlights = [{"rank": 2, "title": "second"}, {"rank": 9, "title": "not on the page"}]
    rows = [row("kpi", 3), row("trend", 1), row("summary", None, highlights=highlights),
            row("new kind", None), {"insight_type": "x", "content": [1, 2], "confidence_score": None},
            row("anomaly", 2)]  # fmt: skip
    summary, ranked = insights.ranked(rows)
    assert summary is not None and summary.title == "summary None"
    assert [i.rank for i in ranked] == [1, 2, 3, None, None]
    assert summary.highlights == [("#insight-2", "second"), ("", "not on the page")]
    assert ranked[-1].raw == "[1, 2]" and ranked[-1].title is None
    share = {"kind": "share", "unit": "percent", "text": "46.2%", "value": 0.461971,
             "part": {"kind": "aggregate", "measure": None, "aggregation": "rows",
                      "filters": [{"column": "channel", "equals": "online"}]},
             "whole": {"kind": "aggregate", "measure": None, "aggregation": "rows"}}  # fmt: skip
    (figure,) = insights.ranked([row("segment_comparison", 1, figures=[share, "junk"])])[1][
        0
    ].figures
    assert figure == insights.Figure("46.2%", "46.1971%", "share: number of rows where channel = "
                                     "online, of number of rows")  # fmt: skip
    assert insights.describe({"kind": "fit", "measure": "revenue", "aggregation": "sum",
                              "grain": "week", "from": "2024-01-01", "before": "2024-12-30",
                              "at": "r2"}) == ("R² of the fit: linear fit of total revenue per "
                                               "week, 2024-01-01 to before 2024-12-30")  # fmt: skip
    assert insights.describe({"kind": "brand new", "name": "x"}) == "brand new: name x"
    assert insights.describe("not a recipe") == ""
