-- Quarantine: the same item rejected again for the same reason is counted on its open row. The
-- index compared the whole reason text, and a btree row holds at most ~2.7 kB, so one long
-- reason (a CSV header of 10,000 columns) failed its whole batch. md5 of the reason keeps each
-- index row small whatever the reason's length.
DROP INDEX IF EXISTS quarantine_open_uq;
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_open_reason_uq ON quarantine (raw_hash, md5(reason)) WHERE status = 'open';

-- The ingest log (`bevan ingest log`): where each message came from (file#line or MLLP peer),
-- newest first, and which configured feed (`--source`, `--feeds`) a run read.
ALTER TABLE ingest_message ADD COLUMN IF NOT EXISTS origin text;
CREATE INDEX IF NOT EXISTS ingest_message_received_idx ON ingest_message (received_at);
ALTER TABLE ingest_run ADD COLUMN IF NOT EXISTS source text;
CREATE INDEX IF NOT EXISTS ingest_run_started_idx ON ingest_run (started_at);
CREATE INDEX IF NOT EXISTS quarantine_received_idx ON quarantine (received_at);
