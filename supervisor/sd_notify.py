"""The systemd notify protocol (sd_notify), spoken directly: one datagram per message to the
AF_UNIX socket in $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace).

Every function is a no-op when NOTIFY_SOCKET is unset (not under systemd, or Type=simple)
and never raises: telling systemd how we are must not be what stops the supervisor.
Each returns whether the message went out.

`jobsup start --daemon` listens the same way (`supervisor.ops.daemon`): until READY=1, every
message also goes to the socket of the process that started the daemon.
"""

from __future__ import annotations

import os
import socket
import time

ENVIRONMENT = "NOTIFY_SOCKET"


def ready(status_text: str | None = None) -> bool:
    """Start-up is done (the database is reached and its schema checked), or a reload is."""
    return send("READY=1" + (f"\nSTATUS={status_text}" if status_text else ""))


def status(text: str) -> bool:
    """A one-line state for `systemctl status`, e.g. "running, 3/4 slots busy, 12 pending"."""
    return send(f"STATUS={text}")


def watchdog() -> bool:
    """The main loop is alive (WatchdogSec=): send more often than watchdog_interval()."""
    return send("WATCHDOG=1")


def stopping(status_text: str | None = None) -> bool:
    """The drain has begun."""
    return send("STOPPING=1" + (f"\nSTATUS={status_text}" if status_text else ""))


def reloading() -> bool:
    """A reload (SIGHUP) has begun; send ready() when it is done. systemd wants the moment
    on CLOCK_MONOTONIC with it, to tell this reload from an earlier one."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return send(f"RELOADING=1\nMONOTONIC_USEC={usec}")


def status_text(state: str, running: int, slots: int, runnable: int | None = None) -> str:
    """The STATUS= line: `running, 3/4 slots busy, 12 pending` (pending when known)."""
    text = f"{state}, {running}/{slots} slots busy"
    return text if runnable is None else f"{text}, {runnable} pending"


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 messages (half of WatchdogSec=); None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


_starter: str | None = None  # the socket of `jobsup start --daemon`, waiting for READY=1


def tell_starter(address: str) -> None:
    """Send the messages up to READY=1 to `address` as well (beside any NOTIFY_SOCKET)."""
    global _starter
    _starter = address


def send(message: str) -> bool:
    """Send one notify message; False when there is no socket or it could not be sent."""
    global _starter
    if _starter is not None:
        _send_to(_starter, message)
        if "READY=1" in message.splitlines():
            _starter = None
    return _send_to(os.environ.get(ENVIRONMENT), message)


def _send_to(address: str | None, message: str) -> bool:
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # a full queue on systemd's side must not stall the loop
            sock.connect(address)
            sock.sendall(message.encode())
    except (OSError, ValueError, UnicodeError):  # ValueError: a NUL byte in the path
        return False
    return True
