-- Issue 11 (ingest speed): migration 0038's three Encounter expression indexes on `resource` served
-- the registers when they read Encounters from the stored JSON. The registers, the dashboards' series
-- and the risk features now read the flat table analytics_encounter (migrations 0044, 0050), which
-- has its own class, type and service-type indexes, and no statement left asks `resource` for
-- (content->'type') @> …, (content->'serviceType') @> … or (content->'class'->>'code') = …
-- (pg_stat_user_indexes showed 0 scans for all three). Each cost every Encounter write: two GIN
-- entries lists and a btree. The class statistics object of 0038 stays (it costs the writer nothing).
DROP INDEX IF EXISTS resource_encounter_class_idx;
DROP INDEX IF EXISTS resource_encounter_type_idx;
DROP INDEX IF EXISTS resource_encounter_service_type_idx;
