-- Bulk Data $export (fhir/bulk-export/): jobs, their slices of work, their output files and the
-- files' content, kept in the database so that any of several stateless servers can run a job,
-- answer its status and serve its files, and work whose server died is picked up by another
-- (its lease runs out).

CREATE TABLE IF NOT EXISTS export_job (
  job_id uuid PRIMARY KEY,
  username text NOT NULL,                          -- who asked; only they may poll, download or cancel
  principal jsonb NOT NULL,                        -- {user, role, organisation, nhsNumber} at kick-off
  purpose text NOT NULL,
  source_address text,
  level text NOT NULL,                             -- system | patient | group
  group_id text,                                   -- level group: the practice's ODS code
  types text[],                                    -- _type; null: every type
  since timestamptz,                               -- _since
  output_format text NOT NULL,
  request_url text NOT NULL,                       -- the kick-off URL, for the manifest
  ignored_parameters text[] NOT NULL DEFAULT '{}', -- unsupported parameters ignored (Prefer: handling=lenient)
  status text NOT NULL DEFAULT 'queued',           -- queued | running | complete | failed
  transaction_time timestamptz NOT NULL,           -- nothing received after it is exported
  people_total integer,                            -- people to weigh, counted at kick-off (progress)
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  expires_at timestamptz                           -- its files are removed after this
);
CREATE INDEX IF NOT EXISTS export_job_user_idx ON export_job (username, created_at);
CREATE INDEX IF NOT EXISTS export_job_expiry_idx ON export_job (expires_at) WHERE expires_at IS NOT NULL;

-- A job's work in slices: the people whose id falls in [lo, hi) (or the reference data), each
-- taken by one server at a time under a lease renewed with every batch, so that several servers
-- (and several slices on one server) work on one export together, and a slice whose server
-- died is taken over from its cursor.
CREATE TABLE IF NOT EXISTS export_slice (
  job_id uuid NOT NULL REFERENCES export_job (job_id) ON DELETE CASCADE,
  slice_no integer NOT NULL,
  kind text NOT NULL,                              -- people | reference
  lo uuid,                                         -- people: first person id of the range
  hi uuid,                                         -- people: end of the range (exclusive); null: to the end
  status text NOT NULL DEFAULT 'queued',           -- queued | running | done
  cursor_person uuid,                              -- keyset: the last person done
  cursor_reference text[],                         -- keyset: the last reference resource done (source system, type, id)
  people_done integer NOT NULL DEFAULT 0,
  people_exported integer NOT NULL DEFAULT 0,
  people_excluded integer NOT NULL DEFAULT 0,
  lease_owner text,                                -- the server working on it
  lease_expires_at timestamptz,                    -- past it, any server may take the slice
  attempts integer NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, slice_no)
);
CREATE INDEX IF NOT EXISTS export_slice_work_idx ON export_slice (status, lease_expires_at) WHERE status <> 'done';

-- One output file: one resource type for a range of people (first_person..last_person) of one
-- slice, closed when it reaches its size; OperationOutcome files are the manifest's error list.
-- file_no = slice_no * 1000 + the file's number within its slice.
CREATE TABLE IF NOT EXISTS export_file (
  job_id uuid NOT NULL REFERENCES export_job (job_id) ON DELETE CASCADE,
  file_no integer NOT NULL,
  slice_no integer NOT NULL,
  resource_type text NOT NULL,
  resources integer NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  first_person uuid,
  last_person uuid,
  closed boolean NOT NULL DEFAULT false,
  PRIMARY KEY (job_id, file_no)
);

-- A file's content in order, a chunk per batch of people (NDJSON text, each line ending in \n;
-- large values are compressed by PostgreSQL itself). Served one chunk at a time.
CREATE TABLE IF NOT EXISTS export_chunk (
  job_id uuid NOT NULL,
  file_no integer NOT NULL,
  seq integer NOT NULL,
  resources integer NOT NULL,
  ndjson text NOT NULL,
  PRIMARY KEY (job_id, file_no, seq),
  FOREIGN KEY (job_id, file_no) REFERENCES export_file (job_id, file_no) ON DELETE CASCADE
);
