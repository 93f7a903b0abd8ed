"""How a custom handler's module reaches the runners, as the README says: what the supervisor's
Python finds (PYTHONPATH when it starts), the fork server finds, whatever [runner] env passes."""

from __future__ import annotations

from pathlib import Path

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, job, write_config

SHOP = """
def send(job):
    return [{"insight_type": "kpi", "content": {"sent": job.id}, "confidence_score": 1.0}]
"""
TYPE = '[job_types."shop.send"]\nhandler = "shop_jobs:send"\n'


def test_a_handler_module_on_pythonpath_reaches_the_runners(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "shop_jobs.py").write_text(SHOP)
    sent = enqueue(conn, job_type="shop.send")
    config = write_config(tmp_path, max_retries=0, extra=TYPE)
    sup = supervisors.start(db_url, config, "--until-empty", env={"PYTHONPATH": str(app)})
    assert sup.wait() == 0, sup.log()
    assert job(conn, sent)["status"] == "completed"

    # The fork server is handed the supervisor's sys.path: a [runner] env without PYTHON*
    # changes what runners' own subprocesses see, not where their handlers are found.
    narrowed = write_config(tmp_path, max_retries=0, runner_extra='env = ["PATH"]', extra=TYPE)
    again = enqueue(conn, job_type="shop.send")
    sup = supervisors.start(db_url, narrowed, "--until-empty", env={"PYTHONPATH": str(app)})
    assert sup.wait() == 0, sup.log()
    assert job(conn, again)["status"] == "completed"
