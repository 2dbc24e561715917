// The risk features computed straight from the stored JSON (table `resource`), as they were before
// the flat tables of migration 0044: kept as the reference the flat statement (features.ts) is
// checked against (features.int.test.ts: the same rows on a fixture population) and timed against
// (bench/risk-score.ts --compare). Not used to score.
import { loadCodeLists, type RiskCodeLists } from './code-lists.ts';
import { codings, featureParams, PEOPLE_AND_INSERT } from './features.ts';

const V2_0069 = 'http://terminology.hl7.org/CodeSystem/v2-0069';

/** The features statement as it was before the flat tables: the same INSERT … SELECT over the stored JSON. */
export function jsonFeatureStatement(indexDate: string, lists: RiskCodeLists = loadCodeLists()): { sql: string; params: unknown[] } {
  // featureParams refuses an index date that is not YYYY-MM-DD.
  const params = featureParams(indexDate, lists, codings);
  const encounterDate = "left(r.content->'period'->>'start', 10)";
  const clinicalDate = "left(COALESCE(r.content->>'onsetDateTime', r.content->'onsetPeriod'->>'start', r.content->>'performedDateTime', r.content->'performedPeriod'->>'start', r.content->>'recordedDate'), 10)";
  const obsDate = "left(COALESCE(r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'issued'), 10)";
  const sql = `
WITH registered AS (
  SELECT DISTINCT ON (s.person_id) s.person_id, substr(s.source_system, 4) AS practice, s.birth_date, s.sex
    FROM source_identity s JOIN person p ON p.person_id = s.person_id AND p.status = 'active'
   WHERE s.source_system LIKE 'gp:%' AND s.birth_date IS NOT NULL AND s.birth_date < $18::date
   ORDER BY s.person_id, s.updated_at DESC
), died AS (
  -- A death recorded without a date (deceasedBoolean) counts as before any index date.
  SELECT r.person_id, min(COALESCE(left(r.content->>'deceasedDateTime', 10), '0001-01-01')) AS died_on
    FROM resource r
   WHERE r.resource_type = 'Patient' AND r.person_id IS NOT NULL AND (r.content ? 'deceasedDateTime' OR r.content->>'deceasedBoolean' = 'true')
   GROUP BY r.person_id
), enc AS (
  -- Two steps, both grouped by person: each person's encounters counted per day and kind (the
  -- kinds computed from the JSON once, before anything is sorted or hashed: grouping keys are), then
  -- summed into the windows. One step would carry each encounter's whole JSON into the sort.
  SELECT e.person_id,
         COALESCE(sum(e.n) FILTER (WHERE e.emergency AND e.d >= $2 AND e.d < $1), 0) AS em12,
         COALESCE(sum(e.n) FILTER (WHERE e.emergency AND e.d < $1), 0) AS em24,
         COALESCE(sum(e.n) FILTER (WHERE e.ae AND e.d >= $2 AND e.d < $1), 0) AS ae12,
         COALESCE(sum(e.n) FILTER (WHERE e.ae AND e.d < $1), 0) AS ae24,
         COALESCE(sum(e.n) FILTER (WHERE e.outpatient AND e.d >= $2 AND e.d < $1), 0) AS op12,
         COALESCE(sum(e.n) FILTER (WHERE e.gp AND e.d >= $2 AND e.d < $1), 0) AS gp12,
         COALESCE(sum(e.n) FILTER (WHERE e.gp AND e.home AND e.d >= $2 AND e.d < $1), 0) AS home12,
         COALESCE(sum(e.n) FILTER (WHERE e.community AND e.d >= $2 AND e.d < $1), 0) AS community12,
         COALESCE(sum(e.n) FILTER (WHERE e.emergency AND e.d >= $1), 0) AS em_next
    FROM (SELECT r.person_id, ${encounterDate} AS d,
                 (r.content->'class'->>'code' = 'IMP' AND COALESCE(r.content->'priority'->'coding', '[]'::jsonb) @> '[{"code":"EM"}]'::jsonb
                   AND NOT r.source_system LIKE ANY($5::text[])) AS emergency,
                 (r.content->'class'->>'code' = 'EMER') AS ae,
                 (r.content->'class'->>'code' = 'AMB' AND COALESCE(r.content->'serviceType'->'coding', '[]'::jsonb) @> '[{"system":"${V2_0069}"}]'::jsonb) AS outpatient,
                 (r.source_system LIKE 'gp:%') AS gp,
                 (r.content->'class'->>'code' = 'HH') AS home,
                 (r.content->'class'->>'code' = 'HH' AND r.source_system LIKE ANY($7::text[])) AS community,
                 count(*) AS n
            FROM resource r
           WHERE r.resource_type = 'Encounter' AND r.person_id IS NOT NULL
             AND COALESCE(r.content->>'status', 'finished') NOT IN ('cancelled', 'entered-in-error')
             AND ${encounterDate} >= $3 AND ${encounterDate} < $4
           GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) e
   GROUP BY e.person_id
), coded AS (
  -- Conditions and procedures before the index date, each coding looked up in the code lists.
  SELECT r.person_id,
         array_agg(DISTINCT l.kind) FILTER (WHERE l.kind IS NOT NULL) AS kinds,
         count(DISTINCT x.deficit) AS deficits,
         bool_or(c.coding->>'code' = ANY($14::text[])) AS frailty
    FROM resource r
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(r.content->'code'->'coding', '[]'::jsonb)) AS c(coding)
    LEFT JOIN unnest($8::text[], $9::text[]) AS l(code, kind) ON l.code = c.coding->>'code'
    LEFT JOIN unnest($10::text[], $11::int[]) AS x(code, deficit) ON x.code = c.coding->>'code'
   WHERE r.resource_type IN ('Condition', 'Procedure') AND r.person_id IS NOT NULL
     AND (r.content->'code') @> ANY($19::jsonb[])
     AND ${clinicalDate} < $1
     AND COALESCE(r.content->'verificationStatus'->'coding'->0->>'code', 'confirmed') NOT IN ('entered-in-error', 'refuted')
     AND COALESCE(r.content->>'status', 'completed') NOT IN ('entered-in-error', 'not-done')
     AND COALESCE(left(r.content->>'abatementDateTime', 10) >= $1, true)
     AND (l.kind IS NOT NULL OR x.deficit IS NOT NULL OR c.coding->>'code' = ANY($14::text[]))
   GROUP BY r.person_id
), meds AS (
  -- Each person's distinct medicines first (the code or text computed before the grouping), then counted.
  SELECT d.person_id, count(d.medicine) AS n
    FROM (SELECT r.person_id, COALESCE(r.content->'medicationCodeableConcept'->'coding'->0->>'code', r.content->'medicationCodeableConcept'->>'text') AS medicine
            FROM resource r
           WHERE r.resource_type IN ('MedicationRequest', 'MedicationStatement') AND r.person_id IS NOT NULL AND r.source_system NOT LIKE 'hl7:%'
             AND COALESCE(r.content->>'status', 'completed') NOT IN ('entered-in-error', 'cancelled')
             AND left(COALESCE(r.content->>'authoredOn', r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'dateAsserted'), 10) >= $2
             AND left(COALESCE(r.content->>'authoredOn', r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'dateAsserted'), 10) < $1
           GROUP BY 1, 2) d
   GROUP BY d.person_id
), labs AS (
  -- The latest HbA1c and eGFR in the 24 months before the index date (ties: the larger value).
  SELECT o.person_id,
         (array_agg(o.v ORDER BY o.d DESC, o.v DESC) FILTER (WHERE o.code = ANY($12::text[])))[1] AS hba1c,
         (array_agg(o.v ORDER BY o.d DESC, o.v DESC) FILTER (WHERE o.code = ANY($13::text[])))[1] AS egfr
    FROM (SELECT r.person_id, ${obsDate} AS d, c.coding->>'code' AS code,
                 CASE WHEN jsonb_typeof(r.content->'valueQuantity'->'value') = 'number' THEN (r.content->'valueQuantity'->>'value')::double precision END AS v
            FROM resource r
            CROSS JOIN LATERAL jsonb_array_elements(COALESCE(r.content->'code'->'coding', '[]'::jsonb)) AS c(coding)
           WHERE r.resource_type = 'Observation' AND r.person_id IS NOT NULL
             AND (r.content->'code') @> ANY($20::jsonb[])
             AND COALESCE(r.content->>'status', 'final') NOT IN ('entered-in-error', 'cancelled')
             AND (c.coding->>'code' = ANY($12::text[]) OR c.coding->>'code' = ANY($13::text[]))
             AND ${obsDate} >= $3 AND ${obsDate} < $1
           GROUP BY 1, 2, 3, 4) o
   WHERE o.v IS NOT NULL
   GROUP BY o.person_id
), care AS (
  SELECT r.person_id, true AS in_place
    FROM resource r
   WHERE r.resource_type = 'EpisodeOfCare' AND r.person_id IS NOT NULL AND r.source_system LIKE ANY($6::text[])
     AND COALESCE(r.content->>'status', 'active') NOT IN ('entered-in-error', 'cancelled')
     AND left(r.content->'period'->>'start', 10) <= $1
     AND COALESCE(left(r.content->'period'->>'end', 10) >= $1, true)
   GROUP BY r.person_id
${PEOPLE_AND_INSERT}`;
  return { sql, params };
}
