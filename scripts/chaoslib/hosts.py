"""Where the chaos run's supervisors live: this host, or simulated hosts of their own.

With `--netns` each simulated host is a network namespace joined to this one by a veth pair
(PostgreSQL listens on the host-side address), a UTS namespace with its own hostname and a
pid namespace, held open by a small init process. A supervisor (re)started on that host
enters all three, so it sees its own host's processes only, and its host key (boot id + pid
namespace, `supervisor/identity.py`) differs from every other host's while staying the same
across its restarts, as a real host's does.

Every namespace and link is named `jobsup-chaos-<pid>-<n>` / `jc<pid>h<n>`, `jc<pid>n<n>`
after the chaos run that made it, so a later run sweeps those of runs that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

NETNS = re.compile(r"^jobsup-chaos-(\d+)-\d+$")
LINK = re.compile(r"^jc(\d+)[hn]\d+$")
LOCK = Path("/run/lock/jobsup-chaos.lock")
SUPERNET = ipaddress.IPv4Network("10.213.0.0/16")  # one /24 of it per run, four addresses a host

# pid 1 of a simulated host: names the host, reaps orphans, ends (taking the host's
# processes with it) on SIGTERM.
INIT = """
import os, signal, socket, sys, time
socket.sethostname(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
"""


class NamespaceError(Exception):
    """Namespaces cannot be made here (not root, no `ip`, no `unshare`)."""


@dataclass
class Host:
    """Where one supervisor runs: its hostname and the address it reaches PostgreSQL at."""

    index: int
    hostname: str
    db_address: str  # on this host's side: PostgreSQL and the proxies listen there
    netns: str | None = None
    link: str | None = None  # the host-side end of the veth pair
    peer: str | None = None  # the simulated host's end
    init: subprocess.Popen[bytes] | None = None
    init_pid: int | None = None  # as this host sees it

    def command(self, argv: list[str], cwd: Path) -> list[str]:
        """`argv` to run on this host."""
        if self.init_pid is None:
            return argv
        return ["nsenter", f"--target={self.init_pid}", "--net", "--uts", "--pid", "--mount",
                f"--wd={cwd}", "--", *argv]  # fmt: skip

    def set_link(self, up: bool, side: str) -> None:
        """Take the link down or up, on the simulated host's end or this host's."""
        state = "up" if up else "down"
        if side == "peer":
            _ip("-n", str(self.netns), "link", "set", str(self.peer), state)
        else:
            _ip("link", "set", str(self.link), state)


@dataclass
class Network:
    """The simulated hosts of one run (none: every supervisor on this host)."""

    hosts: list[Host] = field(default_factory=list)
    subnet: ipaddress.IPv4Network | None = None

    @property
    def trusted(self) -> list[str]:
        return ["127.0.0.1/32"] + ([str(self.subnet)] if self.subnet else [])

    @classmethod
    def local(cls, count: int) -> Network:
        name = socket.gethostname()
        return cls([Host(i, name, "127.0.0.1") for i in range(count)])

    @classmethod
    def namespaces(cls, count: int) -> Network:
        """`count` simulated hosts; NamespaceError when they cannot be made."""
        check_namespaces()
        sweep()
        network = cls()
        try:
            with _lock():
                network.subnet = _free_subnet()
                for i in range(count):
                    network.hosts.append(_make_host(i, network.subnet))
            for host in network.hosts:
                _start_init(host)
        except BaseException:
            network.destroy()
            raise
        return network

    def destroy(self) -> None:
        """End every host's processes, delete its namespace and its link."""
        for host in self.hosts:
            if host.init is not None:
                _end(host.init, host.init_pid)
            if host.netns is not None:
                _kill_netns_processes(host.netns)
                _ip("netns", "delete", host.netns, check=False)
            if host.link is not None:
                _ip("link", "delete", host.link, check=False)


def check_namespaces() -> None:
    if os.geteuid() != 0:
        raise NamespaceError("--netns needs root (network, UTS and pid namespaces)")
    for program in ("ip", "unshare", "nsenter"):
        if not any(Path(d, program).exists() for d in os.get_exec_path()):
            package = "iproute2" if program == "ip" else "util-linux"
            raise NamespaceError(f"--netns needs `{program}` (Debian package {package})")


def sweep() -> None:
    """Delete the namespaces and links left by chaos runs that are gone."""
    for line in _ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.strip() else ""
        match = NETNS.match(name)
        if match and not _run_alive(int(match.group(1))):
            _kill_netns_processes(name)
            _ip("netns", "delete", name, check=False)
    for link in json.loads(_ip("-j", "link", "show", check=False) or "[]"):
        match = LINK.match(link.get("ifname", ""))
        if match and not _run_alive(int(match.group(1))):
            _ip("link", "delete", link["ifname"], check=False)


def _run_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        return any("chaos" in part for part in psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _make_host(index: int, subnet: ipaddress.IPv4Network) -> Host:
    pid = os.getpid()
    pair = list(subnet.subnets(new_prefix=30))[index]
    ours, theirs = f"{pair[1]}", f"{pair[2]}"
    host = Host(index, f"chaos-{pid}-{index}", ours, netns=f"jobsup-chaos-{pid}-{index}")
    _ip("netns", "add", str(host.netns))
    host.link, host.peer = f"jc{pid}h{index}", f"jc{pid}n{index}"
    _ip("link", "add", host.link, "type", "veth", "peer", "name", host.peer,
        "netns", str(host.netns))  # fmt: skip
    _ip("addr", "add", f"{ours}/30", "dev", host.link)
    _ip("link", "set", host.link, "up")
    _ip("-n", str(host.netns), "addr", "add", f"{theirs}/30", "dev", host.peer)
    _ip("-n", str(host.netns), "link", "set", host.peer, "up")
    _ip("-n", str(host.netns), "link", "set", "lo", "up")
    return host


def _start_init(host: Host) -> None:
    argv = ["ip", "netns", "exec", str(host.netns), "unshare", "--uts", "--pid", "--fork",
            "--mount-proc", "--", sys.executable, "-c", INIT, host.hostname]  # fmt: skip
    host.init = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while host.init_pid is None:
        for child in psutil.Process(host.init.pid).children(recursive=True):
            if ns_pid(child.pid) == 1:
                host.init_pid = child.pid
        if host.init_pid is None:
            if time.monotonic() > deadline or host.init.poll() is not None:
                raise NamespaceError(f"host {host.hostname}: its init did not start")
            time.sleep(0.02)


def ns_pid(pid: int) -> int | None:
    """`pid` as its own pid namespace numbers it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def _end(process: subprocess.Popen[bytes], pid: int | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid or process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _kill_netns_processes(name: str) -> None:
    for pid in _ip("netns", "pids", name, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of SUPERNET that no address or route of this host overlaps."""
    taken = []
    for entry in json.loads(_ip("-j", "-4", "addr", "show") or "[]"):
        for info in entry.get("addr_info", []):
            taken.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", False))
    for route in json.loads(_ip("-j", "-4", "route", "show", "table", "all") or "[]"):
        if route.get("dst") not in (None, "default"):
            taken.append(ipaddress.ip_network(route["dst"], False))
    for subnet in SUPERNET.subnets(new_prefix=24):
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise NamespaceError(f"no free /24 left in {SUPERNET} for the simulated hosts")


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """Runs at once choose their subnets one after the other."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout
