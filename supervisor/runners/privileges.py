"""Who runners run as (`[runner] user`, `group`, `allow_root`) and which files they may read
(`[files] root`), checked when the supervisor starts and on every reload."""

from __future__ import annotations

import functools
import grp
import os
import pwd
from pathlib import Path

from runner.job import RunAs
from supervisor.config import Config
from supervisor.errors import ConfigError


def check(config: Config) -> None:
    """ConfigError, in one line, when runners could not run as configured: a root supervisor
    without `[runner] user` (unless `allow_root`), an unknown user or group, a user only root
    can become, or a `[files] root` that is not a directory."""
    where = config.path or "configuration"
    run_as(config)
    if os.geteuid() == 0 and not config.runner.user and not config.runner.allow_root:
        raise ConfigError(
            f"{where}: refusing to run jobs as root: set [runner] user (a user for the "
            "runners, e.g. a service account) or [runner] allow_root = true"
        )
    root = files_root(config)
    if root is not None and not Path(root).is_dir():
        raise ConfigError(f"{where}: [files] root {root}: not a directory")


def run_as(config: Config) -> RunAs | None:
    """The user runners become; None when they stay who the supervisor is."""
    return _run_as(config.runner.user, config.runner.group, str(config.path or "configuration"))


def files_root(config: Config) -> str | None:
    """`[files] root` as an absolute path (relative to where the supervisor starts); None when
    files are not confined."""
    root = config.files.root
    return str(Path(root).expanduser().absolute()) if root else None


@functools.lru_cache(maxsize=8)  # looked up for every runner: /etc/group is read once
def _run_as(user: str, group: str, where: str) -> RunAs | None:
    if not user:
        if group:
            raise ConfigError(f"{where}: [runner] group {group!r} needs [runner] user too")
        return None
    entry = _user(user, where)
    gid = _group(group, where) if group else entry.pw_gid
    if os.geteuid() != 0:
        if entry.pw_uid == os.geteuid() and gid == os.getegid():
            return None  # already who runners are to be
        raise ConfigError(
            f"{where}: [runner] user {user!r}: only a supervisor started as root can run "
            f"runners as another user (this one runs as uid {os.geteuid()})"
        )
    groups = tuple(os.getgrouplist(entry.pw_name, gid))
    return RunAs(entry.pw_name, entry.pw_uid, gid, groups, entry.pw_dir)


def _user(name: str, where: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"{where}: [runner] user {name!r}: no such user") from None


def _group(name: str, where: str) -> int:
    try:
        return grp.getgrgid(int(name)).gr_gid if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"{where}: [runner] group {name!r}: no such group") from None
