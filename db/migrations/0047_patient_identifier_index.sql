-- Patient search by any identifier a source sent (`identifier=<system>|<value>`, e.g. a hospital's
-- own MRN system or a national id other than the NHS number): the source Patients' identifiers,
-- searched by containment (`content->'identifier' @> [{system, value}]`). Partial: Patient rows only.
CREATE INDEX IF NOT EXISTS resource_patient_identifier_idx
  ON resource USING gin ((content -> 'identifier') jsonb_path_ops)
  WHERE resource_type = 'Patient';
-- `identifier={value}` with no system also looks for a source's own patient id (any source):
-- without this, a scan of every identity (the primary key leads with the source system).
CREATE INDEX IF NOT EXISTS source_identity_source_id_idx ON source_identity (source_id);
