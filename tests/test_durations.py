"""Durations as typed on the command line, and as tables print them."""

from __future__ import annotations

import pytest

from supervisor import durations
from supervisor.errors import JobsupError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800),
     (" 1.5H ", 5400)],
)  # fmt: skip
def test_parse(text: str, seconds: float) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "2x", "-5s", "1h30m", "soon"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(JobsupError, match="expected a number and a unit"):
        durations.parse(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (-1, "0.0s"), (4.25, "4.2s"), (185, "3m05s"), (7380, "2h03m"),
     (3 * 86400 + 4 * 3600 + 59, "3d04h")],
)  # fmt: skip
def test_human(seconds: float | None, text: str) -> None:
    assert durations.human(seconds) == text
