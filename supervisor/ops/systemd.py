"""The systemd unit (`conf/jobsup.service`, `jobsup install-systemd`), rendered for where
jobsup is installed. The supervisor speaks the notify protocol itself (`supervisor.sd_notify`)."""

from __future__ import annotations

import math
import os
import pwd
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from supervisor.config import Config, JobType, load

SYSTEM_CONFIG = "/etc/jobsup/prod.toml"
SYSTEM_DIR = Path("/etc/systemd/system")
USER_DIR = Path("~/.config/systemd/user")
UNIT_NAME = "jobsup.service"

HEAD = """\
# jobsup: a PostgreSQL-backed job supervisor, one process per job.
# Written by `jobsup install-systemd`{user_flag}; timeouts and memory bound from
# {source}. The database is [database] url in the config, or DATABASE_URL=…
# in the optional EnvironmentFile below (%E is /etc, ~/.config for --user).

[Unit]
Description=jobsup job supervisor ({config})
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
# READY=1 once the database is reached and its schema checked; STATUS= with slots and queue,
# WATCHDOG=1 from the main loop, RELOADING=1 on SIGHUP, STOPPING=1 when the drain begins.
Type=notify
NotifyAccess=main
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM goes to the supervisor alone, which drains: runners finish within drain_timeout,
# then get SIGTERM, then SIGKILL after kill_timeout. The default (control-group) would
# SIGTERM every runner at once and defeat the drain. SIGKILL still reaches all at the end.
KillMode=mixed
{timeout}
# The kernel's OOM killer taking one runner is one failed attempt, not a failed service
# (the default, stop, would take the whole service down).
OOMPolicy=continue
Restart=on-failure
RestartSec=5
WatchdogSec=30
{identity}# %S is /var/lib (~/.local/state for a user unit): pidfile, log, embedded database.
StateDirectory=jobsup
StateDirectoryMode=0700
Environment=JOBSUP_HOME=%S/jobsup
EnvironmentFile=-%E/jobsup/jobsup.env
WorkingDirectory=%S/jobsup
UMask=0027
{memory}
"""

HARDENING = """\
# Hardening that leaves fork, process groups, signals and rlimits alone: runners still fork,
# allocate and are killed. Left out on purpose: MemoryDenyWriteExecute (handler libraries
# may JIT), SystemCallFilter (handlers vary), RestrictNamespaces (a handler's browser may
# sandbox itself in namespaces), PrivateUsers (a root supervisor drops runners to
# [runner] user). The file system is read-only but for the state directory (and /tmp,
# private): a handler that writes elsewhere needs a ReadWritePaths= of its own.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={writable}
# The embedded PostgreSQL's lock and, if its data path is long, its socket.
RuntimeDirectory=jobsup
RuntimeDirectoryMode=0700
Environment=XDG_RUNTIME_DIR=%t/jobsup
# read-only, not yes: this installation's Python may live under /home.
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
# Other users' processes are invisible (a supervisor watches only its own runners).
ProtectProc=invisible
RemoveIPC=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
"""

# A user manager cannot set up namespaces for most sandboxing options: only what works there.
USER_HARDENING = "NoNewPrivileges=yes\n"

# The original cron's unit was job_cron.service: `systemctl status job_cron` and
# `journalctl -u job_cron` keep working once the unit is enabled.
INSTALL = """
[Install]
WantedBy={target}
Alias=job_cron.service
"""

# Seconds after the drain and the runners' kill for the last results to be written (the
# supervisor gives that kill_timeout) and the fork server and database to close.
STOP_MARGIN = 10
# The supervisor, its fork server and an embedded PostgreSQL, beside the runners.
OWN_MEMORY_MB = 1024
# What PrivateTmp=yes replaces; named to warn of it, never written to.
PRIVATE_TMP = ("/tmp", "/var/tmp")  # nosec B108


def render(
    command: Sequence[str],
    config: Config | None = None,
    *,
    config_path: str = SYSTEM_CONFIG,
    user_mode: bool = False,
    run_as: str | None = "jobsup",
    start_args: tuple[str, ...] = (),
) -> str:
    """The unit's text: `command start -c config_path [start_args…]` under systemd, its
    stop timeout and memory bound derived from `config` (None: the defaults)."""
    config = config or load(None)
    source = str(config.path) if config.path else "the defaults"
    exec_start = " ".join(_quote(a) for a in (*command, "start", "-c", config_path, *start_args))
    identity = "" if user_mode or not run_as else f"User={run_as}\nGroup={run_as}\n"
    if identity and run_as != "root":  # root would need some to drop runners to [runner] user
        identity += "# Not root: no capabilities, none to gain.\nCapabilityBoundingSet=\n"
    return (
        HEAD.format(
            user_flag=" --user" if user_mode else "",
            source=source,
            config=config_path,
            exec_start=exec_start,
            identity=identity,
            timeout=stop_timeout(config),
            memory=memory_max(config),
        )
        + (USER_HARDENING if user_mode else HARDENING.format(writable=_writable(config)))
        + INSTALL.format(target="default.target" if user_mode else "multi-user.target")
    )


def stop_timeout(config: Config) -> str:
    """TimeoutStopSec= above the longest graceful stop, with where it comes from."""
    sup = config.supervisor
    seconds = math.ceil(sup.drain_timeout + 2 * sup.kill_timeout + STOP_MARGIN)
    return (
        f"# drain_timeout {sup.drain_timeout:g} s + kill_timeout {sup.kill_timeout:g} s "
        f"(SIGTERM to SIGKILL) + kill_timeout {sup.kill_timeout:g} s\n"
        f"# (the last results written) + {STOP_MARGIN} s: systemd never cuts a drain short.\n"
        f"TimeoutStopSec={seconds}"
    )


def memory_max(config: Config) -> str:
    """MemoryMax= above what the runners may hold at once, or why there is none."""
    types = _served(config)
    unlimited = [name for name, t in types.items() if not t.limits.memory_mb]
    if unlimited:
        return (
            f"# No MemoryMax=: job type {unlimited[0]} has no memory limit (memory_mb = 0), so\n"
            "# any bound here could undercut a runner."
        )
    name, per_runner = max(
        ((n, max(t.limits.memory_mb, t.limits.max_memory_mb)) for n, t in types.items()),
        key=lambda item: item[1],
    )
    slots = config.supervisor.slots
    where = "concurrency" if config.supervisor.concurrency else "concurrency = 0: this host's CPUs"
    return (
        f"# {slots} slots ({where}) x {per_runner} MB (the most a runner of {name} may use)\n"
        f"# + {OWN_MEMORY_MB} MB for the supervisor, its fork server and an embedded PostgreSQL:\n"
        "# the bound of the whole service, above every runner's own limit.\n"
        f"MemoryMax={slots * per_runner + OWN_MEMORY_MB}M"
    )


def check(
    config: Config,
    user_mode: bool,
    *,
    command: Sequence[str] = (),
    config_path: str = "",
    run_as: str | None = None,
) -> list[str]:
    """What the unit would hide from the supervisor that it relies on, one line each: a
    `[files] root`, the `jobsup` of ExecStart, the config file or Python under /tmp (the
    unit's PrivateTmp=yes replaces it), and those closed to the unit's `User=` (`run_as`)."""
    if user_mode:  # a user unit: no PrivateTmp, and the user who installs it runs it
        return []
    warnings = []
    root = config.files.root
    top = next((t for t in PRIVATE_TMP if _under(Path(root).absolute(), t)), None)
    if root and top is not None:
        warnings.append(
            f"[files] root {root} is under {top}, "
            "which the unit's PrivateTmp=yes replaces with an empty directory: jobs would find "
            "no files (keep uploads elsewhere, e.g. /srv/uploads)"
        )
    return warnings + _unreachable(_needed(command, config_path), run_as)


def _needed(command: Sequence[str], config_path: str) -> list[tuple[str, Path, int]]:
    """What the service must reach, with the access it needs: ExecStart's executable, the
    config file, Python (as named and where it really is) and its standard library."""
    python = Path(sys.executable)
    needed = [("ExecStart's", Path(command[0]), os.R_OK | os.X_OK)] if command else []
    if config_path and Path(config_path).exists():  # `prod` writes it afterwards
        needed.append(("the config file", Path(config_path), os.R_OK))
    needed += [
        ("Python", python, os.X_OK),
        ("Python", python.resolve(), os.X_OK),
        ("Python's standard library", Path(sysconfig.get_paths()["stdlib"]), os.R_OK | os.X_OK),
    ]
    return needed


def _unreachable(needed: list[tuple[str, Path, int]], run_as: str | None) -> list[str]:
    warnings: list[str] = []
    user = _service_user(run_as) if run_as and run_as != "root" else None
    said: set[Path] = set()  # one line per closed directory (Python and its library share one)
    for what, path, access in needed:
        top = next((t for t in PRIVATE_TMP if _under(path.absolute(), t)), None)
        if top is not None:
            warnings.append(
                f"{what} {path} is under {top}, which the unit's PrivateTmp=yes replaces with an "
                "empty directory: the service would not find it (install it elsewhere, e.g. /opt)"
            )
            continue
        closed = first_closed(path, *user[1:], access) if user else None
        if user is None or closed is None or closed in said:
            continue
        said.add(closed)
        mode = "o+x" if closed != path else "o+r" if access == os.R_OK else "o+rx"
        warnings.append(
            f"User={user[0]} cannot reach {what} {path}: {closed} is closed to it (open it, e.g. "
            f"chmod {mode} {closed}, or install jobsup and its Python where every user can read "
            "them, e.g. /usr/bin/python3 -m venv /opt/jobsup)"
        )
    return warnings


def _service_user(name: str) -> tuple[str, int, set[int]]:
    """The unit's user: its uid and groups; one that does not exist yet (`prod` creates it) is
    judged as any other user would be (no uid, no group of the files)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return f"{name} (no such user yet: judged as any other user)", -1, set()
    return name, entry.pw_uid, set(os.getgrouplist(name, entry.pw_gid))


def first_closed(path: Path, uid: int, gids: set[int], access: int) -> Path | None:
    """The first directory on the way to `path` that user `uid` (in groups `gids`) cannot
    enter, or `path` itself when it lacks `access` (os.R_OK | os.X_OK …); None when all is
    open or `path` does not exist. From the modes, as root reads them (ACLs aside)."""
    for step in [*reversed(path.parents), path]:
        try:
            info = step.stat()
        except OSError:
            return None
        if not _allowed(info, uid, gids, access if step == path else os.X_OK):
            return step
    return None


def _allowed(info: os.stat_result, uid: int, gids: set[int], access: int) -> bool:
    if uid == 0:
        return True
    shift = 6 if info.st_uid == uid else 3 if info.st_gid in gids else 0
    return (info.st_mode >> shift) & access == access


def _served(config: Config) -> dict[str, JobType]:
    return {name: config.job_types[name] for name in config.served()}


def _writable(config: Config) -> str:
    """The state directory, and the log file's directory when it lies elsewhere."""
    paths = ["%S/jobsup"]
    log = config.logging.file
    if log and Path(log).is_absolute():
        paths.append(_quote(str(Path(log).parent)))
    return " ".join(paths)


def _under(path: Path, top: str) -> bool:
    return path == Path(top) or Path(top) in path.parents


def command() -> list[str]:
    """The `jobsup` script of this installation (the venv's), else `python -m supervisor`."""
    script = Path(sys.executable).with_name("jobsup")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "supervisor"]


def unit_path(user_mode: bool) -> Path:
    return (USER_DIR.expanduser() if user_mode else SYSTEM_DIR) / UNIT_NAME


def _quote(arg: str) -> str:
    """An ExecStart word: systemd splits on spaces and honours double quotes, and expands
    `%` and `$`, which a path must not trigger."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \t\"'\\"):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped
