-- Years of history without scanning it (issue 28): the counts of jobs by type, status and
-- retry count, and of finished jobs per hour of their end, kept by statement-level triggers
-- on processing_jobs, and the jobs list's text search through a pg_trgm index.
--
-- Each INSERT, UPDATE or DELETE statement on processing_jobs appends its net change, one row
-- per key it moved (a claim of 10 jobs: pending -10, processing +10), to
-- jobsup_job_deltas: an append, so concurrent writers never wait on each other's counters
-- (an upsert into shared counter rows would make every claim and write-back queue on the
-- same few rows, and deadlock when two statements take them in different orders). The
-- supervisors fold the deltas into the totals at their heartbeat (fold_history in
-- history.sql); readers add the totals and the deltas not yet folded, in one snapshot, so
-- they see exactly what a scan of processing_jobs would.

CREATE TABLE IF NOT EXISTS jobsup_job_counts (
    job_type TEXT NOT NULL,        -- coalesce(job_type, 'analysis')
    status TEXT NOT NULL,          -- coalesce(status, ''): '' stands for NULL
    retry_count INTEGER NOT NULL,  -- coalesce(retry_count, 0)
    jobs BIGINT NOT NULL,
    PRIMARY KEY (job_type, status, retry_count)
);

CREATE TABLE IF NOT EXISTS jobsup_job_hours (
    hour TIMESTAMP NOT NULL,       -- date_trunc('hour', completed_at)
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    jobs BIGINT NOT NULL,
    PRIMARY KEY (hour, job_type, status)
);

CREATE TABLE IF NOT EXISTS jobsup_job_deltas (
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    retry_count INTEGER NOT NULL,
    hour TIMESTAMP,                -- NULL: no completed_at
    jobs BIGINT NOT NULL
);

CREATE OR REPLACE FUNCTION jobsup_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO jobsup_job_deltas (job_type, status, retry_count, hour, jobs)
        SELECT coalesce(job_type, 'analysis'), coalesce(status, ''), coalesce(retry_count, 0),
               date_trunc('hour', completed_at), count(*)
        FROM jobsup_new GROUP BY 1, 2, 3, 4;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO jobsup_job_deltas (job_type, status, retry_count, hour, jobs)
        SELECT coalesce(job_type, 'analysis'), coalesce(status, ''), coalesce(retry_count, 0),
               date_trunc('hour', completed_at), -count(*)
        FROM jobsup_old GROUP BY 1, 2, 3, 4;
    ELSE
        INSERT INTO jobsup_job_deltas (job_type, status, retry_count, hour, jobs)
        SELECT job_type, status, retry_count, hour, sum(n)
        FROM (SELECT coalesce(job_type, 'analysis') AS job_type, coalesce(status, '') AS status,
                     coalesce(retry_count, 0) AS retry_count,
                     date_trunc('hour', completed_at) AS hour, 1 AS n
              FROM jobsup_new
              UNION ALL
              SELECT coalesce(job_type, 'analysis'), coalesce(status, ''),
                     coalesce(retry_count, 0), date_trunc('hour', completed_at), -1
              FROM jobsup_old) AS moved
        GROUP BY 1, 2, 3, 4
        HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobsup_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobsup_job_deltas;
    DELETE FROM jobsup_job_counts;
    DELETE FROM jobsup_job_hours;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger: three triggers, one function.
DROP TRIGGER IF EXISTS jobsup_count_insert ON processing_jobs;
CREATE TRIGGER jobsup_count_insert AFTER INSERT ON processing_jobs
    REFERENCING NEW TABLE AS jobsup_new
    FOR EACH STATEMENT EXECUTE FUNCTION jobsup_count_jobs();
DROP TRIGGER IF EXISTS jobsup_count_update ON processing_jobs;
CREATE TRIGGER jobsup_count_update AFTER UPDATE ON processing_jobs
    REFERENCING OLD TABLE AS jobsup_old NEW TABLE AS jobsup_new
    FOR EACH STATEMENT EXECUTE FUNCTION jobsup_count_jobs();
DROP TRIGGER IF EXISTS jobsup_count_delete ON processing_jobs;
CREATE TRIGGER jobsup_count_delete AFTER DELETE ON processing_jobs
    REFERENCING OLD TABLE AS jobsup_old
    FOR EACH STATEMENT EXECUTE FUNCTION jobsup_count_jobs();
DROP TRIGGER IF EXISTS jobsup_count_truncate ON processing_jobs;
CREATE TRIGGER jobsup_count_truncate AFTER TRUNCATE ON processing_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobsup_count_truncate();

-- The history there is now, counted once (this migration holds the migration lock, and
-- the triggers above count every change committed after it).
DELETE FROM jobsup_job_deltas;
DELETE FROM jobsup_job_counts;
DELETE FROM jobsup_job_hours;
INSERT INTO jobsup_job_counts (job_type, status, retry_count, jobs)
SELECT coalesce(job_type, 'analysis'), coalesce(status, ''), coalesce(retry_count, 0), count(*)
FROM processing_jobs GROUP BY 1, 2, 3;
INSERT INTO jobsup_job_hours (hour, job_type, status, jobs)
SELECT date_trunc('hour', completed_at), coalesce(job_type, 'analysis'), coalesce(status, ''),
       count(*)
FROM processing_jobs WHERE completed_at IS NOT NULL GROUP BY 1, 2, 3;

-- The jobs list's text search (`q=`, `jobs list --text`): ILIKE '%words%' through a
-- trigram index. Where pg_trgm cannot be created (not installed, no privilege), the
-- migration goes on without it and the search reads the table (the jobs list says so once).
DO $$
DECLARE
    home TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm could not be created (%): the jobs list''s text search will '
                     'read the table', SQLERRM;
    END;
    SELECT n.nspname INTO home FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF home IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS jobsup_jobs_description_trgm ON '
                       'processing_jobs USING gin (business_description %I.gin_trgm_ops)',
                       home);
    END IF;
END
$$;

-- jobsup_jobs_created (created_at, migration 0003) is the leading column of
-- jobsup_jobs_created_id (created_at, id, 0005), which serves every statement it served.
-- Each claim and write-back is a non-HOT update (status is indexed), so every index takes
-- an entry per update: one index fewer is less work for each job (issue 28: PostgreSQL's
-- CPU per job 1.06 / 1.06 / 0.84 ms with it, 0.91 / 0.96 / 0.95 without, in turn; a bare
-- insert of 100,000 rows 2.19–2.40 s of the backend's CPU with it, 2.10–2.26 s without).
DROP INDEX IF EXISTS jobsup_jobs_created;
