-- The claim reads only the pending jobs it may take: those of the job types served, and of
-- those only the runnable ones, whatever else waits in the table.
--
-- With only jobsup_jobs_claim (priority DESC, run_at), a claim walked, in that order, every
-- pending job that came before the first one it could take: the jobs of other types (beside
-- 1,000,000 pending jobs of a type not served, a claim read them all, 0.8 s, and a
-- supervisor ran 5 jobs/s where it ran 280), and the jobs of higher priority due later. The
-- claim now reads this index type by type and priority level by priority level, each
-- level's runnable jobs in place (`claim`, `next_due` and `runnable_within` in
-- queries.sql). The expression is the one those statements compare: a NULL job_type is the
-- original cron's 'analysis'. The trailing `id` makes it the only index that yields a
-- level's jobs in the claim's order (run_at, id), so the planner never prefers to walk
-- jobsup_jobs_due past the runnable jobs of other levels.
--
-- Only pending rows are in it: an enqueue (or a retry) adds an entry, a claim or a
-- write-back none.
CREATE INDEX IF NOT EXISTS jobsup_jobs_claim_type
    ON processing_jobs ((coalesce(job_type, 'analysis')), priority DESC, run_at, id)
    WHERE status = 'pending';
