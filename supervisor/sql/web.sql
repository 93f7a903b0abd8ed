-- The statements only the dashboard (`jobsup web`) runs; the rest it shares with the
-- command line (admin.sql). Each starts with `-- name: <name>`; values are parameters.

-- name: jobs_by_type
-- Every job by type and status, for the overview. A full scan, like `stats`' counts: it
-- counts the whole history.
SELECT coalesce(job_type, 'analysis') AS job_type, status, count(*) AS jobs
FROM processing_jobs
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: ids_in_range
-- The jobs whose id lies in [%(low)s, %(high)s]: those starting with a short id's prefix
-- (uuids sort as their hex text does). Primary key; two tell a unique prefix from another.
SELECT id::text FROM processing_jobs
WHERE id BETWEEN %(low)s::uuid AND %(high)s::uuid
ORDER BY id
LIMIT 2;

-- name: file_row
-- The `files` row a job names, every column. Primary key.
SELECT to_jsonb(f) AS file FROM files f WHERE f.id = %(id)s;

-- name: status_exists
-- Whether any job has the status %(status)s. Asked only for a status outside the seed's
-- vocabulary (a row written by hand or by another tool), which the overview lists and links
-- to: the jobs list shows it when jobs have it. A scan at worst, and only then.
SELECT EXISTS (SELECT 1 FROM processing_jobs WHERE status = %(status)s);

-- name: description
-- A job's whole business description (its page shows the first 300 characters). Primary key.
SELECT business_description FROM processing_jobs WHERE id = %(id)s;
