-- The history rollup's upkeep (migration 0014): the deltas the triggers append, folded into
-- the totals. Each starts with `-- name: <name>`; values are parameters.

-- name: fold_history
-- Moves every delta committed so far into jobsup_job_counts and jobsup_job_hours, in one
-- statement (readers see the deltas or the totals they became, never both nor neither),
-- under the history lock (history_lock). Returns how many deltas it moved and the keys
-- whose count fell to 0 (jobs pruned, or moved on to another status), for drop_empty_history.
WITH moved AS (
    DELETE FROM jobsup_job_deltas RETURNING job_type, status, retry_count, hour, jobs
), counted AS (
    INSERT INTO jobsup_job_counts AS c (job_type, status, retry_count, jobs)
    SELECT job_type, status, retry_count, sum(jobs) FROM moved
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (job_type, status, retry_count) DO UPDATE SET jobs = c.jobs + excluded.jobs
    RETURNING c.job_type, c.status, c.retry_count, c.jobs
), hours AS (
    INSERT INTO jobsup_job_hours AS h (hour, job_type, status, jobs)
    SELECT hour, job_type, status, sum(jobs) FROM moved WHERE hour IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, job_type, status) DO UPDATE SET jobs = h.jobs + excluded.jobs
    RETURNING h.hour, h.job_type, h.status, h.jobs
)
SELECT (SELECT count(*) FROM moved) AS deltas,
       (SELECT coalesce(jsonb_agg(to_jsonb(counted)), '[]') FROM counted WHERE jobs = 0)
           AS empty_counts,
       (SELECT coalesce(jsonb_agg(to_jsonb(hours)), '[]') FROM hours WHERE jobs = 0)
           AS empty_hours;

-- name: drop_empty_history
-- The totals' rows fold_history brought to 0, by primary key (in its transaction).
WITH counts AS (
    DELETE FROM jobsup_job_counts t
    USING jsonb_to_recordset(%(counts)s::jsonb) AS e(job_type text, status text, retry_count int)
    WHERE (t.job_type, t.status, t.retry_count) = (e.job_type, e.status, e.retry_count)
      AND t.jobs = 0
    RETURNING 1
), hours AS (
    DELETE FROM jobsup_job_hours t
    USING jsonb_to_recordset(%(hours)s::jsonb) AS e(hour timestamp, job_type text, status text)
    WHERE (t.hour, t.job_type, t.status) = (e.hour, e.job_type, e.status) AND t.jobs = 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM counts) + (SELECT count(*) FROM hours) AS dropped;

-- name: history_lock
-- One supervisor folds at a time (a second would only wait on the first's deleted rows).
SELECT pg_try_advisory_xact_lock(%(key)s) AS mine;

-- name: rebuild_history
-- The rollup counted afresh from the whole table (a scan), in the caller's transaction:
-- after rows were written with the triggers disabled (a bulk load), the totals are what the
-- table holds again.
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
