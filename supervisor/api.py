"""jobsup's Python API: everything an application or a handler imports, from one place.

Application side (on the application's own psycopg2 or psycopg 3 connection):

    enqueue(conn, file_path | file_id=… (one or a list), description=…, job_type=…,
            priority=…, metadata=…, run_at=… | delay=…, unique_key=…,
            fair_key=…) -> job id                      fair_key: round-robin across keys
    enqueue(…, after=[job id, …], on_parent_failure="fail" | "run")   wait for other jobs
    enqueue_many(conn, [NewJob, …]) -> job ids        one statement, one wake-up per type
                                                      (`after` may give indexes in the list)
    enqueue_batch(conn, jobs=[NewJob, …], then=NewJob) -> Batch (id, job_ids, then_id)
    wait(conn, job_id, timeout=None, on_progress=None) -> JobResult  status, error, insights
                                                      (a batch id: its then-job's, at the end)
    wait_all(conn, job_ids, timeout=None, on_progress=None) -> [JobResult]
                                                      (a batch id: each of its jobs')
    NewJob, JobResult, Progress, WaitTimeout (a TimeoutError), UnknownJob, UnknownFile,
    UnknownParent

Handler side (what a runner gives a handler, and what a handler raises):

    Job (its `parents`: a Parent for each job it waited for; job.progress(done, total,
    note), job.step(name, fn, *args)), PermanentFailure, SoftTimeLimitExceeded, Retry (run
    again after a delay, at a time (until=…) or as a Retry-After header says
    (Retry.after(…)), no attempt spent), StepError

Neither side imports a database driver (the application's connection is used as it is),
so a handler module may import from here too: the fork server that preloads it stays lean.
"""

from __future__ import annotations

from runner import Job, Parent, PermanentFailure, Retry, SoftTimeLimitExceeded
from runner.flow import StepError
from supervisor.client.batch import Batch, enqueue_batch
from supervisor.client.edges import UnknownParent
from supervisor.client.enqueue import NewJob, UnknownFile, enqueue, enqueue_many
from supervisor.client.wait import JobResult, Progress, UnknownJob, WaitTimeout, wait, wait_all

__all__ = [
    "Batch",
    "Job",
    "JobResult",
    "NewJob",
    "Parent",
    "PermanentFailure",
    "Progress",
    "Retry",
    "SoftTimeLimitExceeded",
    "StepError",
    "UnknownFile",
    "UnknownJob",
    "UnknownParent",
    "WaitTimeout",
    "enqueue",
    "enqueue_batch",
    "enqueue_many",
    "wait",
    "wait_all",
]
