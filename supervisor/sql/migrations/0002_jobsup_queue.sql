-- jobsup's additions to the seed tables: ids that default, scheduling and ownership columns,
-- the workers table, wake-up triggers, claim indexes and storage settings for a hot table.
-- Additions only: no seed column is removed, renamed or changed, no row is rewritten
-- (PostgreSQL 11+ adds a column with a constant or stable default without a rewrite).

-- The seed's own enqueue snippet inserts without an id.
ALTER TABLE files ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE processing_jobs ALTER COLUMN id SET DEFAULT gen_random_uuid();

ALTER TABLE processing_jobs
    -- When the job may run next: now for a new job, later for a retry or a delayed job.
    ADD COLUMN IF NOT EXISTS run_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Higher runs first.
    ADD COLUMN IF NOT EXISTS priority INTEGER NOT NULL DEFAULT 0,
    -- The supervisor (jobsup_workers.id) holding the job while it is 'processing'.
    ADD COLUMN IF NOT EXISTS worker_id UUID,
    ADD COLUMN IF NOT EXISTS runner_pid INTEGER,
    -- One object per finished attempt: attempt, worker, host, started, seconds,
    -- peak_memory_mb, outcome, error.
    ADD COLUMN IF NOT EXISTS attempts JSONB NOT NULL DEFAULT '[]';

-- One row per supervisor start. Liveness is host + pid + process start time, so a reused
-- pid or hostname cannot hide a dead supervisor.
CREATE TABLE IF NOT EXISTS jobsup_workers (
    id UUID PRIMARY KEY,
    host TEXT NOT NULL,
    -- Boot id + pid namespace: supervisors with the same host_key can check each other's pid.
    host_key TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_started DOUBLE PRECISION NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- running | draining | stopped | dead
    state TEXT NOT NULL DEFAULT 'running',
    slots INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    job_types TEXT[],
    config_path TEXT,
    version TEXT,
    -- Live figures per runner (job, pid, memory, cpu), refreshed with every heartbeat.
    runners JSONB NOT NULL DEFAULT '[]'
);
-- Heartbeats rewrite every row every few seconds: leave room for HOT updates.
ALTER TABLE jobsup_workers SET (fillfactor = 50);

-- Wake idle supervisors the moment a job becomes runnable (insert, retry, reclaim).
CREATE OR REPLACE FUNCTION jobsup_notify_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobsup_pending', coalesce(NEW.job_type, ''));
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS jobsup_notify_pending ON processing_jobs;
CREATE TRIGGER jobsup_notify_pending
    AFTER INSERT OR UPDATE OF status ON processing_jobs
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION jobsup_notify_pending();

-- Tell the owner of a running job, on whichever host, that it was cancelled.
CREATE OR REPLACE FUNCTION jobsup_notify_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobsup_control', OLD.worker_id::text);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS jobsup_notify_cancel ON processing_jobs;
CREATE TRIGGER jobsup_notify_cancel
    AFTER UPDATE OF status ON processing_jobs
    FOR EACH ROW
    WHEN (OLD.status = 'processing' AND NEW.status = 'cancelled' AND OLD.worker_id IS NOT NULL)
    EXECUTE FUNCTION jobsup_notify_cancel();

-- Claim: runnable jobs by priority, then by the time they became runnable.
CREATE INDEX IF NOT EXISTS jobsup_jobs_claim
    ON processing_jobs (priority DESC, run_at) WHERE status = 'pending';
-- Next wake-up: the earliest run_at among pending jobs.
CREATE INDEX IF NOT EXISTS jobsup_jobs_due
    ON processing_jobs (run_at) WHERE status = 'pending';
-- Reclaim and ownership checks: the jobs one supervisor holds.
CREATE INDEX IF NOT EXISTS jobsup_jobs_owner
    ON processing_jobs (worker_id) WHERE status = 'processing';
-- Recent completions, throughput reports and pruning.
CREATE INDEX IF NOT EXISTS jobsup_jobs_completed
    ON processing_jobs (completed_at) WHERE completed_at IS NOT NULL;
-- A job's insights (write-back, show, prune).
CREATE INDEX IF NOT EXISTS jobsup_insights_job ON insights (job_id);

-- A queue table is updated far more than it grows: keep free space in each page and let
-- autovacuum run on a small fraction of dead rows instead of the default 20 %.
ALTER TABLE processing_jobs SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 500,
    autovacuum_analyze_scale_factor = 0.02
);
