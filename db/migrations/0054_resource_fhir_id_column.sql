-- Issue 11 (ingest speed): the FHIR logical id index of migration 0012 was an expression index on
-- fhir_logical_id(source_system, resource_type, source_id), so the server computed a sha256 for
-- every resource row written: measured one index at a time (bench/resource-indexes.ts), the
-- largest single cost of a COPY into `resource` (about 10 of the 31 CPU µs a row; the sha256
-- alone ~4 µs, the server's OpenSSL context made for each call). The writer now sends the id it
-- computes anyway (record/fhir-bundle.ts fhirLogicalId, the same value) in `fhir_id`, and the index
-- is on COALESCE(fhir_id, fhir_logical_id(…)): the hash runs in the server only for rows written
-- without it (stored before this migration, or by any other INSERT), so every row keeps its id and
-- nothing needs to be filled in. The readers (fhir/pg-store.ts) ask for the same expression.
ALTER TABLE resource ADD COLUMN IF NOT EXISTS fhir_id text;
CREATE INDEX IF NOT EXISTS resource_fhir_logical_id_idx ON resource ((COALESCE(fhir_id, fhir_logical_id(source_system, resource_type, source_id))));
DROP INDEX IF EXISTS resource_fhir_id_idx;
