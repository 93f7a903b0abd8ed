-- The statements of the operating commands (`jobsup jobs …`, `ps`, `status`, `stop`, `stats`).
-- Each starts with `-- name: <name>`; values are always parameters (%(name)s).
-- The seed's created_at/started_at/completed_at are TIMESTAMP (no time zone) written in the
-- session's zone, so they are compared with `localtimestamp`; run_at (TIMESTAMPTZ) with now().
-- What a command prints casts them to TIMESTAMPTZ (in the same session zone), so that JSON
-- shows every time in ISO 8601 with its offset.

-- name: job_line
-- The columns of a line of the jobs list (a part the list statements include).
SELECT j.id::text AS id, coalesce(j.job_type, 'analysis') AS job_type, j.status,
       left(j.business_description, 200) AS description,
       coalesce(j.retry_count, 0) AS retry_count, j.priority,
       j.created_at::timestamptz AS created_at, j.started_at::timestamptz AS started_at,
       j.completed_at::timestamptz AS completed_at, j.run_at,
       extract(epoch FROM localtimestamp - j.created_at)::float8 AS age,
       extract(epoch FROM coalesce(j.completed_at, localtimestamp) - j.started_at)::float8
           AS duration,
       j.worker_id::text AS worker_id,
       split_part(j.error_message, E'\n', 1) AS error, j.progress

-- name: job_filters
-- The jobs list's filters (a part the list statements include). %(text)s is a LIKE pattern
-- matched against the description.
    (%(status)s::text IS NULL OR j.status = %(status)s)
  AND (%(job_type)s::text IS NULL OR coalesce(j.job_type, 'analysis') = %(job_type)s)
  AND (%(since)s::float8 IS NULL
       OR j.created_at >= localtimestamp - make_interval(secs => %(since)s))
  AND (%(text)s::text IS NULL OR j.business_description ILIKE %(text)s)
  AND (NOT %(blocked)s OR (j.status = 'pending' AND j.parents_left > 0))
  AND (%(after_at)s::timestamp IS NULL OR (j.created_at, j.id) < (%(after_at)s, %(after_id)s::uuid))

-- name: list_jobs
-- Newest first, filtered on the way; a page starts after the keyset (%(after_at)s,
-- %(after_id)s) of the last row of the one before. Index: jobsup_jobs_created_id
-- (created_at, id), read backwards until %(limit)s rows pass the filters.
-- include: job_line
FROM processing_jobs j
WHERE
-- include: job_filters
ORDER BY j.created_at DESC, j.id DESC
LIMIT %(limit)s;

-- name: list_window
-- A text search's first read: the newest %(window)s jobs (after the keyset), in order, read
-- backwards from jobsup_jobs_created_id and only then filtered, so that the planner never
-- trades this bounded read for the trigram index's list of a common word (which grows
-- with the history).
-- include: job_line
FROM (SELECT * FROM processing_jobs j
      WHERE (%(after_at)s::timestamp IS NULL
             OR (j.created_at, j.id) < (%(after_at)s, %(after_id)s::uuid))
      ORDER BY j.created_at DESC, j.id DESC
      LIMIT %(window)s) AS j
WHERE
-- include: job_filters
ORDER BY j.created_at DESC, j.id DESC
LIMIT %(limit)s;

-- name: window_end
-- The keyset of the %(window)s-th newest job after (%(after_at)s, %(after_id)s): where a
-- text search stops reading the newest jobs in order and goes on through the trigram
-- index. Index: jobsup_jobs_created_id, %(window)s entries read backwards.
SELECT j.created_at, j.id::text FROM processing_jobs j
WHERE (%(after_at)s::timestamp IS NULL OR (j.created_at, j.id) < (%(after_at)s, %(after_id)s::uuid))
ORDER BY j.created_at DESC, j.id DESC
OFFSET %(window)s - 1 LIMIT 1;

-- name: search_older
-- A text search's jobs older than the window the newest-first read covered (list_jobs with
-- %(after_at)s at window_end): the matches of the pattern through the trigram index
-- (jobsup_jobs_description_trgm, migration 0014), then the other filters, then sorted. The
-- order by an expression keeps the planner off the created_at index, whose backward read
-- would pass every row when the words and the other filters match few rows together.
-- include: job_line
FROM processing_jobs j
WHERE
-- include: job_filters
ORDER BY j.created_at + interval '0' DESC, j.id DESC
LIMIT %(limit)s;

-- name: search_index
-- Whether the description's trigram index (migration 0014) exists.
SELECT to_regclass('jobsup_jobs_description_trgm') IS NOT NULL AS present;

-- name: ids_in_range
-- The jobs a short id names (`jobsup jobs show 1f64f4c9`): its prefix padded with 0s and fs
-- bounds a range of the primary key, which orders uuids as their hex text. Three at most:
-- one is the answer, two or more an ambiguous prefix.
SELECT id::text FROM processing_jobs
WHERE id BETWEEN %(low)s::uuid AND %(high)s::uuid
ORDER BY id
LIMIT 3;

-- name: enqueued
-- What `jobsup enqueue --json` echoes of the job it just inserted. Primary key.
SELECT id::text AS id, coalesce(job_type, 'analysis') AS type, priority, run_at
FROM processing_jobs WHERE id = %(id)s;

-- name: show_job
-- One job with every column (to_jsonb: columns added later show up too), its file, its
-- owner and how many insights it has. Primary key; insights by jobsup_insights_job.
SELECT to_jsonb(j) || jsonb_build_object(
           'created_at', j.created_at::timestamptz, 'started_at', j.started_at::timestamptz,
           'completed_at', j.completed_at::timestamptz, 'updated_at', j.updated_at::timestamptz
       ) AS job,
       f.file_path, f.original_name,
       ARRAY(SELECT mf.file_path FROM unnest(j.more_file_ids) WITH ORDINALITY AS m(id, n)
             LEFT JOIN files mf ON mf.id = m.id ORDER BY m.n) AS more_files,
       w.host AS worker_host, w.pid AS worker_pid, w.state AS worker_state,
       (SELECT count(*) FROM insights i WHERE i.job_id = j.id) AS insights_count
FROM processing_jobs j
LEFT JOIN files f ON f.id = j.file_id
LEFT JOIN jobsup_workers w ON w.id = j.worker_id
WHERE j.id = %(id)s;

-- name: job_insights
-- A job's insights in the order they were written (one INSERT, so ctid breaks the tie of
-- their equal created_at). Index: jobsup_insights_job (job_id).
SELECT insight_type, content, confidence_score::float8 AS confidence_score
FROM insights WHERE job_id = %(id)s
ORDER BY created_at, ctid;

-- name: statuses
-- The status of each of %(ids)s that exists. Primary key.
SELECT id::text, status FROM processing_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: retry
-- The seed's "clear failed jobs for retry": pending now, attempts counted afresh. Named jobs
-- (primary key) that are failed or cancelled, or with %(all_failed)s every failed job (a scan:
-- no index covers 'failed'). The `attempts` history is kept, with a record of the retry whose
-- `after` (the highest attempt number so far) the next attempts are numbered on from (the
-- write-back and reclaim in queries.sql). A job whose unique_key another unfinished job holds
-- now is left as it is (jobsup_jobs_unique allows one). The durable steps' results stay
-- (the next run skips the steps done) unless %(fresh)s; the progress starts again.
WITH target AS (
    SELECT id, status FROM processing_jobs t
    WHERE ((id = ANY(%(ids)s::uuid[]) AND status IN ('failed', 'cancelled'))
           OR (%(all_failed)s AND status = 'failed'))
      AND NOT EXISTS (SELECT 1 FROM processing_jobs o
                      WHERE o.unique_key = t.unique_key AND o.id <> t.id
                        AND o.unique_key IS NOT NULL AND o.status IN ('pending', 'processing'))
    FOR UPDATE
)
UPDATE processing_jobs j
SET status = 'pending', retry_count = 0, error_message = NULL, run_at = now(),
    started_at = NULL, completed_at = NULL, worker_id = NULL, runner_pid = NULL,
    progress = NULL, steps = CASE WHEN %(fresh)s THEN NULL ELSE j.steps END,
    attempts = coalesce(CASE WHEN jsonb_typeof(j.attempts) = 'array' THEN j.attempts END,
                        '[]'::jsonb)
               || jsonb_build_object(
                   'outcome', 'retried', 'was', target.status, 'at', now(),
                   'after', coalesce((SELECT max((a ->> 'attempt')::int)
                                      FROM jsonb_array_elements(
                                          CASE WHEN jsonb_typeof(j.attempts) = 'array'
                                               THEN j.attempts ELSE '[]' END) AS a
                                      WHERE a ->> 'attempt' ~ '^[0-9]+$'), 0)),
    updated_at = now()
FROM target
WHERE j.id = target.id
RETURNING j.id::text, target.status AS was;

-- name: cancel
-- Pending or processing jobs → cancelled. For a processing one the trigger
-- jobsup_notify_cancel wakes its owner, on whichever host, which kills the runner group; the
-- owner's late write-back is refused by its ownership guard (status = 'processing').
-- Primary key; FOR UPDATE waits out a write-back in flight, then re-checks the status.
WITH target AS (
    SELECT j.id, j.status, j.runner_pid, w.host, w.pid
    FROM processing_jobs j LEFT JOIN jobsup_workers w ON w.id = j.worker_id
    WHERE j.id = ANY(%(ids)s::uuid[]) AND j.status IN ('pending', 'processing')
    FOR UPDATE OF j
)
UPDATE processing_jobs j
SET status = 'cancelled', completed_at = localtimestamp, updated_at = localtimestamp,
    error_message = %(why)s
FROM target
WHERE j.id = target.id
RETURNING j.id::text, target.status AS was, target.host, target.pid, target.runner_pid;

-- name: prune_batch
-- The next batch of finished jobs to delete, oldest first. Index: jobsup_jobs_completed
-- (completed_at). SKIP LOCKED: never waits on a row someone else is writing.
SELECT id FROM processing_jobs
WHERE status = ANY(%(statuses)s::text[])
  AND completed_at < localtimestamp - make_interval(secs => %(older_than)s)
ORDER BY completed_at
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED;

-- name: retention_lock
-- Whether this transaction is the one pruning by the retention policy now: one supervisor
-- at a time prunes (its batches would only wait on each other's rows otherwise); the lock
-- goes with the batch's commit, so a supervisor that dies mid-batch holds nothing.
SELECT pg_try_advisory_xact_lock(%(key)s) AS mine;

-- name: prune_insights
-- Index: jobsup_insights_job (job_id).
DELETE FROM insights WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: prune_jobs
-- Primary key.
DELETE FROM processing_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: queue
-- The queue now, without scanning the finished history: pending (jobsup_jobs_due),
-- processing (jobsup_jobs_owner), the last hour's endings (jobsup_jobs_completed).
SELECT
    (SELECT count(*) FROM processing_jobs
     WHERE status = 'pending' AND parents_left = 0 AND run_at <= now()) AS runnable,
    (SELECT count(*) FROM processing_jobs
     WHERE status = 'pending' AND parents_left = 0 AND run_at > now()) AS scheduled,
    -- Waiting for parents to end (jobsup_jobs_blocked).
    (SELECT count(*) FROM processing_jobs
     WHERE status = 'pending' AND parents_left > 0) AS blocked,
    (SELECT count(*) FROM processing_jobs WHERE status = 'processing') AS processing,
    (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM processing_jobs
     WHERE status = 'pending' AND parents_left = 0 AND run_at <= now()) AS oldest_pending,
    (SELECT count(*) FROM processing_jobs
     WHERE status = 'completed' AND completed_at > localtimestamp - interval '1 hour')
        AS completed_last_hour,
    (SELECT count(*) FROM processing_jobs
     WHERE status = 'failed' AND completed_at > localtimestamp - interval '1 hour')
        AS failed_last_hour;

-- name: counts
-- The seed's "check retry counts": every job by status and retry count, from the history
-- rollup (migration 0014: the totals and the deltas not yet folded, one snapshot), so it
-- answers as a scan of the whole table would without reading it.
SELECT nullif(status, '') AS status, retry_count, sum(jobs)::bigint AS jobs
FROM (SELECT status, retry_count, jobs FROM jobsup_job_counts
      UNION ALL
      SELECT status, retry_count, jobs FROM jobsup_job_deltas) AS rolled
GROUP BY 1, 2
HAVING sum(jobs) <> 0
ORDER BY 1, 2;

-- name: throughput
-- The seed's "job throughput": jobs ended per hour over the last %(hours)s hours, empty hours
-- included, from the history rollup's hours (jobsup_job_hours' primary key, and the deltas
-- not yet folded): as many rows as hours, whatever the history.
WITH span AS (
    SELECT date_trunc('hour', localtimestamp - make_interval(hours => %(hours)s - 1)) AS first,
           date_trunc('hour', localtimestamp) AS last
), rolled AS (
    SELECT hour, status, jobs FROM jobsup_job_hours, span
    WHERE hour BETWEEN span.first AND span.last AND status IN ('completed', 'failed')
    UNION ALL
    SELECT hour, status, jobs FROM jobsup_job_deltas, span
    WHERE hour BETWEEN span.first AND span.last AND status IN ('completed', 'failed')
)
SELECT h.hour::timestamptz AS hour,
       coalesce(sum(r.jobs) FILTER (WHERE r.status = 'completed'), 0)::bigint AS completed,
       coalesce(sum(r.jobs) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed
FROM span, generate_series(span.first, span.last, interval '1 hour') AS h(hour)
LEFT JOIN rolled r ON r.hour = h.hour
GROUP BY h.hour
ORDER BY h.hour;

-- name: durations
-- Median and 95th percentile of the last attempt's run time (completed_at - started_at) per
-- job type, over jobs completed in the last %(hours)s hours. Index: jobsup_jobs_completed.
SELECT coalesce(job_type, 'analysis') AS job_type, count(*) AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at))
           AS median,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at))
           AS p95,
       max(extract(epoch FROM completed_at - started_at))::float8 AS longest
FROM processing_jobs
WHERE status = 'completed' AND started_at IS NOT NULL
  AND completed_at > localtimestamp - make_interval(hours => %(hours)s)
GROUP BY 1
ORDER BY 1;

-- name: failures
-- Jobs failed in the last %(hours)s hours, grouped by the first line of their error with ids
-- and numbers masked ("supervisor vm pid <n> died" for every pid), with one real line as an
-- example. Index: jobsup_jobs_completed.
WITH failed AS (
    SELECT coalesce(split_part(error_message, E'\n', 1), '(no message)') AS line, completed_at
    FROM processing_jobs
    WHERE status = 'failed' AND completed_at > localtimestamp - make_interval(hours => %(hours)s)
)
SELECT regexp_replace(
           regexp_replace(line, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
                          '<id>', 'gi'),
           '[0-9]+(\.[0-9]+)?', '<n>', 'g') AS reason,
       count(*) AS jobs, max(completed_at)::timestamptz AS last, max(line) AS example
FROM failed
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT %(limit)s;

-- name: workers
-- Every supervisor on every host, for `jobsup ps`, with the jobs the database says each holds
-- now: its runners' figures come with its heartbeat, so a job started since then has none
-- yet, but is shown. One small table (rows of supervisors gone for a day are deleted by
-- forget_workers), read whole; each one's jobs by jobsup_jobs_owner (worker_id).
SELECT w.id::text, w.host, w.host_key, w.pid, w.process_started, w.state, w.slots,
       w.version, w.config_path, w.job_types,
       extract(epoch FROM now() - w.started_at)::float8 AS uptime,
       extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age,
       w.runners, coalesce(held.jobs, '[]') AS held
FROM jobsup_workers w
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'job_id', j.id::text, 'job_type', coalesce(j.job_type, 'analysis'),
               'pid', j.runner_pid, 'attempt', coalesce(j.retry_count, 0) + 1,
               'elapsed', extract(epoch FROM localtimestamp - j.started_at)::float8)
           ORDER BY j.started_at) AS jobs
    FROM processing_jobs j
    WHERE j.worker_id = w.id AND j.status = 'processing'
) held ON true
WHERE (%(all)s OR w.state <> 'stopped')
  AND (%(host)s::text IS NULL OR w.host = %(host)s)
ORDER BY w.host, w.started_at;

-- name: worker_of_pid
-- The live row of the supervisor with %(pid)s on this host (`jobsup stop`, `status`,
-- `healthcheck`).
SELECT id::text, state, slots, running,
       extract(epoch FROM now() - heartbeat_at)::float8 AS heartbeat_age
FROM jobsup_workers
WHERE host_key = %(host_key)s AND pid = %(pid)s AND state IN ('running', 'draining')
ORDER BY started_at DESC
LIMIT 1;

-- name: held_jobs
-- The jobs a supervisor runs now. Index: jobsup_jobs_owner (worker_id).
SELECT id::text FROM processing_jobs WHERE worker_id = %(worker_id)s AND status = 'processing';

-- name: unserved
-- Each job type with pending jobs that no live supervisor serves (`stats`, `ps`, the
-- dashboard, `healthcheck`): in a mixed fleet such jobs wait for a supervisor that serves
-- their type, and are never failed by one that cannot run them. Live: 'running' with a
-- heartbeat within %(stale_after)s seconds; it serves the types of its `job_types`, and a
-- row whose job_types is NULL (a supervisor of an older jobsup, which claimed any type)
-- serves them all. With each type: its pending jobs, and seconds since the oldest was
-- created. Index: jobsup_jobs_claim_type (coalesce(job_type, 'analysis'), …) WHERE
-- status='pending' AND parents_left = 0 (blocked jobs wait for their parents first, and
-- are told of once runnable): the types with a pending job one probe apiece (a loose index scan, as
-- many probes as types), then only the types found unserved have their jobs counted.
WITH RECURSIVE pending_type(job_type) AS (
    SELECT (SELECT coalesce(job_type, 'analysis') FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0
            ORDER BY coalesce(job_type, 'analysis') LIMIT 1)
    UNION ALL
    SELECT (SELECT coalesce(j.job_type, 'analysis') FROM processing_jobs j
            WHERE j.status = 'pending' AND j.parents_left = 0
              AND coalesce(j.job_type, 'analysis') > pending_type.job_type
            ORDER BY coalesce(j.job_type, 'analysis') LIMIT 1)
    FROM pending_type WHERE pending_type.job_type IS NOT NULL
), live AS (
    SELECT job_types FROM jobsup_workers
    WHERE state = 'running' AND heartbeat_at > now() - make_interval(secs => %(stale_after)s)
)
SELECT t.job_type, c.jobs, c.oldest_age
FROM pending_type t
CROSS JOIN LATERAL (
    SELECT count(*) AS jobs,
           extract(epoch FROM localtimestamp - min(created_at))::float8 AS oldest_age
    FROM processing_jobs
    WHERE status = 'pending' AND parents_left = 0
      AND coalesce(job_type, 'analysis') = t.job_type
) c
WHERE t.job_type IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM live
                  WHERE live.job_types IS NULL OR t.job_type = ANY(live.job_types))
ORDER BY t.job_type;

-- name: rate_limits
-- Each rate-limited job type's window as the claims last wrote it (jobsup_rate_windows,
-- primary key): its limit (max_starts per `period` seconds), the jobs started within the
-- period up to now, `reopens_in` (seconds until the window has room again; 0: it has room),
-- and `waiting`: its runnable jobs held back by the limit (pending and due, while the window
-- is full; 0 while it has room). Counting them reads the type's pending index entries.
SELECT w.job_type, w.max_starts, w.period, s.started,
       CASE WHEN s.started >= w.max_starts
            THEN (SELECT count(*) FROM processing_jobs j
                  WHERE j.status = 'pending' AND j.run_at <= now()
                    AND coalesce(j.job_type, 'analysis') = w.job_type)
            ELSE 0 END AS waiting,
       CASE WHEN s.started >= w.max_starts
            THEN greatest(0, extract(epoch FROM
                     (SELECT o.at FROM (SELECT u.at, sum(u.n) OVER (ORDER BY u.at DESC) AS newer
                                        FROM unnest(w.starts, w.counts) AS u(at, n)) AS o
                      WHERE o.newer >= w.max_starts ORDER BY o.at DESC LIMIT 1)
                     + make_interval(secs => w.period) - now()))::float8
            ELSE 0 END AS reopens_in,
       w.updated_at AS last_start
FROM jobsup_rate_windows w
CROSS JOIN LATERAL (
    SELECT coalesce(sum(u.n), 0)::int AS started FROM unnest(w.starts, w.counts) AS u(at, n)
    WHERE u.at >= now() - make_interval(secs => w.period)
) s
ORDER BY w.job_type;

-- name: job_parents
-- The jobs %(id)s waits or waited for (jobsup_edges_child), in the order given, each with how it
-- stands and what the edge does when it fails.
SELECT p.id::text, coalesce(p.job_type, 'analysis') AS job_type, p.status,
       e.on_parent_failure, split_part(p.error_message, E'\n', 1) AS error
FROM jobsup_edges e JOIN processing_jobs p ON p.id = e.parent
WHERE e.child = %(id)s::uuid
ORDER BY e.n;

-- name: job_children
-- The jobs that wait or waited for %(id)s (jobsup_edges primary key: parent first), oldest
-- first, with how many parents each still waits for. %(limit)s at most.
SELECT c.id::text, coalesce(c.job_type, 'analysis') AS job_type, c.status,
       e.on_parent_failure, c.parents_left
FROM jobsup_edges e JOIN processing_jobs c ON c.id = e.child
WHERE e.parent = %(id)s::uuid
ORDER BY c.created_at, c.id
LIMIT %(limit)s;

-- name: batch_progress
-- A batch's jobs (its then-job apart) by how they stand: how many, ended, failed or
-- cancelled, running; and its then-job. Index: jobsup_jobs_batch.
SELECT b.id::text AS batch_id, b.then_id::text AS then_id,
       (SELECT status FROM processing_jobs WHERE id = b.then_id) AS then_status,
       count(j.id) AS jobs,
       count(j.id) FILTER (WHERE j.status IN ('completed', 'failed', 'cancelled')) AS ended,
       count(j.id) FILTER (WHERE j.status = 'completed') AS completed,
       count(j.id) FILTER (WHERE j.status IN ('failed', 'cancelled')) AS failed,
       count(j.id) FILTER (WHERE j.status = 'processing') AS running
FROM jobsup_batches b
LEFT JOIN processing_jobs j ON j.batch_id = b.id AND j.id IS DISTINCT FROM b.then_id
WHERE b.id = %(id)s::uuid
GROUP BY b.id;
