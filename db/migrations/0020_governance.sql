-- Issue 9, governance: restricted flags from the demographics feeds, who changed care teams and
-- consent directives.

-- A source system's statement that the person it identifies is restricted (HL7 v2 PD1-12
-- protection indicator Y; a FHIR Patient whose meta.security holds v3-Confidentiality R or V).
-- Keyed by the source identity, not the person: the MPI moves identities between persons on
-- merge and unmerge, and the restriction follows the identity it was said about. A person is
-- restricted while any of their identities' rows is not lifted (access/facts-store.ts), or while
-- person_restriction (migration 0012: set by governance, e.g. the RCGP sensitive dataset) holds them.
-- A later statement from the same source that the person is not restricted lifts it (lifted_at),
-- the row kept for the record.
CREATE TABLE IF NOT EXISTS source_restriction (
  source_system text NOT NULL,
  source_id text NOT NULL,
  reason text NOT NULL,                            -- what said so: field, value, message
  source_time timestamptz,                         -- when the source says it was so (a lift older than this is ignored)
  flagged_at timestamptz NOT NULL DEFAULT now(),
  lifted_at timestamptz,
  lifted_reason text,
  PRIMARY KEY (source_system, source_id)
);

-- Patients stored before this migration whose meta.security says restricted (access/facts-store.ts
-- read them from the resource until now): the table holds every restriction from here on.
INSERT INTO source_restriction (source_system, source_id, reason, source_time)
SELECT DISTINCT ON (r.source_system, r.source_id) r.source_system, r.source_id,
       'FHIR Patient.meta.security ' || (s->>'code') || ' (stored before migration 0020)', r.source_time
  FROM resource r, jsonb_array_elements(CASE WHEN jsonb_typeof(r.content->'meta'->'security') = 'array' THEN r.content->'meta'->'security' ELSE '[]'::jsonb END) s
 WHERE r.resource_type = 'Patient' AND s->>'code' IN ('R', 'V')
ORDER BY r.source_system, r.source_id
ON CONFLICT (source_system, source_id) DO NOTHING;

-- Who added or ended a care team membership, and who withdrew a consent directive.
ALTER TABLE care_team_member ADD COLUMN IF NOT EXISTS recorded_by text;
ALTER TABLE care_team_member ADD COLUMN IF NOT EXISTS ended_by text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS withdrawn_by text;
