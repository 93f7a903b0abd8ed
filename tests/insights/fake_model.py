"""A local server that speaks the chat-completions API, and a sales file with private text
in it: for the AI summary's tests (tests/insights/test_ai.py, tests/flow)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.insights.sales_data import Plan, sales, write_csv

ANSWER = "West is the growth engine: its orders tripled. Keep it supplied. Watch North's spike."
MARKER = "PRIVATE-ROW-TEXT-7731"  # sits in a free-text column; must never leave the runner


@dataclass
class FakeModel:
    """What the fake server does and what it was sent."""

    mode: str = "ok"  # ok | error | slow | garbage
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def model_handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
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
    server = ThreadingHTTPServer(("127.0.0.1", 0), model_handler(model))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield model, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    rows = sales(Plan(days=120, growing_region="West"), seed=11)
    for row in rows[:50]:
        row["note"] = f"customer said {MARKER} about the delivery, please call back soon"
    for row in rows[50:]:
        row["note"] = f"order {row['order_id']} delivered without remarks from the customer"
    return write_csv(rows, tmp_path / "sales.csv")
