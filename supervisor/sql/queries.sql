-- The statements the supervisor runs, one place for a DBA to read them whole.
-- Each starts with `-- name: <name>`; values are always parameters (%(name)s). A line
-- `-- include: <name>` stands for that part, word for word (supervisor/queries.py).

-- name: claim_lock_caps
-- Sent in one string before `claim` when this supervisor serves job types with a
-- cluster-wide cap ([job_types.<name>] max_running) or a rate limit (rate_limit). The
-- string runs as one transaction, so these locks are held only until the claim commits,
-- never across jobs. They make claims of a capped or rate-limited type take turns across
-- supervisors, and `claim` takes its snapshot after the lock (each statement its own, in
-- READ COMMITTED), so it counts every job a peer claimed first and every start a peer
-- wrote in the type's rate window. (Inside one statement the snapshot would come before the
-- lock: a count under it could miss a peer's claim committed while waiting, and a cap or a
-- rate could be exceeded.) Sorted: no deadlock between supervisors holding several types.
SELECT pg_advisory_xact_lock(%(cap_lock)s, hashtext(t))
FROM (SELECT DISTINCT t FROM unnest(%(cap_types)s::text[] || %(rate_types)s::text[]) AS t) AS held
ORDER BY t;

-- name: claim
-- Up to %(limit)s runnable jobs of the types %(job_types)s (always a list: those this
-- supervisor can run; a type it cannot run is never taken, its jobs wait for a supervisor
-- that serves it), highest priority first, then the ones runnable longest, each under a
-- fresh lease token (the fence of every later write about this claim). SKIP LOCKED: supervisors claiming at
-- the same moment take different rows, never wait. %(busy)s: jobs whose runner (of an
-- earlier claim) has not ended here yet: a job reset to pending under it waits until that
-- runner is gone, so one supervisor never runs it twice. Raw columns: the supervisor
-- validates them (supervisor/jobrow.py), a NULL job_type is the original cron's 'analysis',
-- a NULL metadata an empty object; `more_files` are the paths of more_file_ids, in order
-- (NULL for an id that names no row); `snoozes` counts the attempts that runner.Retry put
-- back without spending one (checked against max_snoozes); `file_name` and
-- `more_file_names` are the files' original_name (the name it was uploaded under, NULL when
-- not recorded), which the handler gets beside the paths (runner.Job.file_names). The files
-- are read by primary key (files_pkey), as the paths are.
--
-- Scheduling: paused types (jobsup_paused, '*' for all) are left out of the type list; a
-- capped type (%(cap_types)s, each with its max_running in %(cap_limits)s; `claim_lock_caps`
-- runs first in the same string) gets at most the room its running jobs leave, none when
-- full. Counting a capped type's running jobs reads the processing rows only
-- (jobsup_jobs_owner); with no cap, `room` is empty.
--
-- This statement takes unkeyed jobs only (the one sent while no keyed job is about:
-- store.claim_taking's `fair`); `claim_fair` takes keyed ones too and `claim_rated` applies
-- rate limits, both from the same parts (`claim_plain`, `claim_next`, `claim_update`).
--
-- Rate limits (`claim_rated`; %(rate_types)s, each at most %(rate_counts)s starts in
-- %(rate_periods)s seconds; `claim_lock_caps` locks them too): the type's window row (jobsup_rate_windows)
-- holds its recent starts; the room is the limit less the starts within the period up to
-- the database's clock (`clock`, read once, after the locks), the window closed at both
-- ends (a start exactly one period ago still counts). The jobs taken are written into the
-- window in the same statement, stamped with that clock, which is also their started_at:
-- no host's clock is read. A type held back keeps its jobs pending and runnable.
--
-- Fair share (`claim_fair`, `claim_rated`): jobs with a fair_key are read by round (fair_seq, given at enqueue by the
-- trigger jobsup_fair_seq), so each key's n-th job comes before any key's (n+1)-th; jobs
-- without one as before, and first: within a type and priority the keyed jobs share what
-- the unkeyed ones leave (key every job of a type for all of them to take turns).
--
-- Index: jobsup_jobs_claim_type (coalesce(job_type, 'analysis'), priority DESC, run_at, id)
-- WHERE status='pending' AND parents_left = 0 AND fair_key IS NULL (migrations 0008, 0010,
-- 0012: a job blocked by its parents is in no claim index; each statement here says
-- `parents_left = 0` to use them), read type by type
-- and, within a type, one priority level at a time: `level` finds the type's highest priority pending, then each
-- lower one (one index probe apiece), and each level's runnable jobs are read in place, in
-- run_at order, only as far as the LIMIT asks (PostgreSQL evaluates a recursive CTE only
-- as far as it is read). So what the claim reads does not grow with the pending jobs of
-- other types, nor with jobs of higher priority due later (run_at > now()): beside a
-- million of either, a claim costs a few index probes, as beside none. Keyed jobs the same
-- way on jobsup_jobs_claim_fair (…, priority DESC, fair_seq, run_at, id): `round` walks
-- (priority, fair_seq) pairs, a probe apiece, and reads each round's runnable jobs in place;
-- beside a million keyed jobs over 10,000 keys a claim reads its rounds' jobs and no more.
-- Of each type's best %(limit)s, the best %(limit)s of all are taken; rows locked but not taken (at most
-- %(limit)s a type) are free again when the statement ends. The `id` in the index and in
-- ORDER BY makes the index the only one that yields a level in order: the planner does
-- not choose to walk jobsup_jobs_due (run_at) past other levels' runnable rows instead
-- (unless it believes the table empty: see store.GENERIC_FROM_PAGES).
WITH clock AS (
    SELECT now() AS t
), rate(job_type, room) AS (
    SELECT NULL::text, NULL::int WHERE false  -- no rate limit served: see `claim_rated`
),
-- include: claim_plain
), next AS (
    SELECT id, job_type FROM plain ORDER BY priority DESC, run_at, id LIMIT %(limit)s
)
-- include: claim_update
;

-- name: claim_fair
-- `claim` with the keyed jobs (fair_key) beside the unkeyed, round by round: sent while
-- keyed jobs are about (store.claim's `fair`), and now and then to find out.
WITH clock AS (
    SELECT now() AS t
), rate(job_type, room) AS (
    SELECT NULL::text, NULL::int WHERE false  -- no rate limit served: see `claim_rated`
),
-- include: claim_plain
-- include: claim_next
-- include: claim_update
;

-- name: claim_rated
-- `claim` when this supervisor serves rate-limited types: the same, with `clock` read once
-- after the locks (clock_timestamp()), each type's `rate` room, and the starts written into
-- the windows (`windows`) in the same statement.
WITH clock AS MATERIALIZED (
    SELECT clock_timestamp() AS t
), rate AS (
    SELECT r.job_type,
           r.max_starts - coalesce((SELECT sum(s.n) FROM jobsup_rate_windows w,
                                        unnest(w.starts, w.counts) AS s(at, n)
                                    WHERE w.job_type = r.job_type
                                      AND s.at >= clock.t - make_interval(secs => r.period)),
                                   0)::int AS room
    FROM unnest(%(rate_types)s::text[], %(rate_counts)s::int[], %(rate_periods)s::float8[])
         AS r(job_type, max_starts, period), clock
),
-- include: claim_plain
-- include: claim_next
, claimed AS (
-- include: claim_update
), windows AS (
    -- The starts just made, into each rate-limited type's window, dropping those older
    -- than its period. Primary-key upsert.
    INSERT INTO jobsup_rate_windows AS w (job_type, max_starts, period, starts, counts)
    SELECT r.job_type, r.max_starts, r.period, ARRAY[clock.t], ARRAY[n.n]
    FROM unnest(%(rate_types)s::text[], %(rate_counts)s::int[], %(rate_periods)s::float8[])
         AS r(job_type, max_starts, period)
    CROSS JOIN clock
    CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM next WHERE next.job_type = r.job_type) n
    WHERE n.n > 0
    ON CONFLICT (job_type) DO UPDATE
    SET max_starts = EXCLUDED.max_starts, period = EXCLUDED.period, updated_at = now(),
        (starts, counts) = (
            SELECT array_agg(s.at ORDER BY s.at), array_agg(s.n ORDER BY s.at)
            FROM (SELECT o.at, o.n FROM unnest(w.starts, w.counts) AS o(at, n)
                  WHERE o.at >= EXCLUDED.starts[1] - make_interval(secs => EXCLUDED.period)
                  UNION ALL
                  SELECT EXCLUDED.starts[1], EXCLUDED.counts[1]) AS s)
)
SELECT * FROM claimed;

-- name: claim_plain
-- A part of every claim (after its `clock` and `rate`): the types to read and their unkeyed
-- runnable jobs, level by level (the `plain` CTE left open: the claim closes it).
room AS (
    SELECT c.job_type,
           c.max_running - (SELECT count(*) FROM processing_jobs p
                            WHERE p.status = 'processing'
                              AND coalesce(p.job_type, 'analysis') = c.job_type) AS room
    FROM unnest(%(cap_types)s::text[], %(cap_limits)s::int[]) AS c(job_type, max_running)
), served AS (
    -- The types to read: not paused, and with room when capped or rate-limited (room NULL:
    -- neither; least() ignores a NULL).
    SELECT t.job_type, least(room.room, rate.room) AS room
    FROM unnest(%(job_types)s::text[]) AS t(job_type)
    LEFT JOIN room ON room.job_type = t.job_type
    LEFT JOIN rate ON rate.job_type = t.job_type
    WHERE coalesce(least(room.room, rate.room), 1) > 0
      AND t.job_type <> ALL(ARRAY(SELECT job_type FROM jobsup_paused))
      AND NOT EXISTS (SELECT 1 FROM jobsup_paused WHERE job_type = '*')
), plain AS (
    SELECT t.job_type, c.id, c.priority, c.run_at FROM served AS t
    CROSS JOIN LATERAL (
        WITH RECURSIVE level(priority) AS (
            SELECT max(priority) FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
              AND coalesce(job_type, 'analysis') = t.job_type
            UNION ALL
            SELECT (SELECT max(j.priority) FROM processing_jobs j
                    WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NULL
                      AND coalesce(j.job_type, 'analysis') = t.job_type
                      AND j.priority < level.priority)
            FROM level WHERE level.priority IS NOT NULL
        )
        SELECT r.id, r.priority, r.run_at FROM level
        CROSS JOIN LATERAL (
            SELECT id, priority, run_at FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
              AND coalesce(job_type, 'analysis') = t.job_type
              AND priority = level.priority AND run_at <= now()
              AND id <> ALL(%(busy)s::uuid[])
            ORDER BY run_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) r
        LIMIT least(%(limit)s, t.room)
    ) c

-- name: claim_next
-- A part of `claim_fair` and `claim_rated`, after `claim_plain`: the jobs to take, keyed
-- ones round by round.
), keyed AS (
    SELECT t.job_type, c.id, c.priority, c.run_at, c.fair_seq FROM served AS t
    CROSS JOIN LATERAL (
        WITH RECURSIVE round(priority, seq) AS (
            SELECT p.priority,
                   (SELECT min(j.fair_seq) FROM processing_jobs j
                    WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NOT NULL
                      AND coalesce(j.job_type, 'analysis') = t.job_type
                      AND j.priority = p.priority)
            FROM (SELECT max(priority) AS priority FROM processing_jobs
                  WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL
                    AND coalesce(job_type, 'analysis') = t.job_type) AS p
            UNION ALL
            -- The next round of the same priority, else the first round of the next lower.
            SELECT n.priority,
                   CASE WHEN n.priority = round.priority THEN n.same
                        ELSE (SELECT min(j.fair_seq) FROM processing_jobs j
                              WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NOT NULL
                                AND coalesce(j.job_type, 'analysis') = t.job_type
                                AND j.priority = n.priority) END
            FROM round CROSS JOIN LATERAL (
                SELECT s.same,
                       CASE WHEN s.same IS NOT NULL THEN round.priority
                            ELSE (SELECT max(j.priority) FROM processing_jobs j
                                  WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NOT NULL
                                    AND coalesce(j.job_type, 'analysis') = t.job_type
                                    AND j.priority < round.priority) END AS priority
                FROM (SELECT (SELECT min(j.fair_seq) FROM processing_jobs j
                              WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NOT NULL
                                AND coalesce(j.job_type, 'analysis') = t.job_type
                                AND j.priority = round.priority
                                AND j.fair_seq > round.seq) AS same) AS s
            ) AS n
            WHERE round.priority IS NOT NULL
        )
        SELECT r.id, r.priority, r.run_at, r.fair_seq FROM round
        CROSS JOIN LATERAL (
            SELECT id, priority, run_at, fair_seq FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL
              AND coalesce(job_type, 'analysis') = t.job_type
              AND priority = round.priority AND fair_seq = round.seq AND run_at <= now()
              AND id <> ALL(%(busy)s::uuid[])
            ORDER BY run_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) r
        LIMIT least(%(limit)s, t.room)
    ) c
), ranked AS (
    -- Each candidate's round within its type and priority: a keyed job's among the rounds
    -- read; an unkeyed job's 0, so the unkeyed jobs are taken first, as without keys, and
    -- the keyed ones share the rest round by round.
    SELECT p.job_type, p.id, p.priority, p.run_at, 0::bigint AS round
    FROM plain p
    UNION ALL
    SELECT k.job_type, k.id, k.priority, k.run_at,
           dense_rank() OVER (PARTITION BY k.job_type, k.priority ORDER BY k.fair_seq) AS round
    FROM keyed k
), next AS (
    SELECT c.id, c.job_type FROM (
        SELECT ranked.*, served.room,
               row_number() OVER (PARTITION BY ranked.job_type
                                  ORDER BY priority DESC, round, run_at, id) AS place
        FROM ranked JOIN served ON served.job_type = ranked.job_type
    ) c
    WHERE c.room IS NULL OR c.place <= c.room  -- a type's room holds for both kinds
    ORDER BY c.priority DESC, c.round, c.run_at, c.id
    LIMIT %(limit)s
)

-- name: claim_update
-- A part of `claim` and `claim_rated`: take the jobs of `next`, started at `clock`.
UPDATE processing_jobs j
SET status = 'processing', started_at = (SELECT t FROM clock), updated_at = now(),
    worker_id = %(worker_id)s, runner_pid = NULL, lease = nextval('jobsup_lease'),
    progress = NULL  -- a new attempt starts over: no bar left from the one before
-- A primary-key probe per id, whatever the planner believes of the table's size (a join
-- with `next` could be planned as a walk of the table, as on one that looked empty).
WHERE j.id = ANY(ARRAY(SELECT id FROM next))
RETURNING j.id::text, j.lease, coalesce(j.job_type, 'analysis') AS job_type,
          j.business_description, coalesce(j.metadata, '{}'::jsonb) AS metadata,
          coalesce(j.retry_count, 0) AS retry_count,
          (SELECT f.file_path FROM files f WHERE f.id = j.file_id) AS file_path,
          j.file_id IS NOT NULL AS has_file, j.priority,
          CASE WHEN j.more_file_ids IS NOT NULL
               THEN ARRAY(SELECT f.file_path
                          FROM unnest(j.more_file_ids) WITH ORDINALITY AS m(id, n)
                          LEFT JOIN files f ON f.id = m.id ORDER BY m.n) END AS more_files,
          CASE WHEN jsonb_typeof(j.attempts) = 'array'
               THEN (SELECT count(*)::int FROM jsonb_array_elements(j.attempts) AS a
                     WHERE a ->> 'outcome' = 'snoozed')
               ELSE 0 END AS snoozes,
          (SELECT f.original_name FROM files f WHERE f.id = j.file_id) AS file_name,
          CASE WHEN j.more_file_ids IS NOT NULL
               THEN ARRAY(SELECT f.original_name
                          FROM unnest(j.more_file_ids) WITH ORDINALITY AS m(id, n)
                          LEFT JOIN files f ON f.id = m.id ORDER BY m.n) END AS more_file_names,
          -- Pipelines (0010): the jobs it waited for (runner.Job.parents), its batch.
-- include: claimed_parents
          , j.batch_id::text AS batch_id, coalesce(j.steps, '{}'::jsonb) AS steps,
          j.trace_context,
          j.fair_key IS NOT NULL AS keyed  -- last: store.claim_taking reads it there

-- name: next_due
-- When the earliest pending job this supervisor could run falls due (NULL: none pending):
-- the earliest run_at of each priority level of each type served, as `claim` reads them.
-- Seconds, never negative; a run_at of 'infinity' never falls due. NULL when none is
-- pending (greatest() skips a NULL: without the CASE, an empty queue fell due at once and
-- an idle supervisor claimed in a busy loop). Index: jobsup_jobs_claim_type; keyed jobs,
-- one probe a type on jobsup_jobs_fair_due (run_at).
-- Held types (paused, or capped and full, as in `claim`) are left out: they wait for a
-- resume or a freed place. A rate-limited type whose window is full falls due no earlier
-- than the window has room again (`reopen`: when the newest start that fills it is older
-- than the period; a millisecond later, as the window is closed), so a supervisor sleeps
-- until then, neither claiming in a loop nor past it. `keyed`: whether keyed jobs
-- (fair_key) are pending (the supervisor then sends `claim_fair`).
WITH RECURSIVE
served(job_type) AS (
    SELECT t.job_type FROM unnest(%(job_types)s::text[]) AS t(job_type)
    WHERE t.job_type <> ALL(ARRAY(SELECT job_type FROM jobsup_paused))
      AND NOT EXISTS (SELECT 1 FROM jobsup_paused WHERE job_type = '*')
      AND NOT EXISTS (
          SELECT 1 FROM unnest(%(cap_types)s::text[], %(cap_limits)s::int[])
                        AS c(job_type, max_running)
          WHERE c.job_type = t.job_type
            AND c.max_running <= (SELECT count(*) FROM processing_jobs p
                                  WHERE p.status = 'processing'
                                    AND coalesce(p.job_type, 'analysis') = c.job_type))
),
level(job_type, priority) AS (
    -- Each priority level of each type served, highest first, one index probe apiece.
    SELECT served.job_type,
           (SELECT max(priority) FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
              AND coalesce(job_type, 'analysis') = served.job_type)
    FROM served
    UNION ALL
    SELECT level.job_type,
           (SELECT max(j.priority) FROM processing_jobs j
            WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NULL
              AND coalesce(j.job_type, 'analysis') = level.job_type
              AND j.priority < level.priority)
    FROM level WHERE level.priority IS NOT NULL
),
due(job_type, run_at, keyed) AS (
    SELECT level.job_type, d.run_at, false FROM level CROSS JOIN LATERAL (
        SELECT run_at FROM processing_jobs
        WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
          AND coalesce(job_type, 'analysis') = level.job_type
          AND priority = level.priority AND run_at < 'infinity' AND id <> ALL(%(busy)s::uuid[])
        ORDER BY run_at, id
        LIMIT 1
    ) d
    UNION ALL
    SELECT served.job_type, d.run_at, true FROM served CROSS JOIN LATERAL (
        SELECT run_at FROM processing_jobs
        WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL
          AND coalesce(job_type, 'analysis') = served.job_type
          AND run_at < 'infinity' AND id <> ALL(%(busy)s::uuid[])
        ORDER BY run_at, id
        LIMIT 1
    ) d
),
reopen(job_type, at) AS (
    SELECT r.job_type,
           (SELECT s.at FROM (SELECT o.at, sum(o.n) OVER (ORDER BY o.at DESC) AS newer
                              FROM jobsup_rate_windows w, unnest(w.starts, w.counts) AS o(at, n)
                              WHERE w.job_type = r.job_type) AS s
            WHERE s.newer >= r.max_starts ORDER BY s.at DESC LIMIT 1)
           + make_interval(secs => r.period + 0.001)
    FROM unnest(%(rate_types)s::text[], %(rate_counts)s::int[], %(rate_periods)s::float8[])
         AS r(job_type, max_starts, period)
)
SELECT CASE WHEN min(d.at) IS NOT NULL
            THEN extract(epoch FROM greatest(min(d.at), now()) - now())::float8
       END AS wait,
       (SELECT coalesce(bool_or(due.keyed), false) FROM due) AS keyed
FROM (SELECT greatest(min(due.run_at), min(reopen.at)) AS at
      FROM due LEFT JOIN reopen ON reopen.job_type = due.job_type
      GROUP BY due.job_type) AS d;

-- name: runnable_within
-- Is any pending job of ours due within %(seconds)s? (--until-empty) Level by level as in
-- `next_due`, stopping at the first job found; paused types wait for a resume, so they do
-- not count. Index: jobsup_jobs_claim_type; keyed jobs jobsup_jobs_fair_due.
WITH RECURSIVE
served(job_type) AS (
    SELECT t.job_type FROM unnest(%(job_types)s::text[]) AS t(job_type)
    WHERE t.job_type <> ALL(ARRAY(SELECT job_type FROM jobsup_paused))
      AND NOT EXISTS (SELECT 1 FROM jobsup_paused WHERE job_type = '*')
),
level(job_type, priority) AS (
    -- Each priority level of each type served, highest first, one index probe apiece.
    SELECT served.job_type,
           (SELECT max(priority) FROM processing_jobs
            WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
              AND coalesce(job_type, 'analysis') = served.job_type)
    FROM served
    UNION ALL
    SELECT level.job_type,
           (SELECT max(j.priority) FROM processing_jobs j
            WHERE j.status = 'pending' AND j.parents_left = 0 AND j.fair_key IS NULL
              AND coalesce(j.job_type, 'analysis') = level.job_type
              AND j.priority < level.priority)
    FROM level WHERE level.priority IS NOT NULL
)
-- A scalar subquery per level, not EXISTS: an EXISTS may be planned as a join over every
-- pending row (as for a table that looked empty); this is one index probe apiece, and its
-- ORDER BY (as in `claim`) leaves jobsup_jobs_claim_type the only index that needs no sort.
SELECT EXISTS (
    SELECT 1 FROM level
    WHERE level.priority IS NOT NULL AND (
        SELECT true FROM processing_jobs
        WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL
          AND coalesce(job_type, 'analysis') = level.job_type
          AND priority = level.priority
          AND run_at <= now() + make_interval(secs => %(seconds)s)
        ORDER BY run_at, id LIMIT 1)
) OR EXISTS (
    SELECT 1 FROM served
    WHERE (SELECT true FROM processing_jobs
           WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL
             AND coalesce(job_type, 'analysis') = served.job_type
             AND run_at <= now() + make_interval(secs => %(seconds)s)
           ORDER BY run_at, id LIMIT 1)
);

-- name: claimed_parents
-- Pipelines (0010): the jobs a claimed job waited for, in the order given, as they ended,
-- with their insights
-- (runner.Job.parents: a batch's then-job combines them). NULL for a job with none.
-- Indexes: jobsup_edges_child, the primary key, jobsup_insights_job.
(SELECT jsonb_agg(jsonb_build_object(
            'id', p.id, 'type', coalesce(p.job_type, 'analysis'), 'status', p.status,
            'error', nullif(split_part(p.error_message, E'\n', 1), ''),
            'description', p.business_description,
            'file_name', (SELECT coalesce(f.original_name, f.file_path)
                          FROM files f WHERE f.id = p.file_id),
            'insights', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                             'insight_type', i.insight_type,
                                             'content', i.content,
                                             'confidence_score', i.confidence_score)
                                         ORDER BY i.created_at, i.ctid)
                                  FROM insights i WHERE i.job_id = p.id), '[]'))
        ORDER BY e.n)
 FROM jobsup_edges e JOIN processing_jobs p ON p.id = e.parent
 WHERE e.child = j.id) AS parents

-- name: finish
-- Write the outcome of finished attempts and the insights of completed ones, in one
-- statement (so one transaction and one round trip), each only while the row still holds
-- that attempt's claim: this supervisor as owner, 'processing', and the claim's lease. A
-- job reset, reclaimed or claimed again since is never written: its late result is dropped.
-- status: completed | failed | pending (a retry, or an attempt cut short by shutdown); NULL
-- for an attempt whose job was taken from this supervisor (cancelled, reset by hand): only
-- its record is added to `attempts`, and only while no other claim has followed.
-- Every write clears the lease (see the trigger jobsup_notify_owner). Primary-key lookups.
-- A job that ends here frees its children (jobsup_edges) in this same statement, by the
-- trigger jobsup_parent_ended (migration 0010): only for the rows this guard let through,
-- so a fenced late result unblocks nothing.
-- %(outcomes)s: a JSON array of `Outcome.row()`; %(insights)s: one of insights with job_id.
-- An attempt's record is numbered on from the history's: `attempt` (retry_count + 1) plus the
-- attempts before the last `jobs retry` (its record's `after`), so numbers never restart.
WITH o0 AS (
    SELECT * FROM jsonb_to_recordset(%(outcomes)s::jsonb)
         AS o(id uuid, lease bigint, status text, retry_count int, error text, keep_error bool,
              delay float8, attempt jsonb)
), o AS (
    SELECT o0.id, o0.lease, o0.status, o0.retry_count, o0.error, o0.keep_error, o0.delay,
           CASE WHEN o0.attempt ? 'attempt'
                THEN o0.attempt || jsonb_build_object('attempt',
                         (o0.attempt ->> 'attempt')::int + coalesce((
                             SELECT (a ->> 'after')::int
                             FROM processing_jobs j,
                                  jsonb_array_elements(CASE WHEN jsonb_typeof(j.attempts) = 'array'
                                                            THEN j.attempts ELSE '[]' END)
                                      WITH ORDINALITY AS e(a, n)
                             WHERE j.id = o0.id AND a ->> 'outcome' = 'retried'
                             ORDER BY e.n DESC LIMIT 1), 0))
                ELSE o0.attempt END AS attempt
    FROM o0
), done AS (
    UPDATE processing_jobs j
    SET status = o.status,
        retry_count = o.retry_count,
        error_message = CASE WHEN o.keep_error THEN j.error_message ELSE o.error END,
        completed_at = CASE WHEN o.status = 'pending' THEN NULL ELSE now() END,
        started_at = CASE WHEN o.status = 'pending' THEN NULL ELSE j.started_at END,
        run_at = CASE WHEN o.status = 'pending'
                      THEN now() + make_interval(secs => o.delay) ELSE j.run_at END,
        worker_id = CASE WHEN o.status = 'pending' THEN NULL ELSE j.worker_id END,
        runner_pid = CASE WHEN o.status = 'pending' THEN NULL ELSE j.runner_pid END,
        attempts = CASE WHEN o.attempt IS NULL THEN j.attempts ELSE j.attempts || o.attempt END,
        lease = NULL,
        updated_at = now()
    FROM o
    WHERE j.id = o.id AND o.status IS NOT NULL AND j.lease = o.lease
      AND j.id = ANY(ARRAY(SELECT id FROM o))  -- primary-key probes, as in `claim`
      AND j.worker_id = %(worker_id)s AND j.status = 'processing'
    RETURNING j.id, j.status
), noted AS (
    UPDATE processing_jobs j
    SET attempts = j.attempts || o.attempt, lease = NULL, updated_at = now()
    FROM o
    WHERE j.id = o.id AND o.status IS NULL AND o.attempt IS NOT NULL AND j.lease = o.lease
      AND j.id = ANY(ARRAY(SELECT id FROM o))
    RETURNING j.id
), stored AS (
    INSERT INTO insights (job_id, insight_type, content, confidence_score)
    SELECT i.job_id, i.insight_type, i.content, i.confidence_score
    FROM jsonb_to_recordset(%(insights)s::jsonb)
         AS i(job_id uuid, insight_type text, content jsonb, confidence_score numeric)
    JOIN done ON done.id = i.job_id AND done.status = 'completed'
)
SELECT id::text FROM done UNION ALL SELECT id::text FROM noted;

-- name: owned
-- For each claim this supervisor runs (job id and lease): the job's status now (NULL when
-- the row is gone), and whether the claim still holds it. Primary-key lookups.
SELECT r.id::text, j.status,
       coalesce(j.worker_id = %(worker_id)s AND j.status = 'processing' AND j.lease = r.lease,
                false) AS ours
FROM unnest(%(ids)s::uuid[], %(leases)s::bigint[]) AS r(id, lease)
LEFT JOIN processing_jobs j ON j.id = r.id;

-- name: set_runner_pids
UPDATE processing_jobs j SET runner_pid = r.pid
FROM unnest(%(ids)s::uuid[], %(leases)s::bigint[], %(pids)s::int[]) AS r(id, lease, pid)
WHERE j.id = r.id AND j.lease = r.lease AND j.worker_id = %(worker_id)s
  AND j.runner_pid IS DISTINCT FROM r.pid;

-- name: release_unrun
-- Jobs this supervisor owns in the database under a claim it does not know of (%(ids)s and
-- %(leases)s: the claims it does): a claim whose answer was lost with the connection. They
-- never started: back to 'pending', no attempt spent. Index: jobsup_jobs_owner.
UPDATE processing_jobs j
SET status = 'pending', worker_id = NULL, started_at = NULL, runner_pid = NULL, lease = NULL,
    run_at = now(), updated_at = now()
WHERE j.worker_id = %(worker_id)s AND j.status = 'processing'
  AND NOT EXISTS (SELECT 1 FROM unnest(%(ids)s::uuid[], %(leases)s::bigint[]) AS k(id, lease)
                  WHERE k.id = j.id AND k.lease IS NOT DISTINCT FROM j.lease)
RETURNING j.id::text;

-- name: register
INSERT INTO jobsup_workers
    (id, host, host_key, pid, process_started, slots, job_types, config_path, version)
VALUES (%(id)s, %(host)s, %(host_key)s, %(pid)s, %(process_started)s, %(slots)s,
        %(job_types)s, %(config_path)s, %(version)s)
-- A supervisor declared dead while it was only cut off comes back as running; the jobs it
-- lost meanwhile are no longer under its leases, so it cannot write them.
ON CONFLICT (id) DO UPDATE SET state = 'running', heartbeat_at = now(), ended_reason = NULL;

-- name: heartbeat
-- Returns nothing when another supervisor declared this one dead and its row is gone.
UPDATE jobsup_workers
SET heartbeat_at = now(), state = %(state)s, slots = %(slots)s, running = %(running)s,
    runners = %(runners)s, job_types = %(job_types)s
WHERE id = %(id)s
RETURNING id;

-- name: peers_writing
-- While this supervisor's writes are refused (a read-only database): has a live peer's
-- heartbeat gone through well after this one's last? Then peers write elsewhere (this one
-- reached a standby by mistake) and may reclaim its jobs: its lease is not held. Without a
-- row of its own (refused at its start) only a heartbeat in the last `margin` counts.
SELECT EXISTS (
    SELECT 1
    FROM jobsup_workers AS peer
    WHERE peer.id <> %(id)s::uuid AND peer.state <> 'stopped'
      AND peer.heartbeat_at > coalesce(
          (SELECT heartbeat_at FROM jobsup_workers WHERE id = %(id)s::uuid),
          now() - make_interval(secs => %(margin)s)
      ) + make_interval(secs => %(margin)s));

-- name: deregister
UPDATE jobsup_workers
SET state = 'stopped', heartbeat_at = now(), running = 0, runners = '[]'
WHERE id = %(id)s;

-- name: same_host_workers
-- Supervisors whose pid this one can check (same boot, same pid namespace).
SELECT id::text, pid, process_started FROM jobsup_workers
WHERE host_key = %(host_key)s AND state IN ('running', 'draining') AND id <> %(id)s;

-- name: held_jobs
-- The jobs the supervisors %(ids)s (whose process is gone) hold: their runners are looked for
-- before those supervisors are declared dead. Index: jobsup_jobs_owner (worker_id).
SELECT worker_id::text, id::text FROM processing_jobs
WHERE status = 'processing' AND worker_id = ANY(%(ids)s::uuid[]);

-- name: mark_dead
-- Supervisors whose process is gone (%(gone)s, checked on this host), or that stayed silent
-- for %(stale_after)s seconds while this one watched: only a supervisor that has itself been
-- connected that long (%(watched)s) may judge silence, so after an outage of the database
-- itself, when every heartbeat is old, no live supervisor is declared dead.
UPDATE jobsup_workers
SET state = 'dead',
    ended_reason = CASE WHEN id = ANY(%(gone)s::uuid[]) THEN 'process gone'
                        ELSE 'silent for '
                             || round(extract(epoch FROM now() - heartbeat_at))::text || ' s'
                   END
WHERE state IN ('running', 'draining')
  AND (id = ANY(%(gone)s::uuid[])
       OR (%(watched)s >= %(stale_after)s
           AND heartbeat_at < now() - make_interval(secs => %(stale_after)s)))
RETURNING id::text, host, pid, ended_reason;

-- name: reclaim
-- Jobs left 'processing' by a supervisor that is no longer running, or by the original cron
-- (no owner) for longer than %(orphan_after)s: back to 'pending' with an attempt spent, or
-- 'failed' when none is left. Index: jobsup_jobs_owner (worker_id) WHERE status='processing'.
-- %(max_retries)s: [retry] max_retries; a type in %(retry_types)s has its own (%(retry_maxes)s).
-- A supervisor takes back only jobs of the types it serves (%(job_types)s): whether one goes
-- back to pending or has spent its attempts is its type's policy, known to the supervisors
-- that serve it (one serving none of it waits for them; `jobs reclaim` passes NULL: all).
WITH lost AS (
    SELECT j.id, coalesce(j.retry_count, 0) AS retries,
           coalesce((SELECT (a ->> 'after')::int  -- numbered on after `jobs retry`, as above
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.attempts) = 'array'
                                                    THEN j.attempts ELSE '[]' END)
                          WITH ORDINALITY AS e(a, n)
                     WHERE a ->> 'outcome' = 'retried' ORDER BY e.n DESC LIMIT 1), 0) AS before,
           coalesce((SELECT r.max_retries
                     FROM unnest(%(retry_types)s::text[], %(retry_maxes)s::int[])
                          AS r(job_type, max_retries)
                     WHERE r.job_type = coalesce(j.job_type, 'analysis')),
                    %(max_retries)s) AS max_retries,
           CASE WHEN j.worker_id IS NULL
                THEN 'left processing with no owner for over '
                     || round(%(orphan_after)s / 60) || ' minutes'
                ELSE 'its supervisor ' || coalesce(w.host || ' pid ' || w.pid, j.worker_id::text)
                     || CASE WHEN w.id IS NULL THEN ' is unknown'
                             WHEN w.state = 'stopped' THEN ' stopped without finishing it'
                             ELSE ': ' || coalesce(w.ended_reason, 'declared dead')
                        END
           END AS why
    FROM processing_jobs j
    LEFT JOIN jobsup_workers w ON w.id = j.worker_id
    WHERE j.status = 'processing'
      AND ((j.worker_id IS NULL AND j.started_at < now() - make_interval(secs => %(orphan_after)s))
           OR (j.worker_id IS NOT NULL AND (w.id IS NULL OR w.state IN ('dead', 'stopped'))))
      AND (%(job_types)s::text[] IS NULL
           OR coalesce(j.job_type, 'analysis') = ANY(%(job_types)s::text[]))
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE processing_jobs j
SET status = CASE WHEN lost.retries < lost.max_retries THEN 'pending' ELSE 'failed' END,
    retry_count = CASE WHEN lost.retries < lost.max_retries THEN lost.retries + 1
                       ELSE lost.retries END,
    error_message = CASE WHEN lost.retries < lost.max_retries
                         THEN 'reclaimed: ' || lost.why
                         ELSE 'failed: ' || lost.why || '; no attempts left' END,
    completed_at = CASE WHEN lost.retries < lost.max_retries THEN NULL ELSE now() END,
    attempts = j.attempts || jsonb_build_object(
        'attempt', lost.before + lost.retries + 1, 'worker', j.worker_id,
        'error', 'reclaimed: ' || lost.why,
        'outcome', CASE WHEN lost.retries < lost.max_retries THEN 'retry' ELSE 'failed' END),
    started_at = NULL, run_at = now(), worker_id = NULL, runner_pid = NULL, lease = NULL,
    updated_at = now()
FROM lost
WHERE j.id = lost.id
RETURNING j.id::text, j.status, j.error_message, coalesce(j.job_type, 'analysis');

-- name: forget_workers
-- Rows of supervisors gone for a day, once none of their jobs is still 'processing'.
DELETE FROM jobsup_workers w
WHERE w.state IN ('dead', 'stopped') AND w.heartbeat_at < now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM processing_jobs j
                  WHERE j.worker_id = w.id AND j.status = 'processing');

-- name: progress
-- The progress running jobs reported (at most one write a second a job, see
-- runners/messages.py), each only while the row still holds that attempt's claim, as
-- `finish`. Primary-key probes. %(rows)s: a JSON array of {id, lease, progress}.
WITH p AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS p(id uuid, lease bigint, progress jsonb)
)
UPDATE processing_jobs j
SET progress = p.progress || jsonb_build_object('at', now())
FROM p
WHERE j.id = p.id AND j.lease = p.lease
  AND j.id = ANY(ARRAY(SELECT id FROM p))
  AND j.worker_id = %(worker_id)s AND j.status = 'processing';

-- name: steps
-- Durable steps' results (job.step), added to the job's `steps` under the claim that made
-- them, as `finish`: a fenced runner's result is never written. The (id, lease) pairs
-- written come back; a step of another is answered "not stored". Primary-key probes.
-- %(rows)s: a JSON array of {id, lease, name, result}.
WITH s AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb)
         AS s(id uuid, lease bigint, name text, result jsonb)
), per_job AS (
    SELECT id, lease, jsonb_object_agg(name, result) AS steps FROM s GROUP BY id, lease
)
UPDATE processing_jobs j
SET steps = coalesce(j.steps, '{}'::jsonb) || per_job.steps
FROM per_job
WHERE j.id = per_job.id AND j.lease = per_job.lease
  AND j.id = ANY(ARRAY(SELECT id FROM per_job))
  AND j.worker_id = %(worker_id)s AND j.status = 'processing'
RETURNING j.id::text, j.lease;
