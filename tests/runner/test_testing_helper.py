"""`runner.testing.run` and `jobsup run-once`: a handler in a real runner under its limits,
without a database, failing as a supervisor would record it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner import Job, PermanentFailure
from runner.testing import JobFailed, LimitExceeded, Limits, handler_path, run
from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, job, write_config

MEMORY_KILL = re.compile(r"^memory limit exceeded: \d+(\.\d+)? MiB > 64 MiB \(pss\)$")


def summarise(job: Job) -> list[dict[str, Any]]:
    """A handler as an application writes one (module level, so a runner can load it)."""
    if job.metadata.get("refuse"):
        raise PermanentFailure(f"{Path(job.files[0]).name}: not a sales file")
    lines = Path(job.files[0]).read_text().splitlines()
    print(f"read {len(lines)} lines")
    return [{"insight_type": "rows", "content": {"rows": len(lines) - 1,
             "question": job.business_description}, "confidence_score": 0.9}]  # fmt: skip


def test_run_returns_the_insights_of_a_handler_in_a_runner(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "sales.csv"
    data.write_text("day,amount\n1,2\n3,4\n")
    insights = run(summarise, files=[data], description="How many?", memory_mb=256)
    assert insights == [{"insight_type": "rows", "content": {"rows": 2, "question": "How many?"},
                         "confidence_score": 0.9}]  # fmt: skip
    assert "read 3 lines" in capfd.readouterr().err  # the runner's output, as it came
    with pytest.raises(JobFailed, match=r"^sales\.csv: not a sales file$") as caught:
        run(summarise, files=[data], metadata={"refuse": True})
    assert caught.value.permanent


def test_run_reports_a_memory_limit_kill_as_the_supervisor_does(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    with pytest.raises(LimitExceeded) as caught:
        run("runner.diag:allocate", metadata={"mb": 200, "mb_per_s": 400}, memory_mb=64)
    assert (caught.value.limit, caught.value.permanent) == ("memory", False)
    assert MEMORY_KILL.match(caught.value.message), caught.value.message

    job_id = add_job(conn, "allocate", mb=200, mb_per_s=400)
    config = write_config(tmp_path, max_retries=0, type_extra={"allocate": "memory_mb = 64\n"})
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 4, sup.log()
    assert MEMORY_KILL.match(job(conn, job_id)["error_message"])  # the same message


def test_run_reports_time_limits_crashes_and_exceptions(tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded, match=r"^time limit 0.5 s exceeded \(killed\)$") as caught:
        run("runner.diag:sleep", metadata={"seconds": 30}, time_limit=0.5)
    assert caught.value.limit == "time"
    with pytest.raises(LimitExceeded, match=r"^soft time limit 0.3 s exceeded$"):
        run("runner.diag:sleep", metadata={"seconds": 30}, soft_time_limit=0.3, time_limit=10)
    ignoring = {"seconds": 30, "ignore_sigterm": True}  # killed at time_limit, not kill_timeout
    hard = Limits(soft_time_limit=0.3, time_limit=2.0, kill_timeout=0.2)
    with pytest.raises(LimitExceeded, match=r"^time limit 2 s exceeded \(killed\); the SIGTERM"):
        run("runner.diag:sleep", metadata=ignoring, limits=hard)
    with pytest.raises(JobFailed, match=r"^runner killed by SIGSEGV$"):
        run("runner.diag:crash")
    with pytest.raises(JobFailed, match=r"(?s)^RuntimeError: bad row 7\nTraceback.*in fail\n"):
        run("runner.diag:fail", metadata={"message": "bad row 7"})
    with pytest.raises(JobFailed, match=r"^file not found: .*gone\.csv$") as missing:
        run(summarise, files=[tmp_path / "gone.csv"])
    assert missing.value.permanent  # a missing file fails at once, as under a supervisor


@pytest.mark.unit
def test_a_handler_is_given_by_its_importable_path() -> None:
    assert handler_path(summarise) == "tests.runner.test_testing_helper:summarise"
    assert handler_path("runner.diag:noop") == "runner.diag:noop"

    def local(job: Job) -> None: ...

    for wrong in (local, "runner.diag.noop", lambda job: None):
        with pytest.raises(ValueError, match="module:function"):
            handler_path(wrong)  # type: ignore[arg-type]


def test_run_once_prints_the_insights_or_the_failure(tmp_path: Path) -> None:
    config = write_config(tmp_path, type_extra={"allocate": "memory_mb = 64\n"})
    data = tmp_path / "sales.csv"
    data.write_text("day,amount,region\n2024-01-01,3,N\n2024-01-02,5,S\n2024-01-03,4,N\n")
    done = jobsup("run-once", "--file", str(data), "--description", "Sales")  # no database
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("insights (") and "[summary] Executive summary" in done.stdout
    noop = jobsup("run-once", "-c", str(config), "--type", "diag.noop", "--metadata",
                  '{"insights": 2}', "--json")  # fmt: skip
    assert noop.returncode == 0, noop.stderr
    assert [i["content"]["n"] for i in json.loads(noop.stdout)["insights"]] == [0, 1]
    killed = jobsup("run-once", "-c", str(config), "--type", "diag.allocate", "--metadata",
                    '{"mb": 200, "mb_per_s": 400}')  # fmt: skip
    assert killed.returncode == 4, killed.stderr
    assert re.match(r"failed, a supervisor would retry: memory limit exceeded: \d+ MiB > 64 MiB",
                    killed.stderr), killed.stderr  # fmt: skip
    unknown = jobsup("run-once", "-c", str(config), "--type", "diag.nop")
    assert unknown.returncode == 2 and "diag.noop" in unknown.stderr, unknown.stderr


def test_run_hands_a_then_job_its_parents() -> None:
    """A batch's then-job tested alone: `parents=` as a supervisor would give them."""
    from runner import Parent

    given = (Parent("p1", "analysis", "completed", insights=({"insight_type": "kpi"},)),
             Parent("p2", "analysis", "failed", error="ValueError: empty"))  # fmt: skip
    (insight,) = run("runner.diag:parents", parents=given, echo=False)
    assert insight["content"]["parents"] == [
        {"id": "p1", "status": "completed", "insights": 1, "error": None},
        {"id": "p2", "status": "failed", "insights": 0, "error": "ValueError: empty"},
    ]
