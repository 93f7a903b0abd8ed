"""Rate limit and fair share with real supervisors, the issue's figures (issue 26):

    JOBSUP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/bench_flow.py              # 30 s at 10/second
    .venv/bin/python scripts/bench_flow.py --seconds 10     # shorter

- rate: 4 supervisors x 8 slots serving diag.noop with rate_limit = "10/second" (poll
  interval 30 s: only the window's reopening wakes them); over SECONDS from the first start,
  the most starts in any 1-second window (the jobs' started_at: the database's clock, as the
  claims stamped them) and the starts per second as a share of the limit;
- fair: 1 key with 1,000 jobs enqueued first, then 9 keys with 10 each, one supervisor with
  one slot: the place of each key's first job among the starts.

On a scratch database ($JOBSUP_BENCH_DATABASE_URL's server, else embedded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchlib.common import scratch_database, supervisor, write_config

from supervisor.client.enqueue import enqueue_many
from supervisor.db.connect import Connection, connect

CONFIG = """
[supervisor]
concurrency = {concurrency}
interval = 30.0
[job_types."diag.noop"]
handler = "runner.diag:noop"
{extra}
"""


def most_in_a_window(starts: list[float], period: float) -> int:
    """The most starts within any closed window of `period` seconds (sorted `starts`)."""
    most, first = 0, 0
    for last, at in enumerate(starts):
        while at - starts[first] > period:
            first += 1
        most = max(most, last - first + 1)
    return most


def _starts(conn: Connection) -> list[tuple[float, str | None]]:
    with conn.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM started_at)::float8, fair_key FROM processing_jobs "
                    "WHERE started_at IS NOT NULL ORDER BY started_at")  # fmt: skip
        return list(cur.fetchall())


def rate(url: str, directory: Path, seconds: float, limit: int) -> None:
    config = write_config(directory, CONFIG.format(
        concurrency=8, extra=f'rate_limit = "{limit}/second"'))  # fmt: skip
    conn = connect(url)
    procs = [supervisor(url, config) for _ in range(4)]
    try:
        time.sleep(3.0)  # registered and idle
        enqueue_many(conn, [{"job_type": "diag.noop"} for _ in range(int(limit * (seconds + 5)))])
        deadline = time.monotonic() + seconds + 60
        while True:
            starts = [at for at, _ in _starts(conn)]
            if starts and starts[-1] >= starts[0] + seconds:
                break
            if time.monotonic() > deadline:
                raise SystemExit("rate: the jobs did not start")
            time.sleep(0.5)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    within = [at for at in starts if at < starts[0] + seconds]
    share = len(within) / (limit * seconds)
    print(f"rate: {limit}/second, 4 supervisors x 8 slots, {seconds:g} s: {len(within)} "
          f"started = {share:.1%} of the limit; at most {most_in_a_window(starts, 1.0)} in any "
          f"1 s window")  # fmt: skip
    conn.close()


def fair(url: str, directory: Path) -> None:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs CASCADE")
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "big"} for _ in range(1000)])
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": f"k{k}"} for k in range(9)
                        for _ in range(10)])  # fmt: skip
    config = write_config(directory, CONFIG.format(concurrency=1, extra=""))
    proc = supervisor(url, config)
    try:
        while len(_starts(conn)) < 30:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait()
    keys = [key for _, key in _starts(conn)]
    first = {key: keys.index(key) + 1 for key in dict.fromkeys(keys)}
    print(
        f"fair: 1 key x 1,000 + 9 keys x 10, one slot: each key's first job started at "
        f"place {', '.join(f'{k} {n}' for k, n in first.items())} (of {len(keys)} starts)"
    )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    with scratch_database() as url, tempfile.TemporaryDirectory() as directory:
        rate(url, Path(directory), args.seconds, args.limit)
        fair(url, Path(directory))


if __name__ == "__main__":
    main()
