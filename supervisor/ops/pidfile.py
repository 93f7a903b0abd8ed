"""`<state_dir>/jobsup.pid`: which supervisor runs from this state directory.

The file holds the pid alone (what systemd's PIDFile= and `kill $(cat …)` expect). It is
created whole or not at all (written aside, then hard-linked into place, which fails if the
name exists), and it names a live supervisor only if that process started before the file
was written: a pid reused by a later process reads as stale.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from supervisor import statedir
from supervisor.errors import JobsupError

NAME = "jobsup.pid"
# Beside it, while it names a supervisor: the database that supervisor uses, its URL masked
# (never a password), so that `jobsup stop` counts its jobs there or says it cannot.
DATABASE_NAME = "jobsup.database"
# create_time() and st_mtime come from different clocks' roundings.
CLOCK_SLACK = 1.0


def path(state_dir: Path) -> Path:
    return state_dir / NAME


def read(pidfile: Path) -> int | None:
    """The pid in `pidfile`; None when there is no file or no pid in it."""
    try:
        text = pidfile.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def running(pidfile: Path) -> int | None:
    """The pid of the live process `pidfile` names, or None (no file, or a stale one)."""
    pid = read(pidfile)
    if pid is None:
        return None
    try:
        written = pidfile.stat().st_mtime
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE
        started = process.create_time()
    except (FileNotFoundError, psutil.NoSuchProcess):
        return None
    except psutil.AccessDenied:  # another user's process: it exists, take it as ours
        return pid
    return pid if alive and started <= written + CLOCK_SLACK else None


class AlreadyRunning(JobsupError):
    def __init__(self, pidfile: Path, pid: int) -> None:
        super().__init__(
            f"a supervisor already runs from {pidfile.parent} (pid {pid}, {pidfile}): "
            "`jobsup stop` stops it, or set JOBSUP_HOME to use another state directory"
        )


def acquire(pidfile: Path) -> None:
    """Write this process's pid to `pidfile`; AlreadyRunning if a live supervisor holds it.

    A stale file (its process is gone) is replaced.
    """
    statedir.ensure(pidfile.parent)
    # A name of its own (not the pid: supervisors in other pid namespaces may share the
    # directory and the number), with the state directory's file mode.
    fd, name = tempfile.mkstemp(prefix=f".{pidfile.name}.", dir=pidfile.parent)
    draft = Path(name)
    os.fchmod(fd, statedir.PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        with _locked(pidfile):  # two starts at once: one judges the old file at a time
            if not _link(draft, pidfile):
                pid = running(pidfile)
                if pid is not None:
                    raise AlreadyRunning(pidfile, pid)
                pidfile.unlink(missing_ok=True)
                if not _link(draft, pidfile):
                    raise JobsupError(f"{pidfile}: cannot replace the stale pidfile")
    finally:
        draft.unlink(missing_ok=True)


def release(pidfile: Path) -> None:
    """Remove `pidfile` (and the database noted beside it) if it names this process."""
    if read(pidfile) == os.getpid():
        database_path(pidfile).unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)


def database_path(pidfile: Path) -> Path:
    return pidfile.with_name(DATABASE_NAME)


def note_database(pidfile: Path, masked_url: str) -> None:
    """Write beside `pidfile` which database its supervisor uses (`masked_url`: no password),
    if `pidfile` names this process (a supervisor without the pidfile notes nothing)."""
    if read(pidfile) != os.getpid():
        return
    path = database_path(pidfile)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, statedir.PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        f.write(f"{masked_url}\n")
    os.replace(name, path)


def database(pidfile: Path) -> str | None:
    """The database (its URL masked) the supervisor `pidfile` names noted it uses, if any."""
    try:
        return database_path(pidfile).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def remove_stale(pidfile: Path) -> int | None:
    """Remove `pidfile` if it names a process that is gone; the pid it named."""
    if read(pidfile) is None:
        return None
    with _locked(pidfile):
        pid = read(pidfile)
        if pid is None or running(pidfile) is not None:
            return None
        database_path(pidfile).unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)
        return pid


@contextmanager
def held(pidfile: Path) -> Iterator[None]:
    """`pidfile` names this process for the length of the block."""
    acquire(pidfile)
    try:
        yield
    finally:
        release(pidfile)


def _link(draft: Path, pidfile: Path) -> bool:
    try:
        os.link(draft, pidfile)
    except FileExistsError:
        return False
    return True


@contextmanager
def _locked(pidfile: Path) -> Iterator[None]:
    lock = pidfile.with_name(pidfile.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, statedir.PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with suppress(OSError):
            os.close(fd)
