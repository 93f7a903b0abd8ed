-- The statements only the dashboard (`jobsup web`) runs; the rest it shares with the
-- command line (admin.sql). Each starts with `-- name: <name>`; values are parameters.

-- name: jobs_by_type
-- Every job by type and status, for the overview, from the history rollup (migration 0014:
-- the totals and the deltas not yet folded), as a scan of the whole table would count them.
SELECT job_type, nullif(status, '') AS status, sum(jobs)::bigint AS jobs
FROM (SELECT job_type, status, jobs FROM jobsup_job_counts
      UNION ALL
      SELECT job_type, status, jobs FROM jobsup_job_deltas) AS rolled
GROUP BY 1, 2
HAVING sum(jobs) <> 0
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
-- to: the jobs list shows it when jobs have it. From the history rollup: no scan.
SELECT coalesce(sum(jobs), 0) > 0
FROM (SELECT jobs FROM jobsup_job_counts WHERE status = %(status)s
      UNION ALL
      SELECT jobs FROM jobsup_job_deltas WHERE status = %(status)s) AS rolled;

-- name: description
-- A job's whole business description (its page shows the first 300 characters). Primary key.
SELECT business_description FROM processing_jobs WHERE id = %(id)s;
