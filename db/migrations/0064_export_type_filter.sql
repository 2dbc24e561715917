-- Bulk Data _typeFilter, _elements and patient (fhir/bulk-export/type-filter.ts, elements.ts,
-- params.ts): the export's filter queries ("Type?parameters"), elements to keep ("Type.element" or
-- "element") and the people named (person ids, resolved at kick-off), kept with the job so that
-- every server running a slice applies the same.
ALTER TABLE export_job ADD COLUMN IF NOT EXISTS type_filters text[] NOT NULL DEFAULT '{}';
ALTER TABLE export_job ADD COLUMN IF NOT EXISTS elements text[] NOT NULL DEFAULT '{}';
ALTER TABLE export_job ADD COLUMN IF NOT EXISTS patient_ids uuid[];
