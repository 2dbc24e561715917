-- Integrated record and audit: indexes for reading one person's record and its audit trail.

-- Following merges backwards: "who was merged into this person" when loading their record.
CREATE INDEX IF NOT EXISTS person_merged_into_idx ON person (merged_into) WHERE merged_into IS NOT NULL;

-- "Who has looked at this person's record", newest first.
CREATE INDEX IF NOT EXISTS audit_log_person_idx ON audit_log (person_id, audit_id) WHERE person_id IS NOT NULL;
