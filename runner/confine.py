"""Least privilege inside a runner: become the configured user, and touch only the files a
job may read (regular files, inside `[files] root` when one is set)."""

from __future__ import annotations

import os
import signal
import stat

from runner import linux
from runner.errors import PermanentFailure
from runner.job import RunAs
from runner.protocol import Exit

# What a path may be instead of a regular file; opening some of them blocks (a FIFO with no
# writer) or acts (a tape device rewinds), so they are refused on their stat alone.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_files(paths: tuple[str, ...], root: str | None) -> tuple[str, ...]:
    """The paths the handler is to read: each checked to be a readable regular file and, with
    a `root`, resolved (symlinks and `..`) to lie inside it. PermanentFailure otherwise."""
    real_root = os.path.realpath(root) if root else None
    return tuple(_check_file(path, real_root) for path in paths)


def _check_file(path: str, root: str | None) -> str:
    target = path
    if root is not None:
        target = os.path.realpath(path)
        if os.path.commonpath([root, target]) != root:
            shown = path if target == path else f"{path} (resolves to {target})"
            raise PermanentFailure(f"file outside [files] root {root}: {shown}")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        raise PermanentFailure(f"file not found: {path}") from None
    except OSError as e:
        raise PermanentFailure(f"cannot read file {path}: {e.strerror}") from None
    _require_regular(mode, path)
    try:  # non-blocking: should it have become a FIFO since the stat, the open does not wait
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise PermanentFailure(f"cannot read file {path}: {e.strerror}") from None
    try:
        _require_regular(os.fstat(fd).st_mode, path)
    finally:
        os.close(fd)
    return target


def _require_regular(mode: int, path: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    raise PermanentFailure(f"not a regular file but {kind}: {path}")


def drop_privileges(run_as: RunAs, parent_pid: int) -> None:
    """Become `run_as` for good (groups, then group, then user); its HOME in the environment.

    Changing credentials clears the parent-death signal: armed again, and if the parent died
    in between, the runner leaves at once.
    """
    os.setgroups(list(run_as.groups))
    os.setresgid(run_as.gid, run_as.gid, run_as.gid)
    os.setresuid(run_as.uid, run_as.uid, run_as.uid)
    os.environ["HOME"] = run_as.home
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(Exit.PARENT_GONE)
