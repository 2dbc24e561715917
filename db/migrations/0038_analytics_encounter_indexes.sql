-- Issue 12 (analytics/cohorts/compile.ts, analytics/risk/features.ts): registers over encounters and
-- deaths without reading every Encounter (8–9 M in the borough) or every Patient.
-- * The class (HL7 v2 PV1-2: EMER, IMP, AMB, HH, VR): an A&E or emergency admission register reads
--   only those encounters; an expression index also gives the planner the class's statistics.
-- * type and serviceType (the palliative care encounter type; an outpatient clinic's treatment
--   function, e.g. ENT): the compiler asks (content->'type') @> ANY(…) and
--   (content->'serviceType') @> ANY(…) beside the exact test on each coding.
-- * Deaths: every register and the risk features leave out people recorded dead (a few per cent).
CREATE INDEX IF NOT EXISTS resource_encounter_class_idx ON resource ((content->'class'->>'code'), person_id)
  WHERE resource_type = 'Encounter';
CREATE INDEX IF NOT EXISTS resource_encounter_type_idx ON resource USING gin ((content->'type') jsonb_path_ops)
  WHERE resource_type = 'Encounter';
CREATE INDEX IF NOT EXISTS resource_encounter_service_type_idx ON resource USING gin ((content->'serviceType') jsonb_path_ops)
  WHERE resource_type = 'Encounter';
CREATE INDEX IF NOT EXISTS resource_patient_deceased_idx ON resource (person_id)
  WHERE resource_type = 'Patient' AND (content->>'deceasedBoolean' = 'true' OR content ? 'deceasedDateTime');
-- The class's frequencies for the planner (PostgreSQL keeps none for a partial index's expression):
-- without them it took class = 'AMB' (two thirds of encounters) as rare, and read every outpatient
-- attendance for an ENT register instead of the few the serviceType index finds.
CREATE STATISTICS IF NOT EXISTS resource_encounter_class_stats ON ((content->'class'->>'code')) FROM resource;
