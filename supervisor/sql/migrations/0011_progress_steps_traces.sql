-- Long jobs (issue 26): what a running handler reports and keeps.
-- progress: {"done": n, "total": m | null, "note": "...", "at": "<timestamp>"}, written at most
--   once a second a job by its supervisor, under the claim's lease; kept after the job ends.
-- steps: {"<name>": <the step's JSON result>}: a durable step's result, written before the
--   handler goes on (under the lease), given back to later attempts; `jobs retry --fresh`
--   clears it.
-- trace_context: the W3C traceparent of the code that enqueued the job (OpenTelemetry).
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS progress jsonb;
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS steps jsonb;
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS trace_context text;
