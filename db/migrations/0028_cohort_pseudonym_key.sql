-- Issue 12, cohorts and registers: the secret key behind pseudonymised cohort lists for secondary
-- use. A person's pseudonym is HMAC-SHA256(key, person id): stable across runs, so analysts can
-- follow a pseudonymised person from one list to the next, and unlinkable to the person without
-- the key, which never leaves the database (analytics/cohorts/pseudonym.ts). One row per purpose;
-- a new purpose (a research project) gets its own key, so its pseudonyms cannot be joined to another's.
CREATE TABLE IF NOT EXISTS pseudonym_key (
  purpose text PRIMARY KEY,
  key_hex text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Registers and commissioning figures read one resource type at a time for the people they are
-- about (analytics/cohorts/compile.ts, analytics/commissioning/report.ts): without this index
-- every criterion scans the whole store. Leading on resource_type, then the distribution key.
CREATE INDEX IF NOT EXISTS resource_type_person_idx ON resource (resource_type, person_id);
