"""Durations as people type them (`30s`, `15m`, `2h`, `7d`) and as they read them."""

from __future__ import annotations

import re

from supervisor.errors import JobsupError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse(text: str) -> float:
    """Seconds in `text` (`90`, `30s`, `15m`, `2h`, `7d`, `1w`), or JobsupError saying why."""
    match = _DURATION.match(text)
    if match is None:
        raise JobsupError(f"{text!r}: expected a number and a unit, e.g. 30s, 15m, 2h, 7d")
    number, unit = match.groups()
    return float(number) * UNITS[unit.lower() or "s"]


def human(seconds: float | None) -> str:
    """`4.2s`, `3m05s`, `2h03m`, `3d04h`: two units at most, for tables."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    for big, small, name, small_name in ((86400, 3600, "d", "h"), (3600, 60, "h", "m")):
        if whole >= big:
            return f"{whole // big}{name}{(whole % big) // small:02d}{small_name}"
    return f"{whole // 60}m{whole % 60:02d}s"
