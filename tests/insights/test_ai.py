"""The optional AI summary, against a local server that speaks the chat-completions API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from runner.insights import analysis
from runner.job import Job
from tests.insights.rows import Rows, details
from tests.insights.sales_data import Plan, sales, write_csv

pytestmark = pytest.mark.unit

ANSWER = "West is the growth engine: its orders tripled. Keep it supplied. Watch North's spike."
MARKER = "PRIVATE-ROW-TEXT-7731"  # sits in a free-text column; must never leave the runner


@dataclass
class FakeModel:
    """What the fake server does and what it was sent."""

    mode: str = "ok"  # ok | error | slow | garbage
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            model.requests.append({"path": self.path, "body": json.loads(body)})
            model.headers.append(dict(self.headers))
            if model.mode == "slow":
                time.sleep(1.5)
            if model.mode == "error":
                self.send_error(500, "model overloaded")
                return
            answer = {"choices": [{"message": {"role": "assistant", "content": ANSWER}}]}
            payload = b"not json" if model.mode == "garbage" else json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_model() -> Iterator[tuple[FakeModel, str]]:
    """A chat-completions server on 127.0.0.1; yields its state and base URL."""
    model = FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(model))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield model, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The warning lines logged while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    rows = sales(Plan(days=120, growing_region="West"), seed=11)
    for row in rows[:50]:
        row["note"] = f"customer said {MARKER} about the delivery, please call back soon"
    for row in rows[50:]:
        row["note"] = f"order {row['order_id']} delivered without remarks from the customer"
    return write_csv(rows, tmp_path / "sales.csv")


def _run(data_file: Path, base_url: str, timeout: float = 10.0) -> Rows:
    ai = {"base_url": base_url, "model": "test-model", "api_key_env": "TEST_AI_KEY"}
    job = Job(
        id="j1",
        type="analysis",
        files=(str(data_file),),
        business_description="Grow sales in the West",
        settings={"ai": {**ai, "timeout": timeout}},
    )
    return analysis(job)


def test_model_writes_the_summary_from_findings_only(
    fake_model: tuple[FakeModel, str], data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, url = fake_model
    monkeypatch.setenv("TEST_AI_KEY", "sk-test-123")
    rows = _run(data_file, url)
    summary = details(rows[0])
    assert summary["written_by"] == "ai:test-model"
    assert summary["narrative"] == ANSWER
    assert (
        rows[0]["content"]["summary"]
        == "West is the growth engine: its orders tripled. Keep it supplied."
    )
    assert len(model.requests) == 1
    request = model.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "test-model"
    assert model.headers[0]["Authorization"] == "Bearer sk-test-123"
    prompt = json.dumps(request["body"])
    assert "Grow sales in the West" in prompt
    assert "West" in prompt and "trend" in prompt
    assert MARKER not in prompt


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_any_model_failure_falls_back_to_the_builtin_summary(
    mode: str,
    fake_model: tuple[FakeModel, str],
    data_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    warnings_logged: list[str],
) -> None:
    model, url = fake_model
    model.mode = mode
    monkeypatch.setenv("TEST_AI_KEY", "sk-test-123")
    rows = _run(data_file, url, timeout=0.3)
    assert details(rows[0])["written_by"] == "built-in"
    assert "Analysed" in rows[0]["content"]["summary"]  # the built-in summary
    assert len(model.requests) == 1
    assert any("AI summary unavailable" in line for line in warnings_logged)
    assert all("sk-test-123" not in line for line in warnings_logged)


def test_missing_api_key_falls_back_without_calling_the_model(
    fake_model: tuple[FakeModel, str], data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, url = fake_model
    monkeypatch.delenv("TEST_AI_KEY", raising=False)
    rows = _run(data_file, url)
    assert details(rows[0])["written_by"] == "built-in"
    assert model.requests == []


def test_unreachable_server_falls_back(data_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AI_KEY", "sk-test-123")
    rows = _run(data_file, "http://127.0.0.1:9/v1", timeout=1.0)
    assert details(rows[0])["written_by"] == "built-in"


def test_without_ai_settings_no_request_is_made(
    fake_model: tuple[FakeModel, str], data_file: Path, analyse: Callable[..., Rows]
) -> None:
    model, _ = fake_model
    rows = analyse([data_file], "Grow sales in the West")
    assert details(rows[0])["written_by"] == "built-in"
    assert model.requests == []
