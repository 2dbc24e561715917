-- Presented `Patient/{id}/$everything` pages, shared by every server on this database
-- (fhir/presented-records.ts; docs/performance.md "Stop 23"). A server behind a load balancer has no
-- memory of its own worth trusting, so a page rendered by one is kept here for the others: one row
-- per person and view (view_key: a hash of the policy, the decision's obligations — the withheld
-- items —, the token's scopes, the request's parameters and the presentation's version), holding
-- the record's version stamp it was rendered from (record/record-store.ts RECORD_STAMP_SQL, with the
-- day). A page is handed out only when its stamp equals the one read for the request, so a page of an
-- older record is never served; a newer render replaces the row (one row per person and view, never
-- a history). The access decision and the audit row are never stored: every request takes its own.
--
-- body: the gzip of the page's UTF-8 JSON with a placeholder where the base URL goes (restored per
-- request), already compressed, so STORAGE EXTERNAL: out of line, without TOAST's own compression
-- (which would find nothing to gain and cost a pass on every write).
--
-- ON DELETE CASCADE: a person deleted (mpi/link.ts removes an empty person it made) takes their pages.
CREATE TABLE IF NOT EXISTS presented_record (
  person_id uuid NOT NULL REFERENCES person (person_id) ON DELETE CASCADE,
  view_key text NOT NULL,
  stamp text NOT NULL,
  body bytea NOT NULL,
  json_bytes integer NOT NULL,
  items integer NOT NULL,
  withheld integer NOT NULL,
  rendered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person_id, view_key)
);
ALTER TABLE presented_record ALTER COLUMN body SET STORAGE EXTERNAL;
