"""One of the benchmark's scratch databases: its connection, and a supervisor run on it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from supervisor.db.connect import connect

from . import fill
from .common import supervisor
from .cpu import Meter, Split


class BenchDb:
    def __init__(self, url: str, config: Path) -> None:
        self.url = url
        self.config = config
        self.name = url.rsplit("/", 1)[1]
        self.conn = connect(url)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        return supervisor(self.url, self.config, *args)

    def run(self, *args: str, until: Callable[[], bool] | None = None) -> Split:
        """A supervisor with `args`, to its exit; the CPU each part spent."""
        process = self.start(*args)
        split = Meter(process, self.name).run(until)
        if process.returncode != 0:
            raise SystemExit(f"supervisor {' '.join(args)} exited {process.returncode}")
        return split

    def rate(self, since: float, job_type: str = fill.SERVED) -> tuple[int, float]:
        """Jobs of `job_type` completed that started after `since` (epoch s), and their
        rate (jobs/s, first start to last completion, from the jobs' own timestamps)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), extract(epoch FROM max(completed_at) - min(started_at)) "
                "FROM processing_jobs WHERE status = 'completed' AND job_type = %s "
                "AND started_at >= to_timestamp(%s)",
                (job_type, since),
            )
            count, seconds = cur.fetchone()  # type: ignore[misc]
        return count, count / float(seconds) if count else 0.0

    def drop_ran(self, since: float) -> None:
        """The jobs that ran since `since`: the next run starts at the same depth."""
        with self.conn.cursor() as cur:
            cur.execute(
                "DELETE FROM processing_jobs WHERE started_at >= to_timestamp(%s)", (since,)
            )

    def close(self) -> None:
        self.conn.close()
