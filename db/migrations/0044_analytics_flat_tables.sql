-- Issue 12: flat analytic tables owned by analytics/ (analytics/flat/, docs/analytics/risk.md
-- "Flat tables"). The risk features, the registers and the dashboards' refresh read these instead
-- of every resource's JSON: one narrow row per Encounter / EpisodeOfCare and one per coded entry
-- (Condition, Procedure, Observation, MedicationRequest, MedicationStatement, ServiceRequest),
-- holding exactly the fields those queries test, extracted once when the resource arrives or
-- changes (`bevan analytics refresh`, and after each load).
--
-- Rows are keyed by their resource (source_system, resource_type, source_id) and carry its
-- person_id and shard_key like their neighbours. person_id is the resource's: the trigger below
-- follows every change of resource.person_id (MPI link, merge, unmerge, a pending resource linked)
-- in the same transaction, so a query never sees a flat row under a person its resource has left.
-- Content changes reach the tables through the refresh (resource.received_at, set on insert and
-- on every content change, against the watermark kept in analytics_flat_watermark).
-- Dates are kept as the text the resources carry, cut to YYYY-MM-DD, because the queries they
-- replace compared exactly that text.

CREATE TABLE IF NOT EXISTS analytics_encounter (
  source_system text NOT NULL,
  resource_type text NOT NULL,                     -- Encounter | EpisodeOfCare
  source_id text NOT NULL,
  person_id uuid,
  shard_key uuid,
  status text,
  class_code text,                                 -- Encounter.class.code (HL7 v2 PV1-2 mapped: IMP, EMER, AMB, HH…)
  emergency boolean NOT NULL DEFAULT false,        -- priority has a coding with code EM (PV1-4)
  hospital_outpatient boolean NOT NULL DEFAULT false, -- serviceType has a coding from v2 table 0069 (a PAS treatment function)
  service_type_codes text[] NOT NULL DEFAULT '{}', -- every serviceType coding's code
  type_codes text[] NOT NULL DEFAULT '{}',         -- every type[].coding code
  start_date text,                                 -- left(period.start, 10)
  end_date text,                                   -- left(period.end, 10)
  PRIMARY KEY (source_system, resource_type, source_id)
);
CREATE INDEX IF NOT EXISTS analytics_encounter_person_idx ON analytics_encounter (person_id, start_date);

CREATE TABLE IF NOT EXISTS analytics_coded_entry (
  source_system text NOT NULL,
  resource_type text NOT NULL,
  source_id text NOT NULL,
  person_id uuid,
  shard_key uuid,
  kind text NOT NULL,                              -- condition | procedure | observation | medication | referral
  codes text[] NOT NULL DEFAULT '{}',              -- every coding's code (code.coding, or medicationCodeableConcept.coding)
  codings text[] NOT NULL DEFAULT '{}',            -- the same codings as 'system|code' (system empty when absent)
  first_code text,                                 -- the first coding's code
  concept_text text,                               -- the CodeableConcept's text (uncoded medicines)
  entry_date text,                                 -- the type's clinical date (analytics/cohorts/compile.ts dateOf), YYYY-MM-DD
  onset_date text,                                 -- Condition/Procedure: onset, performed, or recorded date (the risk features' date)
  status text,
  verification_status text,                        -- verificationStatus.coding[0].code
  clinical_status text,                            -- clinicalStatus.coding[0].code
  abatement_date text,                             -- left(abatementDateTime, 10)
  value numeric,                                   -- valueQuantity.value when it is a JSON number
  unit text,                                       -- valueQuantity.unit (or code)
  PRIMARY KEY (source_system, resource_type, source_id)
);
CREATE INDEX IF NOT EXISTS analytics_coded_entry_person_idx ON analytics_coded_entry (person_id);
CREATE INDEX IF NOT EXISTS analytics_coded_entry_codes_idx ON analytics_coded_entry USING gin (codes);
CREATE INDEX IF NOT EXISTS analytics_coded_entry_codings_idx ON analytics_coded_entry USING gin (codings);

-- How far each flat table has been brought up to date: every resource received before
-- `received_before` is in it (see analytics/flat/refresh.ts for how that bound is chosen).
CREATE TABLE IF NOT EXISTS analytics_flat_watermark (
  name text PRIMARY KEY,
  received_before timestamptz NOT NULL,
  refreshed_at timestamptz NOT NULL DEFAULT now(),
  rows_changed bigint NOT NULL DEFAULT 0
);

-- A resource's person moves: its flat rows move with it, in the same transaction. Fires only when
-- person_id really changes (the writer's upserts that leave it alone cost the WHEN test only).
CREATE OR REPLACE FUNCTION analytics_flat_follow_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.resource_type IN ('Encounter', 'EpisodeOfCare') THEN
    UPDATE analytics_encounter SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  ELSIF NEW.resource_type IN ('Condition', 'Procedure', 'Observation', 'MedicationRequest', 'MedicationStatement', 'ServiceRequest') THEN
    UPDATE analytics_coded_entry SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS resource_analytics_flat_person ON resource;
CREATE TRIGGER resource_analytics_flat_person AFTER UPDATE OF person_id ON resource
  FOR EACH ROW WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id)
  EXECUTE FUNCTION analytics_flat_follow_person();

-- The refresh reads the resources received since its watermark: an index probe, not a scan of the
-- store. (One more btree on the writer's path; received_at only grows, so it appends at the right.)
CREATE INDEX IF NOT EXISTS resource_received_idx ON resource (received_at);
