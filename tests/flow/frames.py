"""Frames a runner sends on its result channel, made as the runner makes them."""

from __future__ import annotations

from runner import protocol


def progress_frame(done: float, total: float | None = None, note: str = "") -> bytes:
    return protocol.message("progress", {"done": done, "total": total, "note": note})
