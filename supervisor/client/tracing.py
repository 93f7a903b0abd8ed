"""The caller's OpenTelemetry trace context, stored with the jobs it enqueues, so that each
job's run is a span of the caller's trace (`runner/tracing.py` starts it).

Only when the application already uses OpenTelemetry (its API imported): without it there
is no current span to carry, and nothing is imported here.
"""

from __future__ import annotations

import sys


def traceparent() -> str | None:
    """The W3C traceparent of the current span, or None (no OpenTelemetry, no valid span)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    import opentelemetry.propagate as propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")
