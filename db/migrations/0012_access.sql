-- Issue 9, the shared record behind a door: stable FHIR ids, local users and the server's
-- signing key, relationship and consent facts for the access policy, and an audit log whose
-- chain is partitioned (so concurrent readers do not queue behind one lock) and anchored.

-- Stable FHIR logical id of a stored resource: the first 128 bits of
-- sha256(resource type | length:source system | source id), as 32 hex digits. Deterministic
-- from the resource's key, so the ingest writer need not fill anything: the id is computed,
-- and this expression index (one btree entry per row) finds a resource by it.
-- convert_to is STABLE only because of the database encoding, which never changes for a
-- database; the wrapper is IMMUTABLE so that an index may use it.
CREATE OR REPLACE FUNCTION fhir_logical_id(source_system text, resource_type text, source_id text)
  RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT substr(encode(sha256(convert_to(resource_type || '|' || length(source_system)::text || ':' || source_system || '|' || source_id, 'UTF8')), 'hex'), 1, 32) $$;
CREATE INDEX IF NOT EXISTS resource_fhir_id_idx ON resource (fhir_logical_id(source_system, resource_type, source_id));

-- Local users (the embedded default; an OpenID Connect provider may replace them).
CREATE TABLE IF NOT EXISTS app_user (
  username text PRIMARY KEY,
  role text NOT NULL,
  organisation text,                               -- ODS code of the user's organisation
  nhs_number text,                                 -- for role patient: whose record is "mine"
  password_hash text,                              -- argon2id (PHC string); null: tokens only
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- The server's signing keys (JWK), kept in the database so that several stateless servers share them.
CREATE TABLE IF NOT EXISTS server_key (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Care team membership: a named user or a whole organisation caring for a person.
CREATE TABLE IF NOT EXISTS care_team_member (
  person_id uuid NOT NULL,
  member text NOT NULL,                            -- a username, or 'org:<ODS>'
  role text,
  starts_at timestamptz NOT NULL DEFAULT now(),
  ends_at timestamptz,
  PRIMARY KEY (person_id, member)
);

-- The person's consent and objections: dissent from sharing between organisations; the
-- national data opt-out (secondary use).
CREATE TABLE IF NOT EXISTS consent_directive (
  person_id uuid NOT NULL,
  kind text NOT NULL,                              -- dissent-sharing | national-data-opt-out
  recorded_at timestamptz NOT NULL DEFAULT now(),
  recorded_by text,
  withdrawn_at timestamptz,
  PRIMARY KEY (person_id, kind)
);

-- People withheld on every path (a restricted flag in a demographics feed, the RCGP sensitive dataset).
CREATE TABLE IF NOT EXISTS person_restriction (
  person_id uuid PRIMARY KEY,
  reason text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Break-glass: a user's time-limited emergency access to one person, with the reason given.
CREATE TABLE IF NOT EXISTS break_glass (
  break_glass_id bigserial PRIMARY KEY,
  username text NOT NULL,
  person_id uuid NOT NULL,
  reason text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE INDEX IF NOT EXISTS break_glass_user_person_idx ON break_glass (username, person_id, expires_at);

-- Audit: who, in what role and organisation, decided how and why, from where; each row in one
-- of many chains (chain = bucket of the person key, or of the user for entries about nobody),
-- numbered 1, 2, 3… within its chain. audit_chain holds each chain's head (seq and hash),
-- updated in the same transaction as the row: a deleted newest row is seen against it, and its
-- row lock serialises appends to one chain only.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS chain integer;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS seq bigint;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS role text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS organisation text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS decision text;      -- permit | deny
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS reason text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS source_address text;
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_chain_seq_uq ON audit_log (chain, seq) WHERE chain IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor, audit_id);

CREATE TABLE IF NOT EXISTS audit_chain (
  chain integer PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- 64 chains, each starting from the genesis hash (64 zeros) at seq 0.
INSERT INTO audit_chain (chain, seq, hash)
  SELECT c, 0, repeat('0', 64) FROM generate_series(0, 63) AS c ON CONFLICT (chain) DO NOTHING;

-- A chain's head only moves forward one entry at a time and is never removed: rewinding it to
-- hide removed newest entries takes someone who can alter the table, and verification against
-- an anchor kept elsewhere (bevan audit verify prints the heads' digest) finds that too.
CREATE OR REPLACE FUNCTION audit_chain_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'audit_chain heads only move forward one entry at a time' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS audit_chain_forward_only ON audit_chain;
CREATE TRIGGER audit_chain_forward_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION audit_chain_forward_only();

-- Append-only: the application cannot change or remove an audit row (only someone who can
-- alter the table itself can, and verification then finds it).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP USING ERRCODE = '42501';
END $$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
