-- Issue 12, SQL-on-FHIR views over the store (fhir/secondary-use.ts, analytics/views/).
-- Reading every resource of one type in person order, a page at a time (keyset), so that each
-- person's access decision is taken once and memory stays bounded: this index serves
-- WHERE resource_type = $1 AND (person_id, source_system, source_id) > (...) ORDER BY those,
-- and, with person_id IS NULL, the types that hold no personal data. Migration 0028 (cohorts) asks
-- for an index of this name on (resource_type, person_id): this one serves its queries too, and a
-- database that applied 0028 first keeps that one (pages then sort each person's few rows).
CREATE INDEX IF NOT EXISTS resource_type_person_idx ON resource (resource_type, person_id, source_system, source_id);

-- The keys of keyed pseudonyms are migration 0028's pseudonym_key (analytics/cohorts/pseudonym.ts):
-- views and cohort lists share the key of purpose 'secondary-use', so their pseudonyms join.
