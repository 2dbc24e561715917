-- Issue 12 (a SQL-on-FHIR view over the borough's ~4 M Observations in <= 30 s): materialised
-- views, owned by analytics/ (analytics/views/materialised.ts, docs/analytics/views.md
-- "Materialised views"). `bevan view materialise VIEW.json` runs a view compiled to SQL over every
-- resource of its type once, as the run over the store presents them (stable ids, national codes,
-- references to the person's source Patients as the person), and keeps each person's rows as CSV
-- text; a run of the same view over the store (CSV) then reads that text instead of running the
-- view's SQL over every resource's JSON. The access policy is applied at every run, as before:
-- the people refused are left out, the sensitive resources withheld (their categories are kept
-- with them), the Patient keys pseudonymised (a marker in the text, replaced at the run).

-- A materialised view: its definition, the fingerprint of the query that filled it (the view's
-- SQL, the presentation, the policy's sensitive code lists, the reference data: a run whose own
-- query differs does not read it), and how far it has been brought up to date.
CREATE TABLE IF NOT EXISTS analytics_view (
  fingerprint text PRIMARY KEY,
  name text,
  resource_type text NOT NULL,
  definition jsonb NOT NULL,
  received_before timestamptz NOT NULL,     -- every resource received, and every identity and person updated, before this is in it
  refreshed_at timestamptz NOT NULL DEFAULT now(),
  people bigint NOT NULL DEFAULT 0,
  rows bigint NOT NULL DEFAULT 0,
  broken text                               -- why a run cannot read it (the data break the view): runs go the usual way
);

-- The rows: for each person, the CSV lines of the resources that are in no sensitive category in
-- one piece (categories '{}'), and each resource that is in one its own piece with its categories
-- (withheld, and counted, by a run whose obligations withhold one of them). `csv` holds U+0001
-- where the value is the person's Patient key (getReferenceKey(Patient) of the person),
-- U+0002 where it is another key (the next of `other_keys`, in order).
CREATE TABLE IF NOT EXISTS analytics_view_row (
  fingerprint text NOT NULL,
  person_id uuid NOT NULL,
  categories text[] NOT NULL DEFAULT '{}',
  resources int NOT NULL,
  rows int NOT NULL,
  csv text NOT NULL,
  other_keys text[]
);
CREATE INDEX IF NOT EXISTS analytics_view_row_person_idx ON analytics_view_row (fingerprint, person_id);

-- People whose rows must be made again although none of the timestamps the refresh reads moved:
-- a resource moved from one person to another (MPI link, merge, unmerge): its old and its new person.
CREATE TABLE IF NOT EXISTS analytics_view_stale (
  person_id uuid PRIMARY KEY
);

CREATE OR REPLACE FUNCTION analytics_view_follow_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO analytics_view_stale (person_id)
    SELECT x FROM unnest(ARRAY[OLD.person_id, NEW.person_id]) AS x WHERE x IS NOT NULL
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS resource_analytics_view_person ON resource;
CREATE TRIGGER resource_analytics_view_person AFTER UPDATE OF person_id ON resource
  FOR EACH ROW WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id)
  EXECUTE FUNCTION analytics_view_follow_person();
