"""Log lines: readable text, or one flat JSON object per line for log shippers."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from loguru import logger

from supervisor import logs
from supervisor.config import LoggingConfig
from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, status, write_config

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d$")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    logger.remove()
    logger.configure(extra={})
    logger.add(sys.stderr)


def test_json_lines_are_flat_objects_with_the_fields_shippers_index(
    tmp_path: Path, restore_logging: None
) -> None:
    logs.configure(LoggingConfig(json=True, file="jobsup.log"), tmp_path, "DEBUG")
    logs.set_supervisor("3c1d0a6e-worker")
    logs.job_logger("j-1", job_type="diag.noop", attempt=2).bind(event="reap").info(
        "runner {} exited {{0}}", 4242
    )
    logger.warning("no job here")
    try:
        raise RuntimeError("bad row 7")
    except RuntimeError:
        logs.job_logger("j-2").exception("handler failed")
    lines = [json.loads(line) for line in (tmp_path / "jobsup.log").read_text().splitlines()]
    reaped, plain, failed = lines
    assert reaped == {
        "time": reaped["time"], "level": "INFO", "message": "runner 4242 exited {0}",
        "job": "j-1", "job_type": "diag.noop", "attempt": 2, "supervisor": "3c1d0a6e-worker",
        "event": "reap",
    }  # fmt: skip
    assert ISO_WITH_OFFSET.match(reaped["time"]), reaped["time"]
    assert datetime.fromisoformat(reaped["time"]).utcoffset() is not None
    assert plain == {"time": plain["time"], "level": "WARNING", "message": "no job here",
                     "supervisor": "3c1d0a6e-worker"}  # fmt: skip
    assert failed["job"] == "j-2" and failed["message"] == "handler failed"
    assert (
        failed["exception"].startswith("Traceback")
        and "RuntimeError: bad row 7" in failed["exception"]
    )


def test_text_lines_name_the_job(tmp_path: Path, restore_logging: None) -> None:
    logs.configure(LoggingConfig(file="jobsup.log"), tmp_path)
    logs.job_logger("j-1", attempt=1).info("started")
    (line,) = (tmp_path / "jobsup.log").read_text().splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    \[job j-1\] started$", line)


def test_a_supervisor_logging_json_writes_nothing_else(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "print", bytes=200)
    config = write_config(tmp_path, extra="json = true\n")  # in [logging]
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 0, sup.log()
    assert status(conn, job_id) == "completed"
    lines = [json.loads(line) for line in sup.log().splitlines()]
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    assert all(ISO_WITH_OFFSET.match(line["time"]) for line in lines)
    about_job = [line for line in lines if line.get("job") == job_id]
    assert any(line["message"].startswith("| line 0 ") for line in about_job), about_job
    workers = {line.get("supervisor") for line in lines}
    assert len(workers) == 1 and None not in workers, workers
