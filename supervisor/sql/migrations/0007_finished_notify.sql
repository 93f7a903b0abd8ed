-- Tell whoever waits for a job (`jobsup jobs wait`, `enqueue --wait`, `wait()` in Python)
-- the moment it reaches a final status: NOTIFY jobsup_finished, payload the job's id.
-- A trigger, so that every path that ends a job sends it (the supervisor's write-back,
-- reclaim, `jobs cancel`, an UPDATE by hand); the notification goes out when the
-- transaction commits, so a waiter woken by it reads the job's insights already written.
-- Only a change of status fires it: a finished job updated again (its attempts, by hand)
-- stays silent.
CREATE OR REPLACE FUNCTION jobsup_notify_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobsup_finished', NEW.id::text);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS jobsup_notify_finished ON processing_jobs;
CREATE TRIGGER jobsup_notify_finished
    AFTER UPDATE OF status ON processing_jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobsup_notify_finished();
