-- The statements the supervisor runs, one place for a DBA to read them whole.
-- Each starts with `-- name: <name>`; values are always parameters (%(name)s).

-- name: claim
-- Up to %(limit)s runnable jobs for this supervisor, highest priority first, then the ones
-- runnable longest. Index: jobsup_jobs_claim (priority DESC, run_at) WHERE status='pending'.
-- SKIP LOCKED: supervisors claiming at the same moment take different rows, never wait.
-- A NULL job_type is the original cron's 'analysis'.
WITH next AS (
    SELECT id FROM processing_jobs
    WHERE status = 'pending'
      AND run_at <= now()
      AND (%(all_types)s
           OR coalesce(job_type, 'analysis') = ANY(%(job_types)s::text[]))
    ORDER BY priority DESC, run_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE processing_jobs j
SET status = 'processing', started_at = now(), updated_at = now(),
    worker_id = %(worker_id)s, runner_pid = NULL
FROM next
WHERE j.id = next.id
RETURNING j.id::text, coalesce(j.job_type, 'analysis') AS job_type, j.business_description,
          coalesce(j.metadata, '{}'::jsonb) AS metadata, coalesce(j.retry_count, 0) AS retry_count,
          (SELECT f.file_path FROM files f WHERE f.id = j.file_id) AS file_path,
          j.file_id IS NOT NULL AS has_file, j.priority;

-- name: next_due
-- When the earliest pending job this supervisor could run falls due (NULL: none pending).
-- Index: jobsup_jobs_due (run_at) WHERE status='pending'.
SELECT min(run_at) - now() AS wait FROM processing_jobs
WHERE status = 'pending'
  AND (%(all_types)s OR coalesce(job_type, 'analysis') = ANY(%(job_types)s::text[]));

-- name: runnable_within
-- Is any pending job of ours due within %(seconds)s? (--until-empty)
SELECT EXISTS (
    SELECT 1 FROM processing_jobs
    WHERE status = 'pending'
      AND run_at <= now() + make_interval(secs => %(seconds)s)
      AND (%(all_types)s OR coalesce(job_type, 'analysis') = ANY(%(job_types)s::text[]))
);

-- name: finish
-- Write the outcome of finished attempts and the insights of completed ones, in one
-- statement (so one transaction and one round trip), only where this supervisor still owns
-- the job: a job reclaimed from under it is never written twice. Primary-key lookups.
-- status: completed | failed | pending (a retry, or an attempt cut short by shutdown).
WITH done AS (
    UPDATE processing_jobs j
    SET status = o.status,
        retry_count = o.retry_count,
        error_message = CASE WHEN o.keep_error THEN j.error_message ELSE o.error END,
        completed_at = CASE WHEN o.status = 'pending' THEN NULL ELSE now() END,
        started_at = CASE WHEN o.status = 'pending' THEN NULL ELSE j.started_at END,
        run_at = CASE WHEN o.status = 'pending'
                      THEN now() + make_interval(secs => o.delay) ELSE j.run_at END,
        worker_id = CASE WHEN o.status = 'pending' THEN NULL ELSE j.worker_id END,
        runner_pid = CASE WHEN o.status = 'pending' THEN NULL ELSE j.runner_pid END,
        attempts = CASE WHEN o.attempt IS NULL THEN j.attempts ELSE j.attempts || o.attempt END,
        updated_at = now()
    FROM unnest(%(ids)s::uuid[], %(statuses)s::text[], %(retry_counts)s::int[],
                %(errors)s::text[], %(keep_errors)s::bool[], %(delays)s::float8[],
                %(attempts)s::jsonb[])
         AS o(id, status, retry_count, error, keep_error, delay, attempt)
    WHERE j.id = o.id AND j.worker_id = %(worker_id)s AND j.status = 'processing'
    RETURNING j.id, j.status
), stored AS (
    INSERT INTO insights (job_id, insight_type, content, confidence_score)
    SELECT i.job_id, i.insight_type, i.content, i.confidence_score
    FROM unnest(%(insight_jobs)s::uuid[], %(insight_types)s::text[],
                %(insight_contents)s::jsonb[], %(insight_scores)s::numeric[])
         AS i(job_id, insight_type, content, confidence_score)
    JOIN done ON done.id = i.job_id AND done.status = 'completed'
)
SELECT id::text FROM done;

-- name: owned
-- Which of the jobs this supervisor runs are still its own (cancel, reclaim by others).
-- Primary-key lookups.
SELECT id::text, status, worker_id = %(worker_id)s AND status = 'processing' AS ours
FROM processing_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: set_runner_pids
UPDATE processing_jobs j SET runner_pid = r.pid
FROM unnest(%(ids)s::uuid[], %(pids)s::int[]) AS r(id, pid)
WHERE j.id = r.id AND j.worker_id = %(worker_id)s AND j.runner_pid IS DISTINCT FROM r.pid;

-- name: release_unrun
-- Jobs this supervisor owns in the database but does not run: a claim whose answer was lost
-- with the connection. They never started: back to 'pending', no attempt spent.
-- Index: jobsup_jobs_owner.
UPDATE processing_jobs
SET status = 'pending', worker_id = NULL, started_at = NULL, runner_pid = NULL,
    run_at = now(), updated_at = now()
WHERE worker_id = %(worker_id)s AND status = 'processing' AND id <> ALL(%(known)s::uuid[])
RETURNING id::text;

-- name: register
INSERT INTO jobsup_workers
    (id, host, host_key, pid, process_started, slots, job_types, config_path, version)
VALUES (%(id)s, %(host)s, %(host_key)s, %(pid)s, %(process_started)s, %(slots)s,
        %(job_types)s, %(config_path)s, %(version)s)
ON CONFLICT (id) DO UPDATE SET state = 'running', heartbeat_at = now();

-- name: heartbeat
-- Returns nothing when another supervisor declared this one dead and its row is gone.
UPDATE jobsup_workers
SET heartbeat_at = now(), state = %(state)s, slots = %(slots)s, running = %(running)s,
    runners = %(runners)s
WHERE id = %(id)s
RETURNING id;

-- name: deregister
UPDATE jobsup_workers
SET state = 'stopped', heartbeat_at = now(), running = 0, runners = '[]'
WHERE id = %(id)s;

-- name: same_host_workers
-- Supervisors whose pid this one can check (same boot, same pid namespace).
SELECT id::text, pid, process_started FROM jobsup_workers
WHERE host_key = %(host_key)s AND state IN ('running', 'draining') AND id <> %(id)s;

-- name: mark_dead
-- Supervisors that stopped heartbeating, or whose process is gone (%(gone)s).
UPDATE jobsup_workers SET state = 'dead'
WHERE state IN ('running', 'draining')
  AND (heartbeat_at < now() - make_interval(secs => %(stale_after)s)
       OR id = ANY(%(gone)s::uuid[]))
RETURNING id::text, host, pid;

-- name: reclaim
-- Jobs left 'processing' by a supervisor that is no longer running, or by the original cron
-- (no owner) for longer than %(orphan_after)s: back to 'pending' with an attempt spent, or
-- 'failed' when none is left. Index: jobsup_jobs_owner (worker_id) WHERE status='processing'.
WITH lost AS (
    SELECT j.id, coalesce(j.retry_count, 0) AS retries,
           CASE WHEN j.worker_id IS NULL
                THEN 'left processing with no owner for over '
                     || round(%(orphan_after)s / 60) || ' minutes'
                ELSE 'its supervisor ' || coalesce(w.host || ' pid ' || w.pid, j.worker_id::text)
                     || ' died while running it'
           END AS why
    FROM processing_jobs j
    LEFT JOIN jobsup_workers w ON w.id = j.worker_id
    WHERE j.status = 'processing'
      AND ((j.worker_id IS NULL AND j.started_at < now() - make_interval(secs => %(orphan_after)s))
           OR (j.worker_id IS NOT NULL AND (w.id IS NULL OR w.state IN ('dead', 'stopped'))))
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE processing_jobs j
SET status = CASE WHEN lost.retries < %(max_retries)s THEN 'pending' ELSE 'failed' END,
    retry_count = CASE WHEN lost.retries < %(max_retries)s THEN lost.retries + 1
                       ELSE lost.retries END,
    error_message = CASE WHEN lost.retries < %(max_retries)s
                         THEN 'reclaimed: ' || lost.why
                         ELSE 'failed: ' || lost.why || '; no attempts left' END,
    completed_at = CASE WHEN lost.retries < %(max_retries)s THEN NULL ELSE now() END,
    attempts = j.attempts || jsonb_build_object(
        'attempt', lost.retries + 1, 'worker', j.worker_id, 'error', 'reclaimed: ' || lost.why,
        'outcome', CASE WHEN lost.retries < %(max_retries)s THEN 'retry' ELSE 'failed' END),
    started_at = NULL, run_at = now(), worker_id = NULL, runner_pid = NULL, updated_at = now()
FROM lost
WHERE j.id = lost.id
RETURNING j.id::text, j.status, j.error_message, coalesce(j.job_type, 'analysis');

-- name: forget_workers
-- Rows of supervisors gone for a day, once none of their jobs is still 'processing'.
DELETE FROM jobsup_workers w
WHERE w.state IN ('dead', 'stopped') AND w.heartbeat_at < now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM processing_jobs j
                  WHERE j.worker_id = w.id AND j.status = 'processing');
