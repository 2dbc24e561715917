-- The read path under load (docs/performance.md).
--
-- An audit append is one statement (access/audit.ts): the chain's head moves with
-- UPDATE … SET prev_hash = hash, hash = sha256(…) RETURNING, and the row is inserted from what it
-- returns. The head keeps the hash it replaced so that the statement can give it to the new row.
ALTER TABLE audit_chain ADD COLUMN IF NOT EXISTS prev_hash text;

-- Patient search (fhir/pg-store.ts): family, given and name match as "starts with", case-insensitive,
-- written lower(col) LIKE lower('prefix%') so that these indexes serve it (ILIKE cannot use a btree;
-- text_pattern_ops compares bytes, which a LIKE prefix needs whatever the database's collation).
-- Without them every search read every identity.
CREATE INDEX IF NOT EXISTS source_identity_family_lower_idx ON source_identity (lower(family) text_pattern_ops);
CREATE INDEX IF NOT EXISTS source_identity_given_lower_idx ON source_identity (lower(given) text_pattern_ops);
-- identifier=<value> with no system matches any source's own patient id: the primary key
-- (source_system, source_id) cannot serve source_id alone.
CREATE INDEX IF NOT EXISTS source_identity_source_id_idx ON source_identity (source_id);

-- The access facts (access/facts-store.ts) of every person a read or a search weighs: open
-- episodes, referrals and encounters, and encounters since a date. Without these, each person's
-- every encounter was read from the heap (for its status) on every request.
CREATE INDEX IF NOT EXISTS resource_open_status_idx ON resource (person_id, (content->>'status'))
  WHERE resource_type IN ('EpisodeOfCare', 'ServiceRequest', 'Encounter');
CREATE INDEX IF NOT EXISTS resource_encounter_time_idx ON resource (person_id, source_time)
  WHERE resource_type = 'Encounter';
