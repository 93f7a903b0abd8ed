"""The run's PgBouncer (Debian's), between the supervisors' proxies and PostgreSQL, in one
pool mode (`--pgbouncer transaction|session`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg2

CONFIG = """[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = {listen_addr}
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = {mode}
default_pool_size = {pool}
max_client_conn = 500
server_reset_query = DISCARD ALL
server_connect_timeout = 2
server_login_retry = 1
"""


class PgBouncer:
    def __init__(self, directory: Path, mode: str, host: str, port: int, supervisors: int,
                 concurrency: int) -> None:  # fmt: skip
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("--pgbouncer needs Debian's pgbouncer (apt-get install pgbouncer)")
        self.mode = mode
        self.host = host
        self.port = _free_port(host)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)  # read by the user it runs as
        users = directory / "users.txt"
        users.write_text('"postgres" ""\n')
        ini = directory / "pgbouncer.ini"
        # Transaction mode: fewer server connections than clients, so that they share them.
        pool = max(2, supervisors) if mode == "transaction" else 4 * supervisors + 20
        ini.write_text(CONFIG.format(host=host, port=port, listen_addr=host,
                                     listen_port=self.port, users=users, mode=mode,
                                     pool=pool))  # fmt: skip
        for path in (users, ini):
            path.chmod(0o644)
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        self.log = directory / "pgbouncer.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([binary, *as_user, str(ini)], stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        url = f"postgresql://postgres@{self.host}:{self.port}/chaos"
        while True:
            try:
                psycopg2.connect(url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {self.log.read_text()}") from None
                time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
