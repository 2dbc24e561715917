-- Master patient index: blocking keys for the probabilistic matcher. Candidate pairs are found
-- by (same date of birth), (same Soundex of family name, same birth year), (same postcode, same
-- birth year) and (same NHS number); birth year is a range on birth_date so one btree serves both.
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS family_soundex text;
CREATE INDEX IF NOT EXISTS source_identity_birth_date_idx ON source_identity (birth_date);
CREATE INDEX IF NOT EXISTS source_identity_soundex_dob_idx ON source_identity (family_soundex, birth_date);
CREATE INDEX IF NOT EXISTS source_identity_postcode_dob_idx ON source_identity (postcode, birth_date);
-- The review queue is read by status; events are undone by id.
CREATE INDEX IF NOT EXISTS mpi_review_status_idx ON mpi_review (status);
