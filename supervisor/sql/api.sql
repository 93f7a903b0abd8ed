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
-- `held`: the caller asks again for it. A job with a fair_key gets its round from the
-- trigger jobsup_fair_seq, in the list's order (migration 0012). trace_context: the
-- caller's W3C traceparent.
-- %(edges)s: each job's parents (`after`), with what it does when one fails; a job with a
-- parent not yet ended is inserted blocked (parents_left > 0: outside the claim's index).
-- When a parent id names no job, nothing is inserted and `unknown_parents` names up to
-- three. Cycles cannot reach the table: a job already there has no edge to a new one, and
-- those among the new jobs are refused before (client/enqueue.py).
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%(jobs)s::jsonb) AS g(
        id uuid, file_ids uuid[], description text, job_type text, priority int,
        metadata jsonb, run_at timestamptz, delay float8, unique_key text, batch_id uuid,
        fair_key text, trace_context text)
), edge AS (
    -- The parents of each job (`after`): jobs already in the table, or others of this list.
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(edges)s::jsonb)
                             AS (parent uuid, child uuid, on_parent_failure text))
                  WITH ORDINALITY AS e(parent, child, on_parent_failure, n)
), parent AS (
    -- The parents already in the table, locked until the caller commits: one ending
    -- meanwhile waits, so it either has ended here (and counts so) or finds the edges
    -- when it ends (its trigger, 0010_pipelines.sql). Primary key, in id order.
    SELECT p.id, p.status IN ('completed', 'failed', 'cancelled') AS ended
    FROM processing_jobs p
    WHERE p.id = ANY(ARRAY(SELECT DISTINCT e.parent FROM edge e
                           WHERE e.parent NOT IN (SELECT id FROM given)))
    ORDER BY p.id
    FOR SHARE
), unknown AS (
    SELECT DISTINCT e.parent AS id FROM edge e
    WHERE e.parent NOT IN (SELECT id FROM given) AND e.parent NOT IN (SELECT id FROM parent)
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
    WHERE NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM unknown)
    RETURNING id
), jobs AS (
    INSERT INTO processing_jobs
        (id, file_id, more_file_ids, business_description, job_type, priority, metadata,
         run_at, unique_key, batch_id, parents_left, fair_key, trace_context)
    SELECT g.id, g.file_ids[1], nullif(g.file_ids[2:], '{}'), g.description, g.job_type,
           g.priority, g.metadata, coalesce(g.run_at, now()) + make_interval(secs => g.delay),
           g.unique_key, g.batch_id,
           -- Its parents not yet ended: those of this list, and those in the table that
           -- have not ended (one already ended counts as ended).
           (SELECT count(*) FROM edge e
            WHERE e.child = g.id
              AND (e.parent IN (SELECT id FROM given)
                   OR e.parent IN (SELECT id FROM parent WHERE NOT ended))),
           g.fair_key, g.trace_context
    FROM given g
    WHERE NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM unknown)
      AND g.id NOT IN (SELECT id FROM held)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
    DO NOTHING
    RETURNING id
), edges AS (
    INSERT INTO jobsup_edges (parent, child, on_parent_failure)
    SELECT e.parent, e.child, e.on_parent_failure FROM edge e
    WHERE e.child IN (SELECT id FROM jobs)
    ORDER BY e.n  -- their n: the order given
    RETURNING child
)
SELECT (SELECT count(*) FROM jobs) AS inserted,
       (SELECT count(*) FROM new_files) AS files,
       (SELECT count(*) FROM edges) AS edges,
       ARRAY(SELECT id::text FROM missing ORDER BY 1 LIMIT 3) AS missing,
       ARRAY(SELECT id::text FROM unknown ORDER BY 1 LIMIT 3) AS unknown_parents,
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

-- name: insert_batch
-- A batch (`enqueue_batch`), in the caller's transaction with its jobs.
INSERT INTO jobsup_batches (id, then_id) VALUES (%(id)s::uuid, %(then_id)s::uuid);

-- name: batch_jobs
-- The jobs of each of %(ids)s that is a batch: its own, in the order given (that of the
-- then-job's edges; without a then-job, oldest first), then its then-job.
-- Primary key of jobsup_batches; jobsup_jobs_batch; jobsup_edges' primary key.
SELECT b.id::text AS batch_id, j.id::text AS job_id
FROM jobsup_batches b
CROSS JOIN LATERAL (
    SELECT p.id, p.id = b.then_id AS last, e.n, p.created_at FROM processing_jobs p
    LEFT JOIN jobsup_edges e ON e.parent = p.id AND e.child = b.then_id
    WHERE p.batch_id = b.id
) j
WHERE b.id = ANY(%(ids)s::uuid[])
ORDER BY b.id, j.last, j.n, j.created_at, j.id;

-- name: batch_then
-- The then-job of batch %(id)s (NULL: none), and whether the batch exists.
SELECT then_id::text FROM jobsup_batches WHERE id = %(id)s::uuid;
