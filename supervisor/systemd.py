"""The systemd unit (`conf/jobsup.service`, `jobsup install-systemd`), rendered for where
jobsup is installed. The supervisor speaks the notify protocol itself (`supervisor.notify`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

SYSTEM_CONFIG = "/etc/jobsup/prod.toml"
SYSTEM_DIR = Path("/etc/systemd/system")
USER_DIR = Path("~/.config/systemd/user")
UNIT_NAME = "jobsup.service"

HEAD = """\
# jobsup: a PostgreSQL-backed job supervisor, one process per job.
# Written by `jobsup install-systemd`{user_flag}. The database is [database] url in the config,
# or DATABASE_URL=… in the optional EnvironmentFile below (%E is /etc, ~/.config for --user).

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
# Above drain_timeout (60 s) + kill_timeout (10 s) + writing the last results.
TimeoutStopSec=90
# The kernel's OOM killer taking one runner is one failed attempt, not a failed service
# (the default, stop, would take the whole service down).
OOMPolicy=continue
Restart=on-failure
RestartSec=5
WatchdogSec=30
{identity}# %S is /var/lib (~/.local/state for a user unit): pidfile, log, embedded database.
StateDirectory=jobsup
Environment=JOBSUP_HOME=%S/jobsup
EnvironmentFile=-%E/jobsup/jobsup.env
WorkingDirectory=%S/jobsup
# The outer bound for the supervisor and all its runners: above concurrency x memory_mb.
MemoryMax=8G
"""

HARDENING = """\
# Hardening that leaves fork, process groups, signals and rlimits alone. Left out on purpose:
# ProtectControlGroups (hard_memory may write the runners' cgroup memory.max),
# MemoryDenyWriteExecute (handler libraries may JIT), SystemCallFilter (handlers vary).
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
ProtectHome=read-only
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
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


def render(
    command: Sequence[str],
    config: str = SYSTEM_CONFIG,
    *,
    user_mode: bool = False,
    run_as: str | None = "jobsup",
    start_args: tuple[str, ...] = (),
) -> str:
    """The unit's text: `command start -c config [start_args…]` under systemd."""
    exec_start = " ".join(_quote(a) for a in (*command, "start", "-c", config, *start_args))
    identity = "" if user_mode or not run_as else f"User={run_as}\nGroup={run_as}\n"
    return (
        HEAD.format(
            user_flag=" --user" if user_mode else "",
            config=config,
            exec_start=exec_start,
            identity=identity,
        )
        + (USER_HARDENING if user_mode else HARDENING)
        + INSTALL.format(target="default.target" if user_mode else "multi-user.target")
    )


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
