"""How a printed figure reads: its number, its scale (bn, M, %) and half of its last digit."""

from __future__ import annotations

import math
import re

NUMBER = re.compile(r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def parse_shown(text: str) -> tuple[float, float] | None:
    """A printed figure as (value, half of its last digit): '1.23 M' -> (1.23e6, 5e3)."""
    match = NUMBER.search(text)
    if match is None:
        return None
    digits = match.group().replace("\u2212", "-").replace(",", "")
    value = float(digits)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = 1.0
    rest = text[match.end() :].strip()
    if rest.startswith("bn"):
        scale = 1e9
    elif rest.startswith("M"):
        scale = 1e6
    elif rest.startswith("%"):
        scale = 0.01
    return value * scale, 0.5 * 10.0**-decimals * scale


def close(derived: float, stated: float, tolerance: float = 0.0) -> bool:
    if math.isnan(derived) or math.isnan(stated):
        return math.isnan(derived) and math.isnan(stated)
    return abs(derived - stated) <= tolerance + 1e-6 * max(1.0, abs(derived)) + 1e-4
