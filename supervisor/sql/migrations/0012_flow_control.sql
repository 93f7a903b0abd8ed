-- Flow control (issue 26): rate limits per job type and fair share across keys.
--
-- Rate limits: one window row per rate-limited type, written only by the claim, inside its
-- transaction, with the database's clock: `starts` are the times jobs were started (the
-- claim's clock_timestamp()), `counts` how many at each; entries older than the period are
-- dropped at each write, so a row holds at most one entry per claim within the period.
-- `max_starts` and `period` are the limit as the last claiming supervisor had it configured
-- (`jobsup stats`, the dashboard and /metrics read them from here).
CREATE TABLE IF NOT EXISTS jobsup_rate_windows (
    job_type TEXT PRIMARY KEY,
    max_starts INTEGER NOT NULL,
    period DOUBLE PRECISION NOT NULL,  -- seconds
    starts TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    counts INTEGER[] NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Fair share: a job enqueued with a fair_key gets a round (fair_seq) at insert: one past the
-- last pending job of its key (same type and priority), never behind the earliest round still
-- pending. The claim takes keyed jobs round by round, so each key's n-th job comes before any
-- key's (n+1)-th: a key with 1,000 pending jobs and a key with 1 are served alternately.
-- Jobs without a key (NULL) never get a round and are claimed exactly as before.
ALTER TABLE processing_jobs
    ADD COLUMN IF NOT EXISTS fair_key TEXT,
    ADD COLUMN IF NOT EXISTS fair_seq BIGINT;

-- The claim's unkeyed path keeps its index (as 0010 left it: no job blocked by its parents),
-- now without the keyed jobs (those have their
-- own below), so a million keyed jobs never lie in the way of the unkeyed ones.
DROP INDEX IF EXISTS jobsup_jobs_claim_type;
CREATE INDEX IF NOT EXISTS jobsup_jobs_claim_type
    ON processing_jobs ((coalesce(job_type, 'analysis')), priority DESC, run_at, id)
    WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NULL;

-- The keyed jobs, by round: the claim reads one round (priority, fair_seq) at a time, its
-- runnable jobs in place (`claim` in queries.sql). Only keyed rows: an unkeyed enqueue pays
-- nothing for any of these three.
CREATE INDEX IF NOT EXISTS jobsup_jobs_claim_fair
    ON processing_jobs ((coalesce(job_type, 'analysis')), priority DESC, fair_seq, run_at, id)
    WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL;
-- A key's last round (the insert trigger below).
CREATE INDEX IF NOT EXISTS jobsup_jobs_fair_key
    ON processing_jobs ((coalesce(job_type, 'analysis')), fair_key, priority, fair_seq)
    WHERE status = 'pending' AND fair_key IS NOT NULL;
-- When the next keyed job falls due (`next_due`, `runnable_within`): one probe a type.
CREATE INDEX IF NOT EXISTS jobsup_jobs_fair_due
    ON processing_jobs ((coalesce(job_type, 'analysis')), run_at, id)
    WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL;
-- Running jobs per key ([job_types.<name>] max_running_per_key).
CREATE INDEX IF NOT EXISTS jobsup_jobs_fair_running
    ON processing_jobs ((coalesce(job_type, 'analysis')), fair_key)
    WHERE status = 'processing' AND fair_key IS NOT NULL;

-- A row-level BEFORE trigger sees the rows an INSERT added before this one, so one
-- statement's many jobs of a key (enqueue_many, COPY) take consecutive rounds.
CREATE OR REPLACE FUNCTION jobsup_fair_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.fair_seq := greatest(
        (SELECT max(fair_seq) + 1 FROM processing_jobs
         WHERE status = 'pending' AND fair_key IS NOT NULL
           AND coalesce(job_type, 'analysis') = coalesce(NEW.job_type, 'analysis')
           AND fair_key = NEW.fair_key AND priority = NEW.priority),
        (SELECT min(fair_seq) FROM processing_jobs
         WHERE status = 'pending' AND parents_left = 0 AND fair_key IS NOT NULL
           AND coalesce(job_type, 'analysis') = coalesce(NEW.job_type, 'analysis')
           AND priority = NEW.priority),
        1);
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS jobsup_fair_seq ON processing_jobs;
-- Also when a key is set on a row later without a round (an UPDATE by hand): a keyed row
-- without a round would never be claimed. A round given explicitly is kept.
CREATE TRIGGER jobsup_fair_seq
    BEFORE INSERT OR UPDATE OF fair_key, fair_seq ON processing_jobs
    FOR EACH ROW WHEN (NEW.fair_key IS NOT NULL AND NEW.fair_seq IS NULL)
    EXECUTE FUNCTION jobsup_fair_seq();
