-- Notes about a whole file that stop nothing but the integration team should see (a CSV
-- file's columns that are no column of its contract, so not read): docs/feeds.md "CSV".
ALTER TABLE ingest_run ADD COLUMN IF NOT EXISTS notes text[];
