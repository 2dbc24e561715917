-- Feed files already loaded whole (issue 11: replay of an unchanged feed in minutes). A file whose
-- every item was accepted, ignored or a duplicate is recorded by the sha256 of its bytes and the
-- source it was read as; read again unchanged, its items would all be duplicates (the message log
-- holds each with the same hash), so the pipeline counts them as such without parsing it.
-- No personal data: hashes and counts only.
CREATE TABLE IF NOT EXISTS ingest_known_file (
  content_hash text NOT NULL,                      -- sha256 of the file's bytes, hex
  source text NOT NULL DEFAULT '',                 -- the feed's source key it was read as ('' if none)
  size bigint NOT NULL,
  format text,
  items integer NOT NULL,                          -- messages (or rows) it holds
  run_id uuid NOT NULL,                            -- the ingest_run that loaded it
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (content_hash, source)
);

-- The shortcut is only as good as the message log: a message deleted from it (an erasure, a
-- repair) must be read again, so any delete empties the list and the next load reads every file.
CREATE OR REPLACE FUNCTION ingest_known_file_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ingest_known_file;
  RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS ingest_message_deleted ON ingest_message;
CREATE TRIGGER ingest_message_deleted AFTER DELETE ON ingest_message
  FOR EACH STATEMENT EXECUTE FUNCTION ingest_known_file_forget();
DROP TRIGGER IF EXISTS ingest_message_truncated ON ingest_message;
CREATE TRIGGER ingest_message_truncated AFTER TRUNCATE ON ingest_message
  FOR EACH STATEMENT EXECUTE FUNCTION ingest_known_file_forget();
