-- The statements of the Python API an application calls on its own connection
-- (supervisor/api.py: enqueue, enqueue_many, wait). Values are parameters, each with its
-- type, so that psycopg 3's server-side binding reads them as psycopg2's text does.

-- name: enqueue_many
-- Jobs in one statement, their new files with them (`enqueue` is this with one job).
-- %(jobs)s: a JSON array of jobs, each with its `file_ids` in order (ids made by the caller
-- for new files, so each job keeps its place in the list); %(files)s: the new files. The
-- first file is the job's file_id, the others its more_file_ids. All or nothing: when a
-- given id names no row in files, nothing is inserted and `missing` names up to three.
-- The wake-up trigger fires per row, but PostgreSQL delivers one NOTIFY per job type and
-- transaction. Primary key of files.
-- A job with a unique_key that an unfinished job holds is not inserted, nor are its new
-- files: `held` maps its id to that job's (index jobsup_jobs_unique). One whose key another
-- transaction takes meanwhile is skipped (ON CONFLICT) and is in neither `created` nor
-- `held`: the caller asks again for it. trace_context: the caller's W3C traceparent.
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%(jobs)s::jsonb) AS g(
        id uuid, file_ids uuid[], description text, job_type text, priority int,
        metadata jsonb, run_at timestamptz, delay float8, unique_key text, trace_context text)
), held AS (
    SELECT g.id, p.id AS existing FROM given g
    JOIN processing_jobs p ON p.unique_key = g.unique_key
                          AND p.status IN ('pending', 'processing')
), new AS (
    SELECT n.* FROM jsonb_to_recordset(%(files)s::jsonb) AS n(
        id uuid, file_path text, original_name text)
    WHERE NOT EXISTS (SELECT 1 FROM held JOIN given g USING (id) WHERE n.id = ANY(g.file_ids))
), missing AS (
    SELECT DISTINCT x.id FROM given g, unnest(g.file_ids) AS x(id)
    WHERE g.id NOT IN (SELECT id FROM held)
      AND NOT EXISTS (SELECT 1 FROM new WHERE new.id = x.id)
      AND NOT EXISTS (SELECT 1 FROM files f WHERE f.id = x.id)
), new_files AS (
    INSERT INTO files (id, file_path, original_name)
    SELECT id, file_path, original_name FROM new
    WHERE NOT EXISTS (SELECT 1 FROM missing)
    RETURNING id
), jobs AS (
    INSERT INTO processing_jobs
        (id, file_id, more_file_ids, business_description, job_type, priority, metadata,
         run_at, unique_key, trace_context)
    SELECT g.id, g.file_ids[1], nullif(g.file_ids[2:], '{}'), g.description, g.job_type,
           g.priority, g.metadata, coalesce(g.run_at, now()) + make_interval(secs => g.delay),
           g.unique_key, g.trace_context
    FROM given g
    WHERE NOT EXISTS (SELECT 1 FROM missing) AND g.id NOT IN (SELECT id FROM held)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
    DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM jobs) AS inserted,
       (SELECT count(*) FROM new_files) AS files,
       ARRAY(SELECT id::text FROM missing ORDER BY 1 LIMIT 3) AS missing,
       ARRAY(SELECT id::text FROM jobs) AS created,
       (SELECT jsonb_object_agg(id::text, existing::text) FROM held) AS held;

-- name: finished
-- Which of %(ids)s exist, and how each stands. Primary key.
SELECT id::text, status, error_message, coalesce(retry_count, 0) AS retry_count,
       completed_at, progress
FROM processing_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: insights
-- The insights of %(ids)s, each job's in the order they were written (one INSERT, so ctid
-- breaks the tie of their equal created_at). Index: jobsup_insights_job (job_id).
SELECT job_id::text, insight_type, content, confidence_score::float8 AS confidence_score
FROM insights WHERE job_id = ANY(%(ids)s::uuid[])
ORDER BY job_id, created_at, ctid;
