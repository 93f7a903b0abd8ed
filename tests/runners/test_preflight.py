"""The preflight, for real: before `jobsup start` says it is ready, a trial runner as `[runner]
user`, through the fork server, reaches Python, jobsup and every handler, or the start is
refused in one line naming the first directory closed to that user."""

from __future__ import annotations

import os
import shutil
import stat
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, job, scalar, write_config

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")

HANDLER = "def run(job):\n    return [{'insight_type': 'ran', 'content': {'uid': __import__('os').getuid()}}]\n"


@pytest.fixture
def closed_dir() -> Iterator[Path]:
    """A directory only root may enter, holding `lib/secret_handlers.py`."""
    path = Path(tempfile.mkdtemp(prefix="jobsup-closed-"))
    (path / "lib").mkdir()
    (path / "lib" / "secret_handlers.py").write_text(HANDLER)
    path.chmod(0o700)
    (path / "lib").chmod(0o755)
    yield path
    shutil.rmtree(path)


BROKEN_AT_IMPORT = 'raise RuntimeError("broken at import")\n\n\ndef run(job):\n    return []\n'


def nobody_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        runner_extra='user = "nobody"\n',
        extra='[job_types."app.secret"]\nhandler = "secret_handlers:run"\n',
    )


@as_root
def test_a_handler_the_runner_user_cannot_read_refuses_the_start_in_one_line(
    db_url: str, conn: Connection, tmp_path: Path, closed_dir: Path, python_open_to_others: None
) -> None:
    job_id = enqueue(conn, job_type="app.secret")
    config = nobody_config(tmp_path)
    env = {"DATABASE_URL": db_url, "PYTHONPATH": str(closed_dir / "lib")}
    done = jobsup("start", "-c", str(config), "--until-empty", env=env)
    module = closed_dir / "lib" / "secret_handlers.py"
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == (
        f"jobsup: {config}: runners (user nobody) cannot start: handler secret_handlers:run: "
        f"{closed_dir} is closed to user nobody (on the way to {module}): open it to that user "
        f"(e.g. chmod o+x {closed_dir}) or install it where nobody can read it\n"
    )
    # Nothing said it was ready: no pidfile, no supervisor registered, the job untouched.
    assert not (Path(os.environ["JOBSUP_HOME"]) / "jobsup.pid").exists()
    assert scalar(conn, "SELECT count(*) FROM jobsup_workers") == 0
    assert (job(conn, job_id)["status"], job(conn, job_id)["retry_count"]) == ("pending", 0)
    # As a daemon: the starter says the same and nothing runs on.
    daemon = jobsup("start", "--daemon", "-c", str(config), env=env)
    assert daemon.returncode == 1 and "closed to user nobody" in daemon.stderr, daemon.stderr
    assert len(daemon.stderr.splitlines()) == 1, daemon.stderr
    assert jobsup("status", "-c", str(config), env=env).returncode == 3
    # Opened to that user, the same configuration starts and runs the job as nobody.
    closed_dir.chmod(0o755)
    done = jobsup("start", "-c", str(config), "--until-empty", env=env)
    assert done.returncode == 0, done.stderr
    assert job(conn, job_id)["status"] == "completed"
    uid = scalar(conn, "SELECT content->>'uid' FROM insights WHERE job_id = %s", job_id)
    assert int(uid) == 65534


@as_root
def test_python_or_its_modules_closed_to_the_runner_user_refuse_the_start(
    db_url: str, tmp_path: Path, python_open_to_others: None
) -> None:
    """The issue's case: an installation under a directory the runner user cannot read (here
    the virtualenv's site-packages, where jobsup's own dependencies live)."""
    site = Path(sysconfig.get_paths()["purelib"])
    mode = stat.S_IMODE(site.stat().st_mode)
    config = write_config(tmp_path, runner_extra='user = "nobody"\n')
    site.chmod(0o700)
    try:
        done = jobsup("start", "-c", str(config), "--until-empty", env={"DATABASE_URL": db_url})
    finally:
        site.chmod(mode)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert f"{site} is closed to user nobody" in done.stderr
    assert "(e.g. chmod o+rx" in done.stderr and "Traceback" not in done.stderr


@as_root
def test_a_handler_that_raises_at_import_is_a_warning_not_a_refusal(
    db_url: str,
    conn: Connection,
    tmp_path: Path,
    supervisors: Supervisors,
    shared_dir: Path,
    python_open_to_others: None,
) -> None:
    """A handler that raises at import is not the runner user's business: a warning at start,
    and its jobs fail as they did before."""
    # Its handler is defined below the line that fails (start reads that it is there).
    (shared_dir / "broken_handlers.py").write_text(BROKEN_AT_IMPORT)
    config = write_config(
        tmp_path, max_retries=0, runner_extra='user = "nobody"\n',
        extra='[job_types."app.broken"]\nhandler = "broken_handlers:run"\n',
    )  # fmt: skip
    broken = enqueue(conn, job_type="app.broken")
    sup = supervisors.start(db_url, config, "--until-empty", env={"PYTHONPATH": str(shared_dir)})
    assert sup.wait() == 4, sup.log()
    assert "preflight: cannot load handler broken_handlers:run: RuntimeError: broken at import" in (
        sup.log()
    )
    assert job(conn, broken)["error_message"].startswith("RuntimeError: broken at import")
