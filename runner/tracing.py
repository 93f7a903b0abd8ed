"""A job's run as an OpenTelemetry span, `jobsup.run <type>`, the child of the span that
enqueued it (its W3C traceparent, stored with the job), so the handler's own spans (HTTP
to a model) nest under it.

OpenTelemetry is imported only when it is used: for a job that carries a trace context
(and the package is installed), or when a preloaded handler module imported it already
(then it costs nothing). Otherwise `run_span` does nothing at all.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from runner.job import Job

Outcome = Callable[[str], None]  # names how the run ended: completed | a FailureKind


def _wanted(job: Job) -> bool:
    if "opentelemetry.trace" in sys.modules:
        return True
    return job.trace_context is not None and importlib.util.find_spec("opentelemetry") is not None


@contextmanager
def run_span(job: Job) -> Iterator[Outcome]:
    """A span around the handler's call (when tracing is wanted); the caller names the
    outcome through the function it is given. Ended and flushed before the runner reports:
    a runner leaves through os._exit, which no exporter's atexit hook survives."""
    if not _wanted(job):
        yield _ignore
        return
    import opentelemetry.propagate as propagate
    import opentelemetry.trace as trace

    parent = propagate.extract({"traceparent": job.trace_context} if job.trace_context else {})
    tracer = trace.get_tracer("jobsup")
    attributes: dict[str, str | int] = {"jobsup.job.id": job.id, "jobsup.job.type": job.type,
                  "jobsup.job.attempt": job.attempt}  # fmt: skip
    with tracer.start_as_current_span(f"jobsup.run {job.type}", context=parent,
                                      kind=trace.SpanKind.CONSUMER,
                                      attributes=attributes) as span:  # fmt: skip

        def outcome(name: str) -> None:
            span.set_attribute("jobsup.outcome", name)
            if name != "completed":
                span.set_status(trace.Status(trace.StatusCode.ERROR, name))

        yield outcome
    _flush(trace.get_tracer_provider())


def _flush(provider: Any) -> None:
    flush = getattr(provider, "force_flush", None)
    if callable(flush):
        flush(5000)


def _ignore(_outcome: str) -> None:
    pass
