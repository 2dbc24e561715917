-- Issue 11, beyond one server: several ingest processes (and MLLP listeners) write to one
-- database at once, and each `bevan ingest` ends with a matcher run. Two matchers deciding the
-- same pending identities at once would each move them on what the other is changing; one lease
-- row makes them take turns (mpi/matcher-lease.ts). A lease rather than an advisory lock: it needs
-- no connection held for the whole run (PGlite has one), names its holder, and expires when its
-- holder dies without releasing it.
CREATE TABLE IF NOT EXISTS mpi_matcher_lease (
  name text PRIMARY KEY,                           -- 'matcher'
  holder text NOT NULL,                            -- host, process id and a random part
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
