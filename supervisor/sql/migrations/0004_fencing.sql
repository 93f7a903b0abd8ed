-- Fencing: every claim gets a fresh lease token, and every write about an attempt carries
-- it, so a supervisor can never write for a claim that is no longer current (a job reset by
-- hand, reclaimed from a frozen supervisor, or claimed again since).

-- The token of the claim that holds the job while it is 'processing'; NULL otherwise.
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS lease BIGINT;
CREATE SEQUENCE IF NOT EXISTS jobsup_lease;

-- Why a supervisor was declared dead or stopped: "silent for 63 s", "process gone".
ALTER TABLE jobsup_workers ADD COLUMN IF NOT EXISTS ended_reason TEXT;

-- Wake the owner of a running job, on whichever host, when the job is taken from it by
-- anyone but itself: cancelled, reset by hand (the seed's emergency UPDATE), deleted. Its
-- own writes clear the lease, so a status that leaves 'processing' with the lease still set
-- was changed by someone else. The owner then kills that runner at once.
CREATE OR REPLACE FUNCTION jobsup_notify_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobsup_control', OLD.worker_id::text);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS jobsup_notify_cancel ON processing_jobs;
DROP FUNCTION IF EXISTS jobsup_notify_cancel();
DROP TRIGGER IF EXISTS jobsup_notify_owner ON processing_jobs;
CREATE TRIGGER jobsup_notify_owner
    AFTER UPDATE OF status, worker_id ON processing_jobs
    FOR EACH ROW
    WHEN (OLD.status = 'processing' AND OLD.worker_id IS NOT NULL AND OLD.lease IS NOT NULL
          AND NEW.lease IS NOT DISTINCT FROM OLD.lease
          AND (NEW.status IS DISTINCT FROM 'processing'
               OR NEW.worker_id IS DISTINCT FROM OLD.worker_id))
    EXECUTE FUNCTION jobsup_notify_owner();
DROP TRIGGER IF EXISTS jobsup_notify_owner_delete ON processing_jobs;
CREATE TRIGGER jobsup_notify_owner_delete
    AFTER DELETE ON processing_jobs
    FOR EACH ROW
    WHEN (OLD.status = 'processing' AND OLD.worker_id IS NOT NULL)
    EXECUTE FUNCTION jobsup_notify_owner();
