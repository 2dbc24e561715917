-- Feed freshness on the record page ("hospital: last message 4 min ago", GET
-- /record/{personId}/sources): the newest message, quarantined item and ingest run of each
-- source system, read by ingest/feed-freshness.ts. Each is the first row of an index scan per
-- source, however many messages a feed has sent.
CREATE INDEX IF NOT EXISTS ingest_message_source_received_idx ON ingest_message (source_system, received_at);
CREATE INDEX IF NOT EXISTS quarantine_source_received_idx ON quarantine (source_system, received_at);
CREATE INDEX IF NOT EXISTS ingest_run_source_started_idx ON ingest_run (source, started_at);
