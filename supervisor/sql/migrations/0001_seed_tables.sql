-- The three tables of the original job-cron processor, exactly as its document gives them.
-- On a database built from that document this migration changes nothing.

CREATE TABLE IF NOT EXISTS files (
    id UUID PRIMARY KEY,
    file_path VARCHAR(500) NOT NULL,
    original_name VARCHAR(255),
    status VARCHAR(20) DEFAULT 'uploaded',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS processing_jobs (
    id UUID PRIMARY KEY,
    file_id UUID REFERENCES files(id),
    job_type VARCHAR(100),
    business_description TEXT,
    status VARCHAR(20) DEFAULT 'pending',
    metadata JSONB,
    retry_count INTEGER DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    error_message TEXT
);

CREATE INDEX IF NOT EXISTS idx_processing_jobs_status_created
ON processing_jobs (status, created_at)
WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS insights (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id UUID REFERENCES processing_jobs(id),
    insight_type VARCHAR(100),
    content JSONB NOT NULL,
    confidence_score DECIMAL(3,2),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
