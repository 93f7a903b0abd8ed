-- `jobsup jobs list` (newest first, --since): without this, every listing sorts the whole
-- history. created_at never changes after the insert, so the index costs inserts only and
-- keeps the queue's updates HOT.
CREATE INDEX IF NOT EXISTS jobsup_jobs_created ON processing_jobs (created_at);
