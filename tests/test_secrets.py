"""No password anywhere: not in a runner's environment (nor its children's), a log line, a
process title, or the output of any command. A password is planted and looked for."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

from supervisor.config import load
from supervisor.db.connect import Connection
from supervisor.runners import runenv
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, status, wait_for, write_config

PASSWORD = "Pl4nted-S3cret"


def with_password(url: str) -> str:
    """`url` with PASSWORD in it (the test servers trust every local connection)."""
    if "://" not in url:
        return f"{url} password={PASSWORD}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username or 'postgres'}:{PASSWORD}@{host}"
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))


def environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_the_runner_environment_is_an_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[runner]\nenv = ["PATH", "MY_*", "PGAPPNAME", "*"]\nset = {FIXED = "1"}\n'
        '[ai]\nbase_url = "http://ai.local"\napi_key_env = "AI_KEY"\n'
    )
    outer = {
        "PATH": "/bin", "MY_A": "a", "DATABASE_URL": "x", "POSTGRES_URL": "x",
        "PGPASSWORD": "x", "PGAPPNAME": "app", "JOBSUP_HOME": "x", "AI_KEY": "k", "OTHER": "o",
    }  # fmt: skip
    # "*" passes anything but the database and jobsup's own; an exact name passes even those.
    assert runenv.environment(load(path), outer) == {
        "PATH": "/bin", "MY_A": "a", "PGAPPNAME": "app", "AI_KEY": "k", "OTHER": "o",
        "FIXED": "1",
    }  # fmt: skip
    defaults = runenv.environment(load(None), {**outer, "LC_ALL": "C", "PYTHONPATH": "/p"})
    assert defaults == {"PATH": "/bin", "LC_ALL": "C", "PYTHONPATH": "/p"}


def test_no_runner_nor_its_children_see_the_database_password(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    url = with_password(db_url)
    config = write_config(tmp_path, runner_extra='set = {FIXED = "yes"}\n')
    env = {"POSTGRES_URL": url, "PGPASSWORD": PASSWORD, "JOBSUP_TOKEN": PASSWORD}
    sup = supervisors.start(url, config, env=env)
    job_id = add_job(conn, "spawn", children=1, seconds=60)
    runner = wait_for(sup.runner_pids)[0]
    child = wait_for(lambda: psutil.Process(runner).children())[0].pid
    server = psutil.Process(runner).ppid()
    # setproctitle reuses the environment's memory for the title, so the supervisor, the
    # server and the runner show little there; the child shows what the runner's os.environ
    # holds, which is what anything a handler starts inherits.
    for pid in (server, runner, child):
        assert PASSWORD.encode() not in environ(pid), pid
    variables = dict(v.split(b"=", 1) for v in environ(child).split(b"\0") if v)
    assert variables[b"JOBSUP_JOB_ID"] == job_id.encode()  # set in the runner, inherited
    assert variables[b"FIXED"] == b"yes" and variables[b"PATH"] == os.environ["PATH"].encode()
    assert not {b"DATABASE_URL", b"POSTGRES_URL", b"PGPASSWORD", b"JOBSUP_TOKEN"} & set(variables)
    sup.signal(signal.SIGQUIT)
    assert sup.wait() == 0


def run(*args: str, url: str, ok: bool = True) -> str:
    """Every byte `jobsup args…` prints."""
    result = jobsup(*args, env={"DATABASE_URL": url})
    assert (result.returncode == 0) is ok, (args, result.stdout, result.stderr)
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql:/postgres:{PASSWORD}@127.0.0.1/x",
        f"mysql://u:{PASSWORD}@h/db",
        f"host=127.0.0.1 port=1 password={PASSWORD}",
        f"host=h password={PASSWORD} dbname",
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/x",
    ],
)
def test_no_error_about_a_bad_url_shows_its_password(url: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    said = [
        run(*command, "-c", config, url=url, ok=False)
        for command in (("db", "check"), ("db", "migrate"), ("jobs", "list"), ("stats",),
                        ("ps",), ("start",), ("start", "--daemon"), ("enqueue", "--type", "x"))
    ]  # fmt: skip
    said.append(run("status", "-c", config, url=url, ok=False))  # exit 3: not running
    for output in said:
        assert PASSWORD not in output and "cret" not in output, output
        assert "Traceback" not in output


def test_no_output_log_or_title_shows_the_password(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    url = with_password(db_url)
    config = write_config(tmp_path, extra='file = "supervisor.log"\n')  # in [logging]
    sup = supervisors.start(url, config)
    sup.wait_registered(conn)
    done = add_job(conn, "noop", insights=1)
    failed = add_job(conn, "fail")
    running = add_job(conn, "sleep", seconds=60)
    wait_for(lambda: status(conn, done) == "completed" and status(conn, running) == "processing")
    titles = [" ".join(psutil.Process(pid).cmdline()) for pid in (sup.pid, *sup.runner_pids())]
    titles += [" ".join(p.cmdline()) for p in psutil.Process(sup.pid).children(recursive=True)]
    c = ["-c", str(config)]
    said = [
        run(*command, *c, url=url)
        for command in (
            ("ps",), ("ps", "--json"), ("status",), ("status", "--json"), ("stats",),
            ("stats", "--json"), ("jobs", "list"), ("jobs", "list", "--json"),
            ("jobs", "show", done), ("jobs", "show", done, "--details"),
            ("jobs", "show", running, "--json"), ("db", "check"), ("db", "check", "--json"),
            ("db", "url"), ("db", "migrate"), ("enqueue", "--type", "diag.noop"),
        )
    ]  # fmt: skip
    said.append(run("jobs", "cancel", running, *c, url=url))
    assert run("db", "url", "--show-password", *c, url=url).strip() == url  # asked for
    wait_for(lambda: status(conn, failed) == "failed")
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0
    logs = [sup.log(), (Path(os.environ["JOBSUP_HOME"]) / "supervisor.log").read_text()]
    for text in said + titles + logs:
        assert PASSWORD not in text, text
    assert "completed in" in logs[0] and "supervisor stopped" in logs[1]
