-- Integrated record: organisations by name, not code. The record looks up the names a feed sent
-- in its own Organization resources (reference data, person_id NULL) by their ODS identifier
-- (record/record-store.ts loadPractices, `identifier @> [{system, value}]`); without this index
-- that is a scan of every resource row without a person. Partial: only Organization rows.
CREATE INDEX IF NOT EXISTS resource_organization_identifier_idx
  ON resource USING gin ((content -> 'identifier') jsonb_path_ops)
  WHERE resource_type = 'Organization' AND person_id IS NULL;
