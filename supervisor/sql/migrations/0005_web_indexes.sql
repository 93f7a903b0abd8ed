-- The jobs list (`jobsup jobs list`, the dashboard's /jobs) pages newest first by the keyset
-- (created_at, id): one index range read backwards, whatever the page, even where a bulk
-- insert gave thousands of jobs one created_at (the transaction's start time). Neither
-- column changes after the insert, so the queue's HOT updates stay HOT.
CREATE INDEX IF NOT EXISTS jobsup_jobs_created_id ON processing_jobs (created_at, id);
