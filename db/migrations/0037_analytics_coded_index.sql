-- Issue 12 (analytics/risk/features.ts, analytics/cohorts/compile.ts): coded entries found by their
-- code without reading every one. The risk features want only HbA1c and eGFR among all the
-- Observations (4 M in the borough) and only the code-listed conditions and procedures; the
-- registers want the conditions, procedures and observations of their code lists. Both ask
--   (content->'code') @> ANY($codings::jsonb[])   -- each element {"coding":[{"code":"…"}]}
-- which this index serves (a GIN index answers containment, and = ANY of an array of them), as a
-- necessary condition beside the exact test on each coding, so the answers do not change.
-- jsonb_path_ops: smaller and faster for @> than the default operator class.
CREATE INDEX IF NOT EXISTS resource_coded_code_idx ON resource USING gin ((content->'code') jsonb_path_ops)
  WHERE resource_type IN ('Observation', 'Condition', 'Procedure');
