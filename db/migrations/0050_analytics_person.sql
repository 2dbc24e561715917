-- Issue 12 (borough scale): the registered population as a flat table owned by analytics/
-- (analytics/flat/refresh.ts; docs/analytics/risk.md "Flat tables"), and the indexes the risk
-- features and the registers need on migration 0044's tables.
--
-- Every register and the risk features began with the same two steps over the whole store: each
-- active person's latest GP registration (DISTINCT ON over source_identity, a sort of every GP
-- identity) and the people with a death recorded (every such Patient's JSON read). At 20,000 people
-- those took ~0.2 s of each register; at 215,000 about 2 s, over the 1 s target on their own.
-- analytics_person holds their result, one narrow row per registered person, brought up to date
-- with the other flat tables: the people whose identities (source_identity.updated_at), person
-- record (person.updated_at: merges, unmerges) or Patient resources (resource.received_at) changed
-- since the watermark are recomputed; a Patient resource moved to another person is queued by
-- 0044's trigger (below), which fires only when a resource's person changes.

CREATE TABLE IF NOT EXISTS analytics_person (
  person_id uuid PRIMARY KEY,
  practice text,            -- ODS code of the latest GP registration (source_identity gp:ODS, by updated_at)
  birth_date date,          -- from that registration
  sex text,                 -- from that registration
  died_on text              -- the earliest death recorded on the person's Patients, YYYY-MM-DD ('0001-01-01' for deceasedBoolean); null: none
);
CREATE INDEX IF NOT EXISTS analytics_person_practice_idx ON analytics_person (practice);

-- People whose row must be recomputed although none of the timestamps above moved: a Patient
-- resource linked to another person (its old and its new person).
CREATE TABLE IF NOT EXISTS analytics_person_stale (
  person_id uuid PRIMARY KEY
);

-- The freshness probe and the refresh find what changed since the watermark by an index each.
-- (One more btree on the identity writer's path: identities are written once per person and
-- source, far fewer than resources, and only when their demographics change.)
CREATE INDEX IF NOT EXISTS source_identity_updated_idx ON source_identity (updated_at);
CREATE INDEX IF NOT EXISTS person_updated_idx ON person (updated_at);

-- 0044's trigger, now also queueing the people of a Patient resource that moves.
CREATE OR REPLACE FUNCTION analytics_flat_follow_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.resource_type IN ('Encounter', 'EpisodeOfCare') THEN
    UPDATE analytics_encounter SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  ELSIF NEW.resource_type IN ('Condition', 'Procedure', 'Observation', 'MedicationRequest', 'MedicationStatement', 'ServiceRequest') THEN
    UPDATE analytics_coded_entry SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  ELSIF NEW.resource_type = 'Patient' THEN
    INSERT INTO analytics_person_stale (person_id)
      SELECT x FROM unnest(ARRAY[OLD.person_id, NEW.person_id]) AS x WHERE x IS NOT NULL
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;

-- Social care packages (EpisodeOfCare) are a few hundred rows among the encounters: the risk
-- features read them by this index instead of scanning every encounter.
CREATE INDEX IF NOT EXISTS analytics_encounter_episode_idx ON analytics_encounter (person_id) WHERE resource_type = 'EpisodeOfCare';
-- The registers' encounter criteria by type (palliative care contacts) and service type (ENT
-- clinics): a bitmap over the few matching rows instead of every encounter.
CREATE INDEX IF NOT EXISTS analytics_encounter_type_idx ON analytics_encounter USING gin (type_codes);
CREATE INDEX IF NOT EXISTS analytics_encounter_service_type_idx ON analytics_encounter USING gin (service_type_codes);

-- The risk features' encounters: every Encounter in a 36-month window, a few narrow columns of each.
-- Read from this index alone (an index-only scan, once VACUUM has marked the table's pages all
-- visible: `bevan analytics refresh` runs it after a load, autovacuum otherwise), a third of the
-- bytes of the table's rows (at 215,000 people, 9.4 M rows: 1.0 s instead of 3.7 s to read them).
CREATE INDEX IF NOT EXISTS analytics_encounter_window_idx ON analytics_encounter (start_date)
  INCLUDE (person_id, class_code, emergency, hospital_outpatient, source_system, status)
  WHERE resource_type = 'Encounter';
-- The registers' A&E attendances and admissions in a window (frequent attenders, COPD with emergency
-- admissions): a few per cent of the encounters, found and counted from this index alone.
CREATE INDEX IF NOT EXISTS analytics_encounter_acute_idx ON analytics_encounter (class_code, start_date)
  INCLUDE (person_id, emergency, status, source_system)
  WHERE resource_type = 'Encounter' AND class_code IN ('EMER', 'IMP');
