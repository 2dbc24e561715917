// The commissioning classification as it was first written, over every Encounter's, Procedure's and
// EpisodeOfCare's stored JSON: kept as the reference the flat-table statement (report.ts
// activityCtes) is tested against (report-flat.int.test.ts), as risk/features-json.ts is for the
// risk features. Nothing else reads it.
import type { SourceSetting } from './tariff.ts';
import { secondaryUsePopulation } from './report.ts';
import { HOURS_PER_WEEK_URL } from '../flat/refresh.ts';

/**
 * (Reference, over the JSON.) The common table expressions that classify each person's activity (CTE `activity`: person_id,
 * source_system, setting, day, quantity, activity) over the secondary-use population (CTE `people`:
 * person_id, practice, neighbourhood; opted-out and restricted people left out), from `start` to
 * `asOf`; shared by the report and the dashboards' summary (analytics/dashboards/refresh.ts).
 * Returns the SQL text (starting WITH) and the placeholders of the two dates.
 */
export function activityCtesFromJson(bind: (v: unknown) => string, o: { sources: SourceSetting[]; start: string; asOf: string; cohortFilter?: string }): { sql: string; start: string; asOf: string } {
  const pPatterns = bind(o.sources.map((s) => s.pattern));
  const pSettings = bind(o.sources.map((s) => s.setting));
  const pStart = bind(o.start);
  const pAsOf = bind(o.asOf);
  const pHours = bind(HOURS_PER_WEEK_URL);
  const dateOk = (x: string) => `CASE WHEN ${x} ~ '^\\d{4}-\\d{2}-\\d{2}' THEN left(${x}, 10)::date END`;
  const settingOf = `(SELECT s.setting FROM unnest(${pPatterns}::text[], ${pSettings}::text[]) WITH ORDINALITY AS s(pattern, setting, ord) WHERE r.source_system LIKE s.pattern ORDER BY s.ord LIMIT 1)`;
  const sql = `WITH registered AS (
  SELECT DISTINCT ON (s.person_id) s.person_id, substr(s.source_system, 4) AS practice
    FROM source_identity s JOIN person pe ON pe.person_id = s.person_id AND pe.status = 'active'
   WHERE s.source_system LIKE 'gp:%'
   ORDER BY s.person_id, s.updated_at DESC
), people AS (
  SELECT g.person_id, g.practice, pr.neighbourhood FROM registered g LEFT JOIN practice pr ON pr.ods_code = g.practice
   WHERE ${secondaryUsePopulation('g.person_id')}
     ${o.cohortFilter ?? ''}
), events AS (
  SELECT r.person_id, r.source_system, r.resource_type, ${settingOf} AS setting,
         r.content->'class'->>'code' AS cls,
         COALESCE(r.content->'priority'->'coding', '[]'::jsonb) @> '[{"code":"EM"}]'::jsonb AS emergency,
         COALESCE(r.content->'serviceType'->'coding'->0->>'code', r.content->'serviceType'->>'text') AS service,
         ${dateOk("COALESCE(r.content->'period'->>'start', r.content->>'performedDateTime')")} AS day,
         r.content
    FROM resource r
   WHERE r.person_id IS NOT NULL AND r.resource_type IN ('Encounter', 'Procedure', 'EpisodeOfCare')
     AND COALESCE(r.content->>'status', 'finished') NOT IN ('cancelled', 'entered-in-error', 'planned')
), classified AS (
  SELECT e.person_id, e.source_system, e.setting, e.day, 1::numeric AS quantity,
         CASE
           WHEN e.resource_type = 'Encounter' AND e.setting = 'hospital' AND e.cls = 'EMER' THEN 'ae-attendance'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'hospital' AND e.cls = 'IMP' AND e.emergency THEN 'emergency-admission'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'hospital' AND e.cls = 'IMP' THEN 'elective-admission'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'hospital' AND e.cls = 'AMB' THEN
             CASE WHEN row_number() OVER (PARTITION BY e.person_id, e.resource_type, e.setting, e.cls, e.service ORDER BY e.day) = 1 THEN 'outpatient-first' ELSE 'outpatient-follow-up' END
           WHEN e.resource_type = 'Encounter' AND e.setting = 'mental health' AND e.cls = 'IMP' THEN 'mental-health-admission'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'mental health' THEN 'mental-health-contact'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'community' THEN 'community-contact'
           WHEN e.resource_type = 'Encounter' AND e.setting = 'primary care' THEN 'gp-consultation'
           WHEN e.resource_type = 'Procedure' AND e.setting = 'social care' THEN 'social-care-assessment'
         END AS activity
    FROM events e WHERE e.resource_type <> 'EpisodeOfCare' AND e.day IS NOT NULL
), packages AS (
  SELECT e.person_id, e.source_system, e.setting,
         ${dateOk("e.content->'period'->>'start'")} AS starts,
         LEAST(COALESCE(${dateOk("e.content->'period'->>'end'")}, ${pAsOf}::date), ${pAsOf}::date) AS ends,
         (SELECT (x->>'valueDecimal')::numeric FROM jsonb_array_elements(COALESCE(e.content->'extension', '[]'::jsonb)) x
           WHERE x->>'url' = ${pHours} AND jsonb_typeof(x->'valueDecimal') = 'number' LIMIT 1) AS hours_per_week
    FROM events e WHERE e.resource_type = 'EpisodeOfCare' AND e.setting = 'social care'
), care_hours AS (
  SELECT k.person_id, k.source_system, k.setting, m.month::date AS day,
         k.hours_per_week / 7 * ((LEAST(k.ends, (m.month + interval '1 month - 1 day')::date) - GREATEST(k.starts, m.month::date)) + 1) AS quantity,
         'social-care-hour' AS activity
    FROM packages k
    CROSS JOIN LATERAL generate_series(date_trunc('month', GREATEST(k.starts, ${pStart}::date)), date_trunc('month', k.ends), interval '1 month') AS m(month)
   WHERE k.starts IS NOT NULL AND k.hours_per_week IS NOT NULL AND k.ends >= k.starts
), activity AS (
  SELECT person_id, source_system, setting, day, quantity, activity FROM classified WHERE activity IS NOT NULL
  UNION ALL
  SELECT person_id, source_system, setting, day, quantity, activity FROM care_hours
)`;
  return { sql, start: pStart, asOf: pAsOf };
}

