"""The `analysis` job reports its stages (loading, each analysis family, the summary) and
keeps its language-model summary as a durable step: a later attempt gets the stored
summary back without calling the model (a local fake chat-completions server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner import flow
from runner.insights import analysis
from runner.job import Job
from tests.insights.fake_model import FakeModel

pytestmark = pytest.mark.unit


def job_of(data_file: Path, url: str, steps: dict[str, Any] | None = None) -> Job:
    ai = {"base_url": url, "model": "test-model", "api_key_env": "TEST_AI_KEY", "timeout": 10}
    return Job(id="j-steps", type="analysis", files=(str(data_file),), steps=steps or {},
               business_description="Grow sales in the West", settings={"ai": ai})  # fmt: skip


def test_analysis_reports_each_stage_and_the_end(
    data_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[float, float | None, str]] = []
    monkeypatch.setattr(flow, "progress", lambda done, total=None, note="": seen.append(
        (done, total, note)))  # fmt: skip
    analysis(Job(id="j1", type="analysis", files=(str(data_file),)))
    notes = [note for _, _, note in seen]
    assert notes[0] == "loading sales.csv"
    for family in ("profile and quality", "key figures", "trends and anomalies", "seasonality",
                   "segments", "correlations", "concentration"):  # fmt: skip
        assert f"sales.csv: {family}" in notes, notes
    assert notes[-2:] == ["summary", "done"]
    assert [d for d, _, _ in seen] == [*range(len(seen) - 1), 9]
    assert {t for _, t, _ in seen} == {9}  # 1 file: loading + 7 families, and the summary


def test_the_model_summary_is_a_step_a_later_attempt_does_not_pay_for_again(
    fake_model: tuple[FakeModel, str],
    data_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, url = fake_model
    monkeypatch.setenv("TEST_AI_KEY", "sk-test-123")
    first = analysis(job_of(data_file, url))
    assert len(model.requests) == 1
    kept = first[0]
    assert kept["content"]["details"]["written_by"] == "ai:test-model"
    again = analysis(job_of(data_file, url, steps={"ai-summary": kept}))
    assert len(model.requests) == 1  # not called again
    assert again[0] == kept
    analysis(job_of(data_file, url))  # a job without the step kept pays again
    assert len(model.requests) == 2
