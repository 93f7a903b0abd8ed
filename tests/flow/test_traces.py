"""OpenTelemetry traces: `enqueue` stores the caller's trace context, and the runner's span
`jobsup.run <type>` is its child, with the handler's own spans under it (the SDK in the
handler's module, exporting to a file); without OpenTelemetry nothing imports it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, job, scalar, write_config

pytestmark = pytest.mark.slow

HANDLERS = """
import json, sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class ToFile(SpanExporter):
    def export(self, spans):
        with open({spans!r}, "a") as f:
            for s in spans:
                parent = s.parent.span_id if s.parent else None
                f.write(json.dumps({{"name": s.name, "trace": s.context.trace_id,
                    "span": s.context.span_id, "parent": parent,
                    "attributes": dict(s.attributes), "status": s.status.status_code.name}}) + "\\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ToFile()))
trace.set_tracer_provider(provider)


def traced(job):
    with trace.get_tracer("app").start_as_current_span("model call"):
        pass
    if job.metadata.get("fail"):
        raise RuntimeError("model refused")
    return [{{"insight_type": "t", "content": {{"ok": True}}, "confidence_score": 1}}]
"""
PLAIN = """
import sys

def plain(job):
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    return [{"insight_type": "t", "content": {"loaded": loaded}, "confidence_score": 1}]
"""
TYPES = '[job_types."otel.traced"]\nhandler = "otel_jobs:traced"\nmax_retries = 0\n' \
    '[job_types."otel.plain"]\nhandler = "plain_jobs:plain"\n'  # fmt: skip


def app_dir(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "otel_jobs.py").write_text(HANDLERS.format(spans=str(tmp_path / "spans.jsonl")))
    (app / "plain_jobs.py").write_text(PLAIN)
    return app


def test_the_runs_span_is_a_child_of_the_enqueuers_and_parents_the_handlers(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("upload request") as upload:
        ok = enqueue(conn, job_type="otel.traced")
        failing = enqueue(conn, job_type="otel.traced", metadata={"fail": True})
    ids = upload.get_span_context()
    stored = scalar(conn, "SELECT trace_context FROM processing_jobs WHERE id = %s", ok)
    assert stored.startswith(f"00-{ids.trace_id:032x}-{ids.span_id:016x}-")  # then the flags
    config = write_config(tmp_path, extra=TYPES)
    sup = supervisors.start(
        db_url, config, "--until-empty", env={"PYTHONPATH": str(app_dir(tmp_path))}
    )
    sup.wait()  # (exit status 4: a job failed)
    assert (job(conn, ok)["status"], job(conn, failing)["status"]) == ("completed", "failed")
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    runs = {
        s["attributes"]["jobsup.job.id"]: s for s in spans if s["name"] == "jobsup.run otel.traced"
    }
    assert set(runs) == {ok, failing}
    for run in runs.values():
        assert (run["trace"], run["parent"]) == (ids.trace_id, ids.span_id)
        assert run["attributes"]["jobsup.job.type"] == "otel.traced"
        assert run["attributes"]["jobsup.job.attempt"] == 1
        (model,) = [s for s in spans if s["name"] == "model call" and s["parent"] == run["span"]]
        assert model["trace"] == ids.trace_id
    assert runs[ok]["attributes"]["jobsup.outcome"] == "completed"
    assert runs[ok]["status"] == "UNSET"
    assert runs[failing]["attributes"]["jobsup.outcome"] == "exception"
    assert runs[failing]["status"] == "ERROR"


def test_without_opentelemetry_in_use_nothing_imports_it(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """An application that does not use OpenTelemetry: its enqueue imports none of it, the
    job carries no trace context, and its runner imports none of it either."""
    script = textwrap.dedent(f"""
        import sys
        from supervisor.api import enqueue, wait
        from supervisor.db.connect import connect
        conn = connect({db_url!r})
        with conn:
            job_id = enqueue(conn, job_type="otel.plain")
        print(job_id)
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.splitlines()  # fmt: skip
    job_id, loaded = out[0], out[1]
    assert loaded == "[]"
    assert scalar(conn, "SELECT trace_context FROM processing_jobs WHERE id = %s", job_id) is None
    config = write_config(tmp_path, extra=TYPES)
    sup = supervisors.start(
        db_url, config, "--until-empty", env={"PYTHONPATH": str(app_dir(tmp_path))}
    )
    assert sup.wait() == 0, sup.log()
    content = scalar(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)
    assert content == {"loaded": []}
    assert trace  # (this test process may have it: the point is the others)
