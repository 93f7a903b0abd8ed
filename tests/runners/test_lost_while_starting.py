"""A claim taken away (the seed's reset SQL, a peer's reclaim, a cancel) while its runner is
still being started: the handler never runs, however late the loop reads the fork server's
answer. Real fork server, real runner; no PostgreSQL."""

from __future__ import annotations

import selectors
import time
from pathlib import Path

from supervisor import config as configuration
from supervisor.identity import Identity
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.outcome import Kind, Outcome
from supervisor.runners.pool import Pool
from supervisor.runners.state import KillReason

CONFIG = """\
[runner]
allow_root = true

[job_types.chaos]
handler = "runner.diag:chaos"
"""


def _reaped(pool: Pool, selector: selectors.BaseSelector, timeout: float = 15.0) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while pool and time.monotonic() < deadline:
        for key, _ in selector.select(0.05):
            if key.data is not pool.forkserver:
                pool.read(key.data, key.fd)
        outcomes += pool.reap()
    return outcomes + pool.reap()


def test_a_runner_whose_claim_is_lost_before_it_starts_never_runs_its_handler(
    tmp_path: Path,
) -> None:
    (tmp_path / "jobsup.toml").write_text(CONFIG)
    config = configuration.load(tmp_path / "jobsup.toml")
    selector = selectors.DefaultSelector()
    pool = Pool(config, selector, Identity.new(), served=("chaos",))
    record = tmp_path / "executions.jsonl"
    job = ClaimedJob("11111111-1111-4111-8111-111111111111", 7, "chaos", None,
                     {"record": str(record), "seconds": 0.5}, 0, None, False)  # fmt: skip
    try:
        pool.start(job, time.monotonic())
        # Known lost before the fork server has answered: the loop marks it to be killed...
        pool.kill_claim(job.id, job.lease, KillReason.LOST, "the job was reset: runner killed")
        # ...and reads the answer (the runner's pid) only a while later, busy elsewhere.
        time.sleep(1.5)
        (outcome,) = _reaped(pool, selector)
    finally:
        pool.kill_all()
        _reaped(pool, selector)
        pool.sweep()
        selector.close()
    assert outcome.kind is Kind.LOST
    assert not record.exists(), record.read_text()  # no line: the handler never started
