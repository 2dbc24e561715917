-- Issue 12, SQL-on-FHIR views over the store (fhir/secondary-use.ts, analytics/views/).
-- Reading every resource of one type in person order, a page at a time (keyset), so that each
-- person's access decision is taken once and memory stays bounded: this index serves
-- WHERE resource_type = $1 AND (person_id, source_system, source_id) > (...) ORDER BY those,
-- and, with person_id IS NULL, the types that hold no personal data.
CREATE INDEX IF NOT EXISTS resource_type_person_idx ON resource (resource_type, person_id, source_system, source_id);

-- The keys of keyed pseudonyms (access/pseudonym-key.ts): one per scope ('secondary-use'), made
-- on first use. Deleting a row rotates the key: everyone gets new pseudonyms from then on.
CREATE TABLE IF NOT EXISTS pseudonym_key (
  scope text PRIMARY KEY,
  hmac_key bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
