"""The optional AI summary, against a local server that speaks the chat-completions API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger

from runner.insights import analysis
from runner.job import Job
from tests.insights.fake_model import ANSWER, MARKER, FakeModel
from tests.insights.rows import Rows, details

pytestmark = pytest.mark.unit


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The warning lines logged while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


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
