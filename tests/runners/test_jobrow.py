"""From a claimed row to a job: every field validated, a bad row unusable alone."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runner.job import Job
from supervisor.config import load
from supervisor.runners.jobrow import ClaimedJob, Unusable, from_row, json_value, shown
from supervisor.runners.launch import Launch, launch

pytestmark = pytest.mark.unit

GOOD: dict[str, Any] = {
    "id": "0b6f6f1e-0000-4000-8000-000000000001", "lease": 7, "job_type": "analysis",
    "description": "sales", "metadata": {"memory_mb": 512}, "retry_count": 1,
    "file_path": "/data/a.csv", "has_file": True, "priority": 3, "more_files": None,
}  # fmt: skip


def row(**changes: Any) -> tuple[Any, ...]:
    return tuple({**GOOD, **changes}.values())


def test_a_good_row_is_a_job() -> None:
    job = from_row(row())
    assert isinstance(job, ClaimedJob)
    assert (job.lease, job.attempt, job.priority, job.file_path) == (7, 2, 3, "/data/a.csv")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"metadata": [1]}, "metadata: expected a JSON object, got array [1]"),
        ({"metadata": "x"}, "metadata: expected a JSON object, got string 'x'"),
        ({"metadata": 42}, "metadata: expected a JSON object, got number 42"),
        ({"metadata": None}, "metadata: expected a JSON object, got null"),
        ({"metadata": True}, "metadata: expected a JSON object, got boolean true"),
        ({"metadata": {"memory_mb": "lots"}}, "metadata.memory_mb: expected a positive number"),
        ({"metadata": {"memory_mb": -5}}, "metadata.memory_mb: expected a positive number"),
        ({"metadata": {"memory_mb": math.inf}}, "metadata.memory_mb: expected a positive"),
        ({"metadata": {"memory_mb": True}}, "metadata.memory_mb: expected a positive number"),
        ({"job_type": ""}, "job_type: expected a job type name, got ''"),
        ({"job_type": "  "}, "job_type: expected a job type name"),
        ({"job_type": None}, "job_type: expected a job type name, got None"),
        ({"retry_count": -1}, "retry_count: expected 0 or more, got -1"),
        ({"retry_count": None}, "retry_count: expected 0 or more, got None"),
        ({"file_path": None}, "file_id: names no row in files"),
        ({"file_path": " "}, "files.file_path: expected a path"),
        ({"more_files": ["/b.csv", None]}, "more_file_ids[2]: names no row in files"),
        ({"more_files": [""]}, "files.file_path of more_file_ids[1]: expected a path"),
    ],
)
def test_a_bad_field_makes_the_row_unusable_and_names_the_field(
    changes: dict[str, Any], reason: str
) -> None:
    result = from_row(row(**changes))
    assert isinstance(result, Unusable)
    assert result.reason.startswith(reason)
    job = result.job  # safe stand-ins, so that the failure can be logged and written
    assert job.id == GOOD["id"] and job.lease == 7
    assert isinstance(job.metadata, dict) and job.retry_count >= 0 and job.job_type.strip()


def test_every_problem_is_named_at_once() -> None:
    result = from_row(row(job_type="", metadata=[], retry_count=-2))
    assert isinstance(result, Unusable)
    assert result.reason.count(";") == 2


def test_no_file_is_fine_when_the_job_has_none() -> None:
    job = from_row(row(file_path=None, has_file=False))
    assert isinstance(job, ClaimedJob) and job.file_path is None


def test_an_odd_priority_does_not_stop_the_job() -> None:
    job = from_row(row(priority=None))
    assert isinstance(job, ClaimedJob) and job.priority == 0


def test_quoted_values_are_cut() -> None:
    assert len(shown("x" * 500)) == 40 and shown("x" * 500).endswith("…")
    assert json_value({"a": 1}) == "object {'a': 1}"


def test_a_job_over_several_files_hands_them_over_in_order() -> None:
    job = from_row(row(more_files=["/data/b.csv", "/data/c.csv"]))
    assert isinstance(job, ClaimedJob)
    assert job.files == ("/data/a.csv", "/data/b.csv", "/data/c.csv")


def test_each_file_is_named_as_it_was_uploaded_else_by_its_stored_name() -> None:
    names = {
        "snoozes": 0,
        "file_name": "Q3 sales.csv",
        "more_file_names": [None, " Q4\nsales.csv "],
    }
    job = from_row(row(more_files=["/data/002eaab0-b.csv", "/data/c.csv"], **names))
    assert isinstance(job, ClaimedJob)
    assert job.file_names == ("Q3 sales.csv", "002eaab0-b.csv", "Q4 sales.csv")
    assert launch_job(job).file_names == job.file_names  # what the handler gets
    unnamed = from_row(row(snoozes=0, file_name=None, more_file_names=None))
    assert isinstance(unnamed, ClaimedJob) and unnamed.file_names == ("a.csv",)
    assert from_row(row()).file_names == ("a.csv",)  # type: ignore[union-attr]  # no columns


def test_a_runner_job_names_its_files_by_their_own_names_unless_told() -> None:
    assert Job("j1", "t", files=("/up/002eaab0.csv",)).file_names == ("002eaab0.csv",)
    assert Job("j1", "t", ("/up/1.csv",), file_names=("Q3.csv",)).file_names == ("Q3.csv",)
    with pytest.raises(ValueError, match="file_names: 2 names for 1 files"):
        Job("j1", "t", ("/up/1.csv",), file_names=("a", "b"))


def launch_job(job: ClaimedJob) -> Job:
    """The runner's job that a supervisor with the default config hands over for `job`."""
    launched = launch(job, load(None), "INFO")
    assert isinstance(launched, Launch), launched
    return launched.spec.job


def test_the_parents_a_claim_returns_reach_the_handler_as_job_parents() -> None:
    """`claimed_parents` (sql/queries.sql) → ClaimedJob.parents → runner.Job.parents."""
    parents = [
        {"id": "p1", "type": "analysis", "status": "completed", "error": None,
         "description": "sales", "file_name": "sales.csv",
         "insights": [{"insight_type": "kpi", "content": {"title": "t"}, "confidence_score": 1}]},
        {"id": "p2", "type": "analysis", "status": "failed", "error": "ValueError: empty",
         "description": None, "file_name": None, "insights": []},
        "not an object",  # a row the statement never makes: left out, not a crash
    ]  # fmt: skip
    names = {"snoozes": 0, "file_name": None, "more_file_names": None}
    job = from_row(row(**names, parents=parents, batch_id="b1"))
    assert isinstance(job, ClaimedJob) and len(job.parents) == 2
    handed = launch_job(job)
    assert handed.batch_id == "b1"
    assert [(p.id, p.status, p.insights_count, p.error) for p in handed.parents] == [
        ("p1", "completed", 1, None), ("p2", "failed", 0, "ValueError: empty")]  # fmt: skip
    assert handed.parents[0].file_name == "sales.csv"
    assert launch_job(from_row(row(**names))).parents == ()  # type: ignore[arg-type]
