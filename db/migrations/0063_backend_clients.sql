-- SMART Backend Services clients (access/backend-clients.ts): systems (a commissioning warehouse,
-- a practice's risk tool) that sign in without a person, by a JWT signed with their own key
-- (private_key_jwt, RFC 7523), and read through the access policy of the role they are registered
-- with. No personal data here: a client, its public keys and the scopes it may be granted.
CREATE TABLE IF NOT EXISTS backend_client (
  client_id    text PRIMARY KEY,
  role         text NOT NULL,
  organisation text,
  -- The client's public keys: a JWKS given at registration, or the URL it publishes them at.
  jwks         jsonb,
  jwks_url     text,
  -- The most it may be granted (space-separated SMART system scopes).
  scope        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  disabled_at  timestamptz,
  CHECK (jwks IS NOT NULL OR jwks_url IS NOT NULL)
);

-- Assertion ids seen, until the assertion expires (an assertion is used once: SMART backend services).
CREATE TABLE IF NOT EXISTS backend_client_assertion (
  client_id  text NOT NULL,
  jti        text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS backend_client_assertion_expires_idx ON backend_client_assertion (expires_at);
