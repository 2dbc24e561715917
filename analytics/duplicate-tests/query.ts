// The duplicate-test query: laboratory tests repeated across primary and secondary care within
// the test's minimum retesting interval. ONE parameterised statement, grouped by person first:
//   1. results  — each laboratory Observation of a registered person whose code (national, or a
//                 sender's local code the reference data maps) is a test in the intervals table,
//                 with its collection time and the care setting of its source (sources.csv);
//   2. tests    — the results of one person, test and collection instant are one test (a panel's
//                 analytes, and the same specimen reported through two feeds: a practice's
//                 bloods appear in the GP record and in the hospital laboratory's ORU);
//   3. counted, paired — per person and test, in time order, the latest earlier test of each
//                 side (window functions partitioned by person: a running count of each side's
//                 tests, and the first row of each run of that count is that side's latest test);
//   4. repeats  — a test whose latest earlier test on the OTHER side is sooner than the interval.
// Every step before the final join is partitioned by person_id, so on Citus (resource and
// source_identity distributed by person_id) it runs on each node, in parallel; only the repeats
// travel to the coordinator. Values are bound parameters; the SQL text is fixed.
import type { TestCode } from './intervals.ts';

/** The two sides of care the query compares, told from each source's setting in sources.csv. */
export const PRIMARY_SETTINGS = ['primary care'];
export const SECONDARY_SETTINGS = ['hospital', 'mental health'];

export interface DuplicateQueryOptions {
  codes: readonly TestCode[];
  intervals: readonly { test: string; days: number }[];
  /** Source key patterns (LIKE) and their settings, in order: the first that matches (sources.csv). */
  sources: readonly { pattern: string; setting: string }[];
  /** Only repeats on or after this date (YYYY-MM-DD). */
  since?: string | null;
  /** Only repeats on or before this date (YYYY-MM-DD). */
  until?: string | null;
  /** Only people registered at this practice. */
  practice?: string | null;
}

export interface RepeatRow {
  person_id: string;
  practice: string | null;
  test: string;
  first_at: string;
  first_setting: 'primary' | 'secondary';
  first_sources: string[];
  repeat_at: string;
  repeat_setting: 'primary' | 'secondary';
  repeat_sources: string[];
  hours_apart: number;
}

const INSTANT = `'^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:?\\d{2})?)?$'`;

export function duplicateTestsQuery(o: DuplicateQueryOptions): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  // One key per code: a national code by its system, a local code (no system) by the source system it is local to.
  const cKey = bind(o.codes.map((c) => (c.sourceSystem ? `l|${c.sourceSystem}|${c.code}` : `n|${c.system}|${c.code}`)));
  const cTest = bind(o.codes.map((c) => c.test));
  const iTest = bind(o.intervals.map((i) => i.test));
  const iDays = bind(o.intervals.map((i) => i.days));
  const sPattern = bind(o.sources.map((s) => s.pattern));
  const sSetting = bind(o.sources.map((s) => s.setting));
  const primary = bind(PRIMARY_SETTINGS);
  const secondary = bind(SECONDARY_SETTINGS);
  const filters: string[] = [];
  if (o.since) filters.push(`b.taken >= ${bind(o.since)}::date`);
  if (o.until) filters.push(`b.taken < (${bind(o.until)}::date + 1)`);
  const practice = o.practice ? `AND g.practice = ${bind(o.practice)}` : '';
  const taken = `COALESCE(r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'issued')`;
  const sql = `WITH registered AS (
  SELECT DISTINCT ON (s.person_id) s.person_id, substr(s.source_system, 4) AS practice
    FROM source_identity s JOIN person p ON p.person_id = s.person_id AND p.status = 'active'
   WHERE s.source_system LIKE 'gp:%'
   ORDER BY s.person_id, s.updated_at DESC
), intervals AS (
  SELECT * FROM unnest(${iTest}::text[], ${iDays}::int[]) AS i(test, days)
), results AS (
  SELECT r.person_id, g.practice, r.source_system, m.test,
         CASE WHEN ${taken} ~ ${INSTANT} THEN (${taken})::timestamptz END AS taken,
         (SELECT s.setting FROM unnest(${sPattern}::text[], ${sSetting}::text[]) WITH ORDINALITY AS s(pattern, setting, ord)
           WHERE r.source_system LIKE s.pattern ORDER BY s.ord LIMIT 1) AS setting
    FROM resource r
    JOIN registered g ON g.person_id = r.person_id ${practice}
    -- The test each coding names (array lookups, not a join: the plan cannot go wrong on a row estimate).
    CROSS JOIN LATERAL (SELECT DISTINCT (${cTest}::text[])[array_position(${cKey}::text[],
                              CASE WHEN k.coding->>'system' IS NULL THEN 'l|' || r.source_system || '|' || (k.coding->>'code')
                                   ELSE 'n|' || (k.coding->>'system') || '|' || (k.coding->>'code') END)] AS test
                          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.content->'code'->'coding') = 'array' THEN r.content->'code'->'coding' ELSE '[]'::jsonb END) AS k(coding)) m
   WHERE r.resource_type = 'Observation' AND r.person_id IS NOT NULL AND m.test IS NOT NULL
     AND COALESCE(r.content->>'status', 'final') NOT IN ('cancelled', 'entered-in-error', 'registered')
), tests AS (
  SELECT person_id, practice, test, taken,
         CASE WHEN bool_or(setting = ANY(${primary}::text[])) THEN 'primary' ELSE 'secondary' END AS side,
         array_agg(DISTINCT source_system ORDER BY source_system) AS sources
    FROM results
   WHERE taken IS NOT NULL AND (setting = ANY(${primary}::text[]) OR setting = ANY(${secondary}::text[]))
   GROUP BY person_id, practice, test, taken
), counted AS (
  -- How many tests of each side so far: the latest test of a side opens a run of rows sharing its count.
  SELECT t.*,
         count(*) FILTER (WHERE t.side = 'primary') OVER w AS n_primary,
         count(*) FILTER (WHERE t.side = 'secondary') OVER w AS n_secondary
    FROM tests t
  WINDOW w AS (PARTITION BY t.person_id, t.test ORDER BY t.taken ROWS UNBOUNDED PRECEDING)
), paired AS (
  SELECT c.*,
         first_value(c.taken) OVER (PARTITION BY c.person_id, c.test, c.n_primary ORDER BY c.taken) AS primary_taken,
         first_value(c.sources) OVER (PARTITION BY c.person_id, c.test, c.n_primary ORDER BY c.taken) AS primary_sources,
         first_value(c.taken) OVER (PARTITION BY c.person_id, c.test, c.n_secondary ORDER BY c.taken) AS secondary_taken,
         first_value(c.sources) OVER (PARTITION BY c.person_id, c.test, c.n_secondary ORDER BY c.taken) AS secondary_sources
    FROM counted c
), repeats AS (
  -- Each test against the latest earlier test of the other side.
  SELECT p.person_id, p.practice, p.test, p.side, p.taken, p.sources,
         CASE p.side WHEN 'primary' THEN p.secondary_taken ELSE p.primary_taken END AS first_taken,
         CASE p.side WHEN 'primary' THEN p.secondary_sources ELSE p.primary_sources END AS first_sources
    FROM paired p
   WHERE (p.side = 'primary' AND p.n_secondary > 0) OR (p.side = 'secondary' AND p.n_primary > 0)
)
SELECT b.person_id::text AS person_id, b.practice, b.test,
       to_char(b.first_taken AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS first_at,
       CASE b.side WHEN 'primary' THEN 'secondary' ELSE 'primary' END AS first_setting, b.first_sources,
       to_char(b.taken AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS repeat_at, b.side AS repeat_setting, b.sources AS repeat_sources,
       round((extract(epoch FROM b.taken - b.first_taken) / 3600)::numeric, 1)::float8 AS hours_apart
  FROM repeats b
  JOIN intervals i ON i.test = b.test
 WHERE b.taken - b.first_taken < make_interval(days => i.days)${filters.length ? `\n   AND ${filters.join(' AND ')}` : ''}
 ORDER BY b.practice, b.person_id, b.test, b.taken`;
  return { sql, params };
}
