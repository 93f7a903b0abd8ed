-- The statements of the Python API an application calls on its own connection
-- (supervisor/api.py: enqueue, enqueue_many, wait). Values are parameters, each with its
-- type, so that psycopg 3's server-side binding reads them as psycopg2's text does.

-- name: insert_file
INSERT INTO files (file_path, original_name)
VALUES (%(path)s::text, %(name)s::text)
RETURNING id::text;

-- name: insert_job
-- A job with no file, or with a file row just inserted.
INSERT INTO processing_jobs
    (file_id, business_description, job_type, priority, metadata, run_at)
VALUES
    (%(file_id)s::uuid, %(description)s::text, %(job_type)s::text, %(priority)s::int,
     %(metadata)s::jsonb,
     coalesce(%(run_at)s::timestamptz, now()) + make_interval(secs => %(delay)s::float8))
RETURNING id::text;

-- name: insert_job_for_file
-- A job for a row the application already has in `files`: no row is returned, and none
-- inserted, when %(file_id)s names none. Primary key of files.
INSERT INTO processing_jobs
    (file_id, business_description, job_type, priority, metadata, run_at)
SELECT f.id, %(description)s::text, %(job_type)s::text, %(priority)s::int,
       %(metadata)s::jsonb,
       coalesce(%(run_at)s::timestamptz, now()) + make_interval(secs => %(delay)s::float8)
FROM files f WHERE f.id = %(file_id)s::uuid
RETURNING id::text;

-- name: enqueue_many
-- Many jobs in one statement, their new files with them: %(jobs)s is a JSON array of
-- objects (ids made by the caller, so each job keeps its place in the list). All or
-- nothing: when a given file_id names no row in files, nothing is inserted and `missing`
-- names up to three of them. The wake-up trigger fires per row, but PostgreSQL delivers
-- one NOTIFY per job type and transaction. Primary key of files.
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%(jobs)s::jsonb) AS g(
        id uuid, file_id uuid, new_file boolean, file_path text, original_name text,
        description text, job_type text, priority int, metadata jsonb,
        run_at timestamptz, delay float8)
), missing AS (
    SELECT DISTINCT g.file_id FROM given g
    WHERE g.file_id IS NOT NULL AND NOT g.new_file
      AND NOT EXISTS (SELECT 1 FROM files f WHERE f.id = g.file_id)
), new_files AS (
    INSERT INTO files (id, file_path, original_name)
    SELECT file_id, file_path, original_name FROM given
    WHERE new_file AND NOT EXISTS (SELECT 1 FROM missing)
    RETURNING id
), jobs AS (
    INSERT INTO processing_jobs
        (id, file_id, business_description, job_type, priority, metadata, run_at)
    SELECT g.id, g.file_id, g.description, g.job_type, g.priority, g.metadata,
           coalesce(g.run_at, now()) + make_interval(secs => g.delay)
    FROM given g
    WHERE NOT EXISTS (SELECT 1 FROM missing)
    RETURNING id
)
SELECT (SELECT count(*) FROM jobs) AS inserted,
       (SELECT count(*) FROM new_files) AS files,
       ARRAY(SELECT file_id::text FROM missing ORDER BY 1 LIMIT 3) AS missing;

-- name: finished
-- Which of %(ids)s exist, and how each stands. Primary key.
SELECT id::text, status, error_message, coalesce(retry_count, 0) AS retry_count,
       completed_at
FROM processing_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: insights
-- The insights of %(ids)s, each job's in the order they were written (one INSERT, so ctid
-- breaks the tie of their equal created_at). Index: jobsup_insights_job (job_id).
SELECT job_id::text, insight_type, content, confidence_score::float8 AS confidence_score
FROM insights WHERE job_id = ANY(%(ids)s::uuid[])
ORDER BY job_id, created_at, ctid;
