-- Issue 9, sign-in for browsers (OWASP ASVS level 2, V3 session management): server-side
-- sessions, so that every stateless server on one database knows them and sign-out ends them
-- for all; and a denylist of bearer tokens revoked before they expire (POST /auth/logout).

-- A signed-in browser. The session id (256 random bits) lives only in the browser's cookie:
-- the table keeps its sha256, so a copy of the table cannot be replayed as a cookie.
CREATE TABLE IF NOT EXISTS session (
  session_hash text PRIMARY KEY,                   -- hex sha256 of the session id
  username text NOT NULL REFERENCES app_user (username) ON DELETE CASCADE,
  csrf_token text NOT NULL,                        -- the synchroniser token for unsafe requests
  created_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,               -- moved at most once a minute (idle timeout)
  absolute_expires_at timestamptz NOT NULL,        -- created_at + 12 hours, never moved
  ended_at timestamptz,                            -- signed out, or replaced by a new sign-in
  end_reason text,
  source_address text
);
CREATE INDEX IF NOT EXISTS session_absolute_expires_idx ON session (absolute_expires_at);
CREATE INDEX IF NOT EXISTS session_username_idx ON session (username);

-- Bearer tokens signed out before their expiry, by issuer and token id (jti); kept until they
-- would have expired anyway, then removed.
CREATE TABLE IF NOT EXISTS revoked_token (
  issuer text NOT NULL,
  jti text NOT NULL,
  subject text,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL,
  PRIMARY KEY (issuer, jti)
);
CREATE INDEX IF NOT EXISTS revoked_token_expires_idx ON revoked_token (expires_at);
