-- Foundation: locality reference data, master patient index, record store, ingestion log,
-- quarantine and audit. Every table that holds personal data carries person_id (the person
-- key) so that a distributed PostgreSQL (Citus) could shard by it. No foreign keys cross
-- people: links between people are recorded as events, not constraints.

CREATE TABLE IF NOT EXISTS neighbourhood (
  code text PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE IF NOT EXISTS practice (
  ods_code text PRIMARY KEY,
  name text NOT NULL,
  neighbourhood text NOT NULL,
  postcode text
);

-- One row per real person as Bevan understands it (the "golden record" key).
CREATE TABLE IF NOT EXISTS person (
  person_id uuid PRIMARY KEY,
  nhs_number text,
  status text NOT NULL DEFAULT 'active',          -- active | merged
  merged_into uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- One person per NHS number: this index is what makes 50 concurrent feeds agree.
CREATE UNIQUE INDEX IF NOT EXISTS person_nhs_number_uq ON person (nhs_number);

-- How each source system identifies a person, and which Bevan person that identity is linked to.
CREATE TABLE IF NOT EXISTS source_identity (
  source_system text NOT NULL,
  source_id text NOT NULL,
  person_id uuid NOT NULL,
  nhs_number text,
  nhs_number_valid boolean NOT NULL DEFAULT false,
  family text,
  given text,
  birth_date date,
  sex text,
  postcode text,
  practice text,
  link_method text NOT NULL,                       -- nhs-number | probabilistic | manual | hl7-a40 | new
  match_status text NOT NULL,                      -- MATCH | POSSIBLE_MATCH | NO_MATCH | PENDING
  match_weight double precision,
  first_seen timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_system, source_id)
);
CREATE INDEX IF NOT EXISTS source_identity_person_idx ON source_identity (person_id);
CREATE INDEX IF NOT EXISTS source_identity_nhs_idx ON source_identity (nhs_number);
CREATE INDEX IF NOT EXISTS source_identity_status_idx ON source_identity (match_status);

-- Every clinical or care item as a FHIR R4 resource, with its provenance.
CREATE TABLE IF NOT EXISTS resource (
  source_system text NOT NULL,
  resource_type text NOT NULL,
  source_id text NOT NULL,
  person_id uuid,                                  -- null only for non-personal resources
  subject_id text,                                 -- the source identity (same system) it is about
  version integer NOT NULL DEFAULT 1,
  source_time timestamptz,                         -- when the source says it happened or changed
  received_at timestamptz NOT NULL DEFAULT now(),
  content_hash text NOT NULL,
  content jsonb NOT NULL,
  PRIMARY KEY (source_system, resource_type, source_id)
);
CREATE INDEX IF NOT EXISTS resource_person_idx ON resource (person_id);
CREATE INDEX IF NOT EXISTS resource_subject_idx ON resource (source_system, subject_id);

-- The outcome of every message (HL7 message, FHIR bundle) that reached Bevan.
CREATE TABLE IF NOT EXISTS ingest_message (
  source_system text NOT NULL,
  message_id text NOT NULL,
  content_hash text NOT NULL,
  format text NOT NULL,
  event text,
  outcome text NOT NULL,                           -- accepted | ignored | quarantined
  person_id uuid,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_system, message_id)
);

-- One row per ingestion of a file or a connection, with its counts.
CREATE TABLE IF NOT EXISTS ingest_run (
  run_id uuid PRIMARY KEY,
  origin text NOT NULL,
  format text,
  status text NOT NULL DEFAULT 'running',          -- running | done | failed
  accepted integer NOT NULL DEFAULT 0,
  ignored integer NOT NULL DEFAULT 0,
  quarantined integer NOT NULL DEFAULT 0,
  duplicates integer NOT NULL DEFAULT 0,
  resources integer NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  error text
);

-- Items that could not be ingested, kept whole for repair and replay.
CREATE TABLE IF NOT EXISTS quarantine (
  quarantine_id bigserial PRIMARY KEY,
  person_id uuid,                                  -- unknown until the item is understood
  source_system text,
  message_id text,
  format text NOT NULL,
  origin text NOT NULL,
  reason text NOT NULL,
  raw text NOT NULL,
  raw_hash text NOT NULL,
  status text NOT NULL DEFAULT 'open',             -- open | replayed | discarded
  times_seen integer NOT NULL DEFAULT 1,
  received_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  resolution text
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_open_uq ON quarantine (raw_hash, reason) WHERE status = 'open';

-- Pairs the matcher was unsure about, for a person to decide.
CREATE TABLE IF NOT EXISTS mpi_review (
  review_id bigserial PRIMARY KEY,
  person_id uuid NOT NULL,                         -- the person the uncertain identity is linked to now
  candidate_person_id uuid NOT NULL,
  source_system text NOT NULL,
  source_id text NOT NULL,
  candidate_system text NOT NULL,
  candidate_id text NOT NULL,
  weight double precision NOT NULL,
  detail jsonb,
  status text NOT NULL DEFAULT 'open',             -- open | linked | rejected
  decided_by text,
  decided_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_system, source_id, candidate_system, candidate_id)
);

-- Every link, merge and unmerge, with the identities it moved, so each can be undone.
CREATE TABLE IF NOT EXISTS mpi_event (
  event_id bigserial PRIMARY KEY,
  person_id uuid NOT NULL,
  kind text NOT NULL,                              -- merge | unmerge | link | unlink
  other_person_id uuid,
  identities jsonb NOT NULL,
  reason text,
  actor text NOT NULL,
  undone_by bigint,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mpi_event_person_idx ON mpi_event (person_id);

-- Fellegi–Sunter parameters estimated from the data (m and u per field and agreement level).
CREATE TABLE IF NOT EXISTS mpi_weight (
  field text NOT NULL,
  level text NOT NULL,
  m double precision NOT NULL,
  u double precision NOT NULL,
  estimated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (field, level)
);

-- Tamper-evident audit: each row's hash covers its content and the previous row's hash.
CREATE TABLE IF NOT EXISTS audit_log (
  audit_id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  person_id uuid,
  purpose text,
  detail jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
