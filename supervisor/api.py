"""jobsup's Python API: everything an application or a handler imports, from one place.

Application side (on the application's own psycopg2 or psycopg 3 connection):

    enqueue(conn, file_path | file_id=… (one or a list), description=…, job_type=…,
            priority=…, metadata=…, run_at=… | delay=…, unique_key=…,
            fair_key=…) -> job id                      fair_key: round-robin across keys
    enqueue_many(conn, [NewJob, …]) -> job ids        one statement, one wake-up per type
    wait(conn, job_id, timeout=None) -> JobResult      status, error, insights
    wait_all(conn, job_ids, timeout=None) -> [JobResult]
    NewJob, JobResult, WaitTimeout (a TimeoutError), UnknownJob, UnknownFile

Handler side (what a runner gives a handler, and what a handler raises):

    Job, PermanentFailure, SoftTimeLimitExceeded, Retry (run again after a delay, at a
    time (until=…) or as a Retry-After header says (Retry.after(…)), no attempt spent)

Neither side imports a database driver (the application's connection is used as it is),
so a handler module may import from here too: the fork server that preloads it stays lean.
"""

from __future__ import annotations

from runner import Job, PermanentFailure, Retry, SoftTimeLimitExceeded
from supervisor.client.enqueue import NewJob, UnknownFile, enqueue, enqueue_many
from supervisor.client.wait import JobResult, UnknownJob, WaitTimeout, wait, wait_all

__all__ = [
    "Job",
    "JobResult",
    "NewJob",
    "PermanentFailure",
    "Retry",
    "SoftTimeLimitExceeded",
    "UnknownFile",
    "UnknownJob",
    "WaitTimeout",
    "enqueue",
    "enqueue_many",
    "wait",
    "wait_all",
]
