-- Pipelines: jobs that wait for other jobs, and batches with a job to run when they end.
--
-- A job's parents are rows of jobsup_edges (parent, child); the child's `parents_left`
-- is, at every moment, the number of its parents that have not ended (ended: completed,
-- failed or cancelled). A blocked job is 'pending' (the seed's statuses stay) with
-- parents_left > 0, and lies outside the claim's partial index, so the claim never reads it.
--
-- The count is kept by triggers, so that every path that ends or reopens a job keeps it
-- true: the supervisor's write-back, reclaim, `jobs cancel`, `jobs retry`, prune, the seed's
-- reset SQL, an UPDATE by hand. A trigger runs inside the statement that changed the
-- parent and only for the rows that statement changed: the write-back's lease guard
-- (queries.sql `finish`) decides whether a parent ends, and a fenced (late) write, which
-- changes no row, unblocks nothing. The count moves by -1 / +1 on the child's locked
-- row, never by a recount: two parents ending at once in two transactions each take one
-- off the child's latest version (the second waits for the first's lock), so the last one
-- brings it to 0 exactly once (a recount under each statement's snapshot would leave 1).

ALTER TABLE processing_jobs
    ADD COLUMN IF NOT EXISTS parents_left INTEGER NOT NULL DEFAULT 0,
    -- The batch (jobsup_batches) the job belongs to; NULL: none.
    ADD COLUMN IF NOT EXISTS batch_id UUID;

CREATE TABLE IF NOT EXISTS jobsup_edges (
    -- No foreign keys: `enqueue` checks the parents (under a lock), and the trigger
    -- jobsup_job_deleted removes a deleted job's edges once its children are told.
    parent UUID NOT NULL,
    child UUID NOT NULL,
    -- What the child does when this parent fails or is cancelled: 'fail' (it ends failed,
    -- without running, and so do its own 'fail' children) or 'run' (it runs all the same).
    on_parent_failure TEXT NOT NULL DEFAULT 'fail'
        CHECK (on_parent_failure IN ('fail', 'run')),
    -- The order the parents were given in (`Job.parents`, `jobs show`).
    n BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (parent, child),
    CHECK (parent <> child)
);
-- A job's parents (`jobs show`, the then-job's `Job.parents`).
CREATE INDEX IF NOT EXISTS jobsup_edges_child ON jobsup_edges (child);

-- A batch: jobs enqueued together (`enqueue_batch`), and the job that runs once they have
-- all ended (`then_id`, NULL: none), which depends on each of them with 'run'.
CREATE TABLE IF NOT EXISTS jobsup_batches (
    id UUID PRIMARY KEY,
    then_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobsup_jobs_batch ON processing_jobs (batch_id)
    WHERE batch_id IS NOT NULL;
-- `jobs list --blocked`, /metrics.
CREATE INDEX IF NOT EXISTS jobsup_jobs_blocked ON processing_jobs (created_at)
    WHERE status = 'pending' AND parents_left > 0;

-- The claim's index (0008) without the blocked jobs: beside a million of them the claim
-- reads what it takes. `claim`, `next_due`, `runnable_within` and `unserved` say
-- `parents_left = 0` beside `status = 'pending'` to use it.
DROP INDEX IF EXISTS jobsup_jobs_claim_type;
CREATE INDEX IF NOT EXISTS jobsup_jobs_claim_type
    ON processing_jobs ((coalesce(job_type, 'analysis')), priority DESC, run_at, id)
    WHERE status = 'pending' AND parents_left = 0;

-- A job that ends: each child has one parent less to wait for; a child that reaches 0
-- wakes the supervisors (as an enqueue does). A parent that failed or was cancelled first
-- ends its pending 'fail' children as failed, with why (`parent 1f64f4c9 failed: <its
-- first error line>`), and their own trigger carries it on down. Children are locked in
-- id order, so that two parents ending at once never wait for each other's children
-- crosswise. The count moves in a statement of its own that does not name `status`, so
-- that a child still blocked sends no wake-up (jobsup_notify_pending fires on UPDATE OF
-- status).
CREATE OR REPLACE FUNCTION jobsup_parent_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    why TEXT;
    woken INTEGER;
BEGIN
    PERFORM 1 FROM processing_jobs
    WHERE id IN (SELECT child FROM jobsup_edges WHERE parent = NEW.id)
    ORDER BY id FOR UPDATE;
    IF NEW.status <> 'completed' THEN
        why := 'parent ' || left(NEW.id::text, 8) || ' '
               || CASE WHEN NEW.status = 'cancelled' THEN 'was cancelled' ELSE 'failed' END
               || coalesce(': ' || nullif(split_part(NEW.error_message, E'\n', 1), ''), '');
        UPDATE processing_jobs j
        SET status = 'failed', error_message = why, completed_at = localtimestamp,
            updated_at = localtimestamp
        FROM jobsup_edges e
        WHERE e.parent = NEW.id AND j.id = e.child AND e.on_parent_failure = 'fail'
          AND j.status = 'pending';
    END IF;
    WITH changed AS (
        UPDATE processing_jobs j SET parents_left = j.parents_left - 1
        FROM jobsup_edges e WHERE e.parent = NEW.id AND j.id = e.child
        RETURNING j.job_type, j.status, j.parents_left
    )
    SELECT count(pg_notify('jobsup_pending', coalesce(job_type, ''))) INTO woken
    FROM changed WHERE status = 'pending' AND parents_left = 0;
    RETURN NULL;
END
$$;

-- A job that ended is open again (`jobs retry`, the seed's "clear failed jobs for retry",
-- an UPDATE by hand): each child has one more parent to wait for (one that had not yet
-- started is blocked again; one that ran already waits for it only if it is retried
-- too), and a child failed because this parent failed is pending again, its own children
-- in turn (their trigger), blocked until this parent ends.
CREATE OR REPLACE FUNCTION jobsup_parent_reopened() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM processing_jobs
    WHERE id IN (SELECT child FROM jobsup_edges WHERE parent = NEW.id)
    ORDER BY id FOR UPDATE;
    UPDATE processing_jobs j SET parents_left = j.parents_left + 1
    FROM jobsup_edges e WHERE e.parent = NEW.id AND j.id = e.child;
    UPDATE processing_jobs j
    SET status = 'pending', error_message = NULL, completed_at = NULL, run_at = now(),
        updated_at = localtimestamp
    FROM jobsup_edges e
    WHERE e.parent = NEW.id AND j.id = e.child AND j.status = 'failed'
      AND j.error_message LIKE 'parent ' || left(NEW.id::text, 8) || ' %';
    RETURN NULL;
END
$$;

-- A job deleted: its edges go with it, and if it had not ended its children stop waiting
-- for it (prune deletes only ended jobs; this is a DELETE by hand). No foreign keys on
-- jobsup_edges: a cascade would run before this trigger and leave it no edges to read.
CREATE OR REPLACE FUNCTION jobsup_job_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    woken INTEGER;
BEGIN
    IF OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled') THEN
        PERFORM 1 FROM processing_jobs
        WHERE id IN (SELECT child FROM jobsup_edges WHERE parent = OLD.id)
        ORDER BY id FOR UPDATE;
        WITH changed AS (
            UPDATE processing_jobs j SET parents_left = j.parents_left - 1
            FROM jobsup_edges e WHERE e.parent = OLD.id AND j.id = e.child
            RETURNING j.job_type, j.status, j.parents_left
        )
        SELECT count(pg_notify('jobsup_pending', coalesce(job_type, ''))) INTO woken
        FROM changed WHERE status = 'pending' AND parents_left = 0;
    END IF;
    DELETE FROM jobsup_edges WHERE parent = OLD.id OR child = OLD.id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS jobsup_parent_ended ON processing_jobs;
CREATE TRIGGER jobsup_parent_ended
    AFTER UPDATE OF status ON processing_jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled')
          AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobsup_parent_ended();
DROP TRIGGER IF EXISTS jobsup_parent_reopened ON processing_jobs;
CREATE TRIGGER jobsup_parent_reopened
    AFTER UPDATE OF status ON processing_jobs
    FOR EACH ROW
    WHEN (OLD.status IN ('completed', 'failed', 'cancelled')
          AND NEW.status NOT IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobsup_parent_reopened();
DROP TRIGGER IF EXISTS jobsup_job_deleted ON processing_jobs;
CREATE TRIGGER jobsup_job_deleted
    AFTER DELETE ON processing_jobs
    FOR EACH ROW
    EXECUTE FUNCTION jobsup_job_deleted();

-- The wake-up of 0002, not for a job enqueued blocked: it wakes the supervisors when its
-- last parent ends (above).
DROP TRIGGER IF EXISTS jobsup_notify_pending ON processing_jobs;
CREATE TRIGGER jobsup_notify_pending
    AFTER INSERT OR UPDATE OF status ON processing_jobs
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.parents_left = 0)
    EXECUTE FUNCTION jobsup_notify_pending();

-- TRUNCATE fires no row trigger: the edges and batches of the jobs it empties go with them.
CREATE OR REPLACE FUNCTION jobsup_jobs_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE jobsup_edges, jobsup_batches;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS jobsup_jobs_truncated ON processing_jobs;
CREATE TRIGGER jobsup_jobs_truncated
    AFTER TRUNCATE ON processing_jobs
    FOR EACH STATEMENT
    EXECUTE FUNCTION jobsup_jobs_truncated();
