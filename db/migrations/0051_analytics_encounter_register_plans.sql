-- Issue 12 (registers at borough scale): two of the starter registers were planned badly over
-- migration 0044's analytics_encounter.
--
-- ENT referrals (an outpatient attendance with service type ENT in 12 months): the planner ANDed
-- the service-type GIN bitmap (0050) with analytics_encounter_window_idx's, which lists every
-- encounter in the window (at 215,000 people 1.9 M index entries read, then the heap). This partial
-- index holds the hospital outpatient attendances only (a quarter of the encounters) with the
-- columns the register tests, so the window's attendances are read from it alone (an index-only
-- scan once VACUUM has marked the pages all visible: `bevan analytics refresh` runs it after a
-- load). At 20,000 people: 42,000 entries instead of 169,000 index entries and 1,400 heap pages.
CREATE INDEX IF NOT EXISTS analytics_encounter_outpatient_idx ON analytics_encounter (start_date)
  INCLUDE (person_id, service_type_codes, status)
  WHERE resource_type = 'Encounter' AND class_code = 'AMB' AND hospital_outpatient;

-- COPD with two or more emergency admissions: the planner took `emergency` as independent of the
-- class and estimated an eighth of the emergency admissions (232 rows for 1,959 at 20,000 people),
-- so a nested loop over each admitted person's coded entries instead of a hash join with the COPD
-- register (88 ms → 3.6 ms at 20,000 people with this object). Most admissions (class IMP) are
-- emergencies; few other encounters are: the pair's most common values, kept by ANALYZE.
CREATE STATISTICS IF NOT EXISTS analytics_encounter_class_emergency_stats (mcv, dependencies) ON class_code, emergency FROM analytics_encounter;
ANALYZE analytics_encounter;
