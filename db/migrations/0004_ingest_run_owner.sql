-- Which process runs an ingest, so that a run whose process was killed (it never reached 'done'
-- or 'failed') can be told from one still running and marked 'abandoned'.
ALTER TABLE ingest_run ADD COLUMN IF NOT EXISTS host text;
ALTER TABLE ingest_run ADD COLUMN IF NOT EXISTS pid integer;
CREATE INDEX IF NOT EXISTS ingest_run_running_idx ON ingest_run (host) WHERE status = 'running';
