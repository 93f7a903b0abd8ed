-- Scheduling: unique jobs and periodic slots, paused job types. Additions only.

-- A job's deduplication key: at most one job not yet finished holds a given key (the
-- partial unique index below); once it has ended, the key may be used again. Periodic jobs
-- use 'periodic:<name>:<slot in ISO 8601 UTC>'. NULL: no key (every seed job).
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS unique_key TEXT;
-- `INSERT … ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending',
-- 'processing')` names this index by its predicate: keep the two identical.
CREATE UNIQUE INDEX IF NOT EXISTS jobsup_jobs_unique
    ON processing_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');

-- Job types no supervisor may claim until resumed ('*': all of them). Running jobs finish.
CREATE TABLE IF NOT EXISTS jobsup_paused (
    job_type TEXT PRIMARY KEY,
    paused_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    paused_by TEXT
);

-- The last slot enqueued for each periodic schedule ([periodic.<name>]). Enqueuing a slot
-- moves last_slot forward under this row's lock, so among any number of supervisors serving
-- a schedule exactly one enqueues each slot, even after that slot's job has finished.
CREATE TABLE IF NOT EXISTS jobsup_periodic (
    name TEXT PRIMARY KEY,
    last_slot TIMESTAMPTZ NOT NULL,
    last_job_id UUID,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
