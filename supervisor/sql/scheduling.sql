-- Periodic slots and paused job types (migration 0006). Values are always parameters.

-- name: last_slots
-- The last slot enqueued of each schedule named. Primary-key lookups.
SELECT name, last_slot FROM jobsup_periodic WHERE name = ANY(%(names)s::text[]);

-- name: enqueue_slot
-- The job of one slot, enqueued only by the first supervisor to move the schedule's
-- last_slot past it: the upsert takes the schedule's row lock, and a supervisor that waited
-- on it sees the moved row and inserts nothing, even if that slot's job has already ended.
-- The job's unique_key (periodic:<name>:<slot>) is the second guard, against any other
-- insert of the same slot (jobsup_jobs_unique). Returns the new job's id, or nothing.
WITH advanced AS (
    INSERT INTO jobsup_periodic AS p (name, last_slot, last_job_id, enqueued_at)
    VALUES (%(name)s, %(slot)s, %(job_id)s, now())
    ON CONFLICT (name) DO UPDATE
    SET last_slot = excluded.last_slot, last_job_id = excluded.last_job_id, enqueued_at = now()
    WHERE p.last_slot < excluded.last_slot
    RETURNING name
), file AS (
    INSERT INTO files (file_path, original_name)
    SELECT %(file)s::text, NULL FROM advanced WHERE %(file)s::text IS NOT NULL
    RETURNING id
)
INSERT INTO processing_jobs
    (id, file_id, business_description, job_type, priority, metadata, unique_key)
SELECT %(job_id)s::uuid, (SELECT id FROM file), %(description)s, %(job_type)s, %(priority)s,
       %(metadata)s::jsonb, %(key)s
FROM advanced
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
DO NOTHING
RETURNING id::text;

-- name: schedules
-- Every schedule ever enqueued, with its last job's status now (`jobsup periodic list`).
SELECT p.name, p.last_slot, p.last_job_id::text, p.enqueued_at, j.status
FROM jobsup_periodic p LEFT JOIN processing_jobs j ON j.id = p.last_job_id
ORDER BY p.name;

-- name: pause
-- Returns the types newly paused ('*': all of them).
INSERT INTO jobsup_paused (job_type, paused_by)
SELECT t, %(by)s FROM unnest(%(types)s::text[]) AS t
ON CONFLICT (job_type) DO NOTHING
RETURNING job_type;

-- name: resume
-- Returns the types resumed, and wakes the supervisors that serve them.
WITH gone AS (
    DELETE FROM jobsup_paused WHERE %(all)s OR job_type = ANY(%(types)s::text[])
    RETURNING job_type
)
SELECT job_type, pg_notify('jobsup_pending', job_type) IS NULL FROM gone ORDER BY job_type;

-- name: paused
SELECT job_type, paused_at, paused_by FROM jobsup_paused ORDER BY job_type;

-- name: database_now
-- Slots fall due by the database's clock, never by a host's.
SELECT clock_timestamp();
