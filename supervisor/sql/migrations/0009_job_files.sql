-- A job over several files: file_id stays its first (the seed's column, what the seed's
-- queries join), more_file_ids the others, in order (NULL: none). No foreign key on an
-- array: `enqueue` checks every id, and a job naming a file that is gone fails at claim
-- time with a reason ("more_file_ids[1]: names no row in files").
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS more_file_ids uuid[];
