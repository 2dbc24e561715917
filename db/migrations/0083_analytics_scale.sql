-- Issue 12 (scoring 215,000 people in <= 10 s; docs/analytics/risk.md "Stop 23"): what the risk
-- score's profile at the borough's size showed, by server CPU seconds.

-- The medicines of the last 12 months (polypharmacy and the medicines feature) were found by a
-- scan of every coded entry (1.1 GB at 215,000 people, for 136,000 rows). This partial index holds
-- the medicines only, with the columns the features read, so that they are read from it alone (an
-- index-only scan once VACUUM has marked the pages all visible: `bevan analytics refresh` runs it).
CREATE INDEX IF NOT EXISTS analytics_coded_entry_medication_idx ON analytics_coded_entry (entry_date)
  INCLUDE (person_id, first_code, concept_text, status, source_system)
  WHERE kind = 'medication';

-- The latest HbA1c and eGFR: the codes' GIN index found 750,000 results of every year, each then
-- fetched from the table's pages (most of its pages). The results with a value in the 24 months are
-- read from this index alone instead, their codes tested in the index entries.
CREATE INDEX IF NOT EXISTS analytics_coded_entry_result_idx ON analytics_coded_entry (entry_date)
  INCLUDE (person_id, codes, value, status)
  WHERE kind = 'observation' AND value IS NOT NULL;

-- risk_feature is written 215,000 rows at a time, one index date at a time, and read by date (or
-- date and person). Keyed by person first, each row went to a random place in an index as large as
-- every date's rows together, and a second index on the date alone was kept up beside it. Keyed by
-- the date first, one index does both, and a scoring's rows fill one region of it. (risk_score
-- keeps its person-first key: a person's tier history is read by person across every run.)
DO $$
BEGIN
  IF (SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       WHERE i.indrelid = 'risk_feature'::regclass AND i.indisprimary) = 'person_id' THEN
    ALTER TABLE risk_feature DROP CONSTRAINT risk_feature_pkey;
    ALTER TABLE risk_feature ADD CONSTRAINT risk_feature_pkey PRIMARY KEY (index_date, person_id);
  END IF;
END $$;
-- The primary key answers every lookup by date.
DROP INDEX IF EXISTS risk_feature_index_date_idx;
