-- Bulk Data _typeFilter (fhir/bulk-export/type-filter.ts): the export's filter queries, each
-- "Type?parameters", kept with the job so that every server running a slice applies the same.
ALTER TABLE export_job ADD COLUMN IF NOT EXISTS type_filters text[] NOT NULL DEFAULT '{}';
