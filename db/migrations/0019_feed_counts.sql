-- Running counts of the message log (ingest_message) per source system, format and outcome,
-- kept by the ingest writer in the transaction that logs the messages (ingest/feed-counts.ts), so
-- GET /ingest/feeds reads a few rows instead of counting every message ever received. Sharded:
-- concurrent batches of one source add to different rows (a batch picks one shard) and readers
-- sum the shards. Counts only: no personal data, so no person_id.
CREATE TABLE IF NOT EXISTS ingest_feed_count (
  source_system text NOT NULL,
  format text NOT NULL,
  outcome text NOT NULL,
  shard smallint NOT NULL,
  messages bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (source_system, format, outcome, shard)
);

-- Back-fill once from a message log written before this migration (nothing when the counts exist).
INSERT INTO ingest_feed_count (source_system, format, outcome, shard, messages)
SELECT source_system, format, outcome, 0, count(*) FROM ingest_message
 WHERE NOT EXISTS (SELECT 1 FROM ingest_feed_count)
 GROUP BY source_system, format, outcome
ON CONFLICT DO NOTHING;
