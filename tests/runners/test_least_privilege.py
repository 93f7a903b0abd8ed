"""Least privilege, for real: files confined to [files] root and regular files only, runners
dropped to [runner] user, handlers only from the configuration, a private state directory."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import time
from pathlib import Path

import pytest

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, job, rows, status, wait_for, write_config

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")


def insight(conn: Connection, job_id: str) -> dict[str, object]:
    ((content,),) = rows(conn, "SELECT content FROM insights WHERE job_id = %s", job_id)
    assert isinstance(content, dict)
    return content


def test_files_that_escape_the_root_or_are_not_regular_fail_at_once_unopened(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    root = tmp_path / "uploads"
    (root / "dir").mkdir(parents=True)
    (root / "ok.csv").write_text("a,b\n1,2\n")
    (tmp_path / "secret.csv").write_text("password\n")
    (root / "link.csv").symlink_to(tmp_path / "secret.csv")
    (root / "inside.csv").symlink_to(root / "ok.csv")  # a symlink that stays inside is fine
    os.mkfifo(root / "fifo.csv")  # opened, it would block the runner until time_limit
    cases = {
        "ok": (str(root / "ok.csv"), None),
        "inside": (str(root / "inside.csv"), None),
        "dotdot": (
            f"{root}/../secret.csv",
            f"file outside [files] root {root}: {root}/../secret.csv "
            f"(resolves to {tmp_path / 'secret.csv'})",
        ),
        "symlink": (
            str(root / "link.csv"),
            f"file outside [files] root {root}: {root / 'link.csv'} "
            f"(resolves to {tmp_path / 'secret.csv'})",
        ),
        "absolute": ("/etc/passwd", f"file outside [files] root {root}: /etc/passwd"),
        "fifo": (str(root / "fifo.csv"), f"not a regular file but a FIFO: {root / 'fifo.csv'}"),
        "dir": (str(root / "dir"), f"not a regular file but a directory: {root / 'dir'}"),
    }
    ids = {name: add_job(conn, "whoami", path) for name, (path, _) in cases.items()}
    config = write_config(tmp_path, extra=f'[files]\nroot = "{root}"\n', type_extra={
        "whoami": "time_limit = 60\n"})  # fmt: skip
    began = time.monotonic()
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 4, sup.log()
    assert time.monotonic() - began < 30  # at once: no FIFO waited on until time_limit
    for name, (_, reason) in cases.items():
        row = job(conn, ids[name])
        if reason is None:
            assert row["status"] == "completed", (name, row["error_message"])
        else:
            assert (row["status"], row["retry_count"], row["error_message"]) == (
                "failed", 0, reason
            ), name  # fmt: skip
    # The handler reads the path that was checked: the symlink resolved inside the root.
    assert insight(conn, ids["inside"])["files"] == {str(root / "ok.csv"): "a,b\n1,2\n"}


def test_without_a_root_a_fifo_or_device_still_fails_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    os.mkfifo(tmp_path / "fifo")
    fifo = add_job(conn, "whoami", str(tmp_path / "fifo"))
    device = add_job(conn, "whoami", "/dev/zero")  # endless: it would fill memory
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 4, sup.log()
    assert job(conn, fifo)["error_message"] == f"not a regular file but a FIFO: {tmp_path}/fifo"
    assert (
        job(conn, device)["error_message"] == "not a regular file but a character device: /dev/zero"
    )
    assert job(conn, fifo)["retry_count"] == job(conn, device)["retry_count"] == 0


def test_start_refuses_a_root_that_is_not_a_directory(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, extra=f'[files]\nroot = "{tmp_path / "nope"}"\n')
    result = jobsup("start", "-c", str(config), env={"DATABASE_URL": db_url})
    assert result.returncode == 2
    assert result.stderr == f"jobsup: {config}: [files] root {tmp_path / 'nope'}: not a directory\n"


@as_root
def test_a_root_supervisor_runs_its_runners_as_the_configured_user(
    db_url: str,
    conn: Connection,
    tmp_path: Path,
    supervisors: Supervisors,
    shared_dir: Path,
    python_open_to_others: None,
) -> None:
    data = shared_dir / "data.csv"
    data.write_text("day,amount\n")
    data.chmod(0o644)
    nobody = pwd.getpwnam("nobody")
    as_user = add_job(conn, "whoami", str(data))
    config = write_config(tmp_path, runner_extra='user = "nobody"\n',
                          extra=f'[files]\nroot = "{shared_dir}"\n')  # fmt: skip
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 0, sup.log()
    seen = insight(conn, as_user)  # it could read its file and send its result
    assert (seen["uid"], seen["euid"]) == (nobody.pw_uid, nobody.pw_uid)
    assert (seen["gid"], seen["egid"]) == (nobody.pw_gid, nobody.pw_gid)
    assert seen["groups"] == sorted(os.getgrouplist("nobody", nobody.pw_gid))
    assert seen["home"] == nobody.pw_dir
    assert seen["files"] == {str(data): "day,amount\n"}
    # A group of its own, and a file the user may not read: a clear, permanent failure.
    daemon_gid = grp.getgrnam("daemon").gr_gid
    private = shared_dir / "private.csv"
    private.write_text("x\n")
    private.chmod(0o600)
    with_group = add_job(conn, "whoami")
    unreadable = add_job(conn, "whoami", str(private))
    config = write_config(tmp_path, runner_extra='user = "nobody"\ngroup = "daemon"\n')
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 4, sup.log()
    seen = insight(conn, with_group)
    assert (seen["uid"], seen["gid"], seen["egid"]) == (nobody.pw_uid, daemon_gid, daemon_gid)
    assert seen["groups"] == sorted(os.getgrouplist("nobody", daemon_gid))
    assert job(conn, unreadable)["error_message"] == (
        f"cannot read file {private}: Permission denied"
    )


@as_root
@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ("", "refusing to run jobs as root: set [runner] user (a user for the runners, e.g. a "
             "service account) or [runner] allow_root = true"),
        ('user = "no-such-user"', "[runner] user 'no-such-user': no such user"),
        ('user = "nobody"\ngroup = "no-such-group"', "[runner] group 'no-such-group': no such group"),
    ],
)  # fmt: skip
def test_a_root_supervisor_refuses_to_start_without_a_user_for_its_runners(
    tmp_path: Path, db_url: str, runner: str, message: str
) -> None:
    config = tmp_path / "root.toml"
    config.write_text(f"[runner]\n{runner}\n")
    for args in ((), ("--daemon",)):
        result = jobsup("start", *args, "-c", str(config), env={"DATABASE_URL": db_url})
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"jobsup: {config}: {message}\n"


def test_a_handler_comes_only_from_the_configuration(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "imported"
    (planted / "planted_handlers.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef run(job):\n    return None\n"
    )
    named_by_type = [enqueue(conn, job_type=kind) for kind in
                     ("planted_handlers:run", "planted_handlers", "os:system")]  # fmt: skip
    named_by_metadata = add_job(conn, "noop", handler="planted_handlers:run",
                                module="planted_handlers", job_type="planted_handlers:run")  # fmt: skip
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty",
                            env={"PYTHONPATH": str(planted)})  # fmt: skip
    assert sup.wait() == 0, sup.log()
    for job_id in named_by_type:  # not a configured type: never claimed, left pending
        assert (job(conn, job_id)["status"], job(conn, job_id)["attempts"]) == ("pending", [])
    assert status(conn, named_by_metadata) == "completed"
    assert not marker.exists()  # never imported, not even by the fork server


def test_the_state_directory_and_its_files_are_private(
    db_url: str, conn: Connection, tmp_path: Path
) -> None:
    home = Path(os.environ["JOBSUP_HOME"])
    assert not home.exists()
    config = write_config(tmp_path, extra='file = "supervisor.log"\n')  # in [logging]
    env = {"DATABASE_URL": db_url}
    started = jobsup("start", "--daemon", "-c", str(config), env=env)
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: (home / "supervisor.log").exists())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()}
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert modes["jobsup.pid"] == modes["jobsup.log"] == modes["supervisor.log"] == 0o640
        assert all(mode & 0o007 == 0 for mode in modes.values()), modes
    finally:
        assert jobsup("stop", env=env).returncode == 0
