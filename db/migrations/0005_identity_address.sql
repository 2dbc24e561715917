-- Master patient index: the street part of the address and the town, compared by the matcher
-- alongside the postcode (many real feeds and linkage benchmarks carry no NHS number, and
-- non-UK postcodes say little on their own).
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS address text;
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS town text;

-- Resources that arrived before their Patient (Bulk Data NDJSON: one resource type per file,
-- in any order) are kept with no person; this small partial index finds them when the Patient comes.
CREATE INDEX IF NOT EXISTS resource_pending_subject_idx ON resource (source_system, subject_id)
  WHERE person_id IS NULL AND subject_id IS NOT NULL;
