// The risk model's features, computed in SQL from the record into the analytics-owned table
// `risk_feature` (migration 0027), for one index date, in ONE set-based statement. The encounters
// and coded entries are read from analytics/'s flat tables (migration 0044, analytics/flat/), brought
// up to date first, not from every resource's JSON; the registered population from source_identity,
// deaths from the Patient resources (a partial index, migration 0038). Each source of features is a
// CTE grouped by person_id before anything is joined (see analytics/README.md on push-down).
// features-json.ts keeps the statement over the JSON that this one must agree with.
//
// How the feeds record what is counted (see analytics/cohorts/compile.ts and ingest/hl7v2/adt.ts):
// an A&E attendance is an Encounter of class EMER (HL7 v2 PV1-2 E); an emergency admission is
// class IMP (PV1-2 I) with priority EM (PV1-4), at an acute hospital (the mental health trust's
// sources, by analytics/commissioning/sources.csv, are not counted: published models count acute
// admissions); an outpatient attendance is class AMB with a PAS treatment function (table 0069);
// a GP consultation is any Encounter from a GP system, a home visit one of class HH; a community
// contact a class HH Encounter from a community source. Cancelled and entered-in-error encounters
// are not counted. Conditions and procedures count from their onset or performed date; medicines
// are the distinct codes (or texts, for uncoded items) issued in the 12 months before; a social
// care package is an EpisodeOfCare from a social care source whose period covers the index date.
import { oneOffStatements } from '../../db/database.ts';
import type { Queryable } from '../../db/database.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import { loadSources } from '../commissioning/tariff.ts';
import { EFI_DEFICIT_COUNT, loadCodeLists, type RiskCodeLists } from './code-lists.ts';

/** Shifts a YYYY-MM-DD date by whole months (clamped to the month's end). */
export function addMonths(iso: string, months: number): string {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  const first = new Date(Date.UTC(y, m - 1 + months, 1));
  const last = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0)).getUTCDate();
  return new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), Math.min(d, last))).toISOString().slice(0, 10);
}

export function isIsoDate(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) === s;
}

/**
 * Recomputes the features of every registered person alive on the index date (their latest GP
 * registration; born before it; not recorded as dead before it), replacing that date's rows.
 * Returns the number of people. With `keep`, the rows are also left in the transaction's scratch
 * table FEATURE_SCRATCH (dropped at commit), columns as risk_feature's, for the scores to be
 * computed from (model.ts) without reading back the rows just written.
 */
export async function refreshFeatures(db: Queryable, indexDate: string, lists: RiskCodeLists = loadCodeLists(), opts: { keep?: boolean } = {}): Promise<number> {
  const { select, params } = featureStatement(indexDate, lists);
  // The caller runs this in a transaction: the flat tables are brought up to date, the date's old
  // rows go, the new ones come, in one step.
  await ensureFlatTablesCurrent(db);
  await db.query('DELETE FROM risk_feature WHERE index_date = $1::date', [indexDate]);
  // No JIT compilation for this statement's transaction: the statement's estimated cost (a scan of
  // every encounter) puts it over PostgreSQL's JIT thresholds, and compiling its many JSON
  // expressions took 5.6 s of a 14.9 s refresh at 19,000 people (EXPLAIN ANALYZE, PostgreSQL 15),
  // more than it saved. PGlite has no JIT; the setting is accepted there and does nothing.
  await oneOffStatements(db);
  // Parallel query: PostgreSQL never runs the SELECT of an INSERT … SELECT in parallel workers, but
  // it does a CREATE TABLE … AS. So the features are computed into a scratch table (its scans of
  // the flat tables and its per-person aggregates split over the server's workers), then inserted.
  // The workers per step and the memory for the per-person hash tables are this transaction's own.
  await db.query(`SELECT set_config('max_parallel_workers_per_gather', $1, true), set_config('work_mem', $2, true)`, [String(PARALLEL_WORKERS), '64MB']);
  await db.query(`DROP TABLE IF EXISTS ${FEATURE_SCRATCH}`);
  await db.query(`CREATE TEMP TABLE ${FEATURE_SCRATCH} ON COMMIT DROP AS ${select}`, params);
  const r = await db.query(`${FEATURE_INSERT} SELECT * FROM ${FEATURE_SCRATCH}`);
  if (!opts.keep) await db.query(`DROP TABLE ${FEATURE_SCRATCH}`);
  return r.rowCount;
}

/** The transaction's scratch table of refreshFeatures (a temporary table, dropped at commit). */
export const FEATURE_SCRATCH = 'risk_feature_scratch';

/**
 * Parallel workers per step of the features statement, at most (the planner gives a step fewer on
 * smaller tables, and the server's max_parallel_workers bounds them all; PGlite has none). Each
 * worker hashes its share of the encounters by person, and nearly every person is in every share,
 * so each worker more costs a per-person hash table and its merge: at 215,000 people, 4 workers
 * took 10–20 % more server CPU than 1 for the same rows (docs/analytics/risk.md "Stop 23"). Two
 * keep a two-core server's cores busy with the leader.
 */
const PARALLEL_WORKERS = 2;

/**
 * Each code as the containment {"coding":[{"code": …}]}: a resource holding any of them has a
 * coding with that code. Asked as (content->'code') @> ANY(…), beside the exact test on each coding,
 * so that the GIN index of migration 0037 finds the few coded entries wanted among all of them.
 */
export function codings(codes: readonly string[]): string[] {
  return [...new Set(codes)].map((code) => JSON.stringify({ coding: [{ code }] }));
}

/**
 * The one INSERT … SELECT that computes every person's features for an index date (`sql`), and
 * the same without the INSERT (`select`, one row per person in risk_feature's column order).
 */
export function featureStatement(indexDate: string, lists: RiskCodeLists = loadCodeLists()): { sql: string; select: string; params: unknown[] } {
  const params = featureParams(indexDate, lists, (codes) => [...new Set(codes)]);
  const ctes = `
WITH registered AS (
  -- The registered population (analytics_person, migration 0050: each active person's latest GP
  -- registration, brought up to date with the other flat tables), born before the index date.
  SELECT g.person_id, g.practice, g.birth_date, g.sex
    FROM analytics_person g
   WHERE g.birth_date IS NOT NULL AND g.birth_date < $18::date
), died AS (
  -- A death recorded without a date (deceasedBoolean) is kept as 0001-01-01: before any index date.
  SELECT g.person_id, g.died_on FROM analytics_person g WHERE g.died_on IS NOT NULL
), enc AS (
  SELECT e.person_id,
         count(*) FILTER (WHERE e.emergency AND e.d >= $2 AND e.d < $1) AS em12,
         count(*) FILTER (WHERE e.emergency AND e.d < $1) AS em24,
         count(*) FILTER (WHERE e.ae AND e.d >= $2 AND e.d < $1) AS ae12,
         count(*) FILTER (WHERE e.ae AND e.d < $1) AS ae24,
         count(*) FILTER (WHERE e.outpatient AND e.d >= $2 AND e.d < $1) AS op12,
         count(*) FILTER (WHERE e.gp AND e.d >= $2 AND e.d < $1) AS gp12,
         count(*) FILTER (WHERE e.gp AND e.home AND e.d >= $2 AND e.d < $1) AS home12,
         count(*) FILTER (WHERE e.community AND e.d >= $2 AND e.d < $1) AS community12,
         count(*) FILTER (WHERE e.emergency AND e.d >= $1) AS em_next
    FROM (SELECT a.person_id, a.start_date AS d,
                 (a.class_code = 'IMP' AND a.emergency AND NOT a.source_system LIKE ANY($5::text[])) AS emergency,
                 (a.class_code = 'EMER') AS ae,
                 (a.class_code = 'AMB' AND a.hospital_outpatient) AS outpatient,
                 (a.source_system LIKE 'gp:%') AS gp,
                 (a.class_code = 'HH') AS home,
                 (a.class_code = 'HH' AND a.source_system LIKE ANY($7::text[])) AS community
            FROM (-- The last 12 months and the next: every encounter (analytics_encounter_window_idx).
                  SELECT a.person_id, a.start_date, a.class_code, a.emergency, a.hospital_outpatient, a.source_system
                    FROM analytics_encounter a
                   WHERE a.resource_type = 'Encounter' AND a.person_id IS NOT NULL
                     AND COALESCE(a.status, 'finished') NOT IN ('cancelled', 'entered-in-error')
                     AND a.start_date >= $2 AND a.start_date < $4
                  UNION ALL
                  -- The 12 months before: only admissions and A&E attendances are counted, read from
                  -- their own index (analytics_encounter_acute_idx), not picked out of every
                  -- encounter of that year (most of them GP consultations) in the window index.
                  SELECT a.person_id, a.start_date, a.class_code, a.emergency, false, a.source_system
                    FROM analytics_encounter a
                   WHERE a.resource_type = 'Encounter' AND a.person_id IS NOT NULL AND a.class_code IN ('IMP', 'EMER')
                     AND COALESCE(a.status, 'finished') NOT IN ('cancelled', 'entered-in-error')
                     AND a.start_date >= $3 AND a.start_date < $2) a) e
   GROUP BY e.person_id
), coded AS (
  -- Conditions and procedures before the index date, each code looked up in the code lists. The
  -- codes are unnested in a subquery of their own (OFFSET 0 keeps it one): joined inside the
  -- lateral unnest, the lists were hashed again for every coded entry (4.6 s at 215,000 people).
  SELECT pc.person_id,
         array_agg(DISTINCT l.kind) FILTER (WHERE l.kind IS NOT NULL) AS kinds,
         count(DISTINCT x.deficit) AS deficits,
         bool_or(pc.code = ANY($14::text[])) AS frailty
    FROM (SELECT a.person_id, c.code
            FROM analytics_coded_entry a
            CROSS JOIN LATERAL unnest(a.codes) AS c(code)
           WHERE a.kind IN ('condition', 'procedure') AND a.person_id IS NOT NULL
             AND a.codes && $19::text[]
             AND c.code = ANY($19::text[])
             AND a.onset_date < $1
             AND COALESCE(a.verification_status, 'confirmed') NOT IN ('entered-in-error', 'refuted')
             AND COALESCE(a.status, 'completed') NOT IN ('entered-in-error', 'not-done')
             AND COALESCE(a.abatement_date >= $1, true)
          OFFSET 0) pc
    LEFT JOIN unnest($8::text[], $9::text[]) AS l(code, kind) ON l.code = pc.code
    LEFT JOIN unnest($10::text[], $11::int[]) AS x(code, deficit) ON x.code = pc.code
   WHERE l.kind IS NOT NULL OR x.deficit IS NOT NULL OR pc.code = ANY($14::text[])
   GROUP BY pc.person_id
), meds AS (
  -- Each person's distinct medicines (the first coding's code, or the text of an uncoded item).
  -- Hospital pharmacy orders (HL7 v2 RDE/RXO/RAS from hl7: feeds: inpatient drugs, one-off doses)
  -- are not the person's regular medicines, so polypharmacy counts the other sources' only.
  SELECT a.person_id, count(DISTINCT COALESCE(a.first_code, a.concept_text)) AS n
    FROM analytics_coded_entry a
   WHERE a.kind = 'medication' AND a.person_id IS NOT NULL AND a.source_system NOT LIKE 'hl7:%'
     AND COALESCE(a.status, 'completed') NOT IN ('entered-in-error', 'cancelled')
     AND a.entry_date >= $2 AND a.entry_date < $1
   GROUP BY a.person_id
), labs AS (
  -- The latest HbA1c and eGFR in the 24 months before the index date (ties: the larger value).
  SELECT a.person_id,
         (array_agg(a.value::double precision ORDER BY a.entry_date DESC, a.value DESC) FILTER (WHERE c.code = ANY($12::text[])))[1] AS hba1c,
         (array_agg(a.value::double precision ORDER BY a.entry_date DESC, a.value DESC) FILTER (WHERE c.code = ANY($13::text[])))[1] AS egfr
    FROM analytics_coded_entry a
    CROSS JOIN LATERAL (SELECT DISTINCT u.code FROM unnest(a.codes) AS u(code)) AS c
   WHERE a.kind = 'observation' AND a.person_id IS NOT NULL
     AND a.codes && $20::text[]
     AND a.value IS NOT NULL
     AND COALESCE(a.status, 'final') NOT IN ('entered-in-error', 'cancelled')
     AND (c.code = ANY($12::text[]) OR c.code = ANY($13::text[]))
     AND a.entry_date >= $3 AND a.entry_date < $1
   GROUP BY a.person_id
), care AS (
  SELECT a.person_id, true AS in_place
    FROM analytics_encounter a
   WHERE a.resource_type = 'EpisodeOfCare' AND a.person_id IS NOT NULL AND a.source_system LIKE ANY($6::text[])
     AND COALESCE(a.status, 'active') NOT IN ('entered-in-error', 'cancelled')
     AND a.start_date <= $1
     AND COALESCE(a.end_date >= $1, true)
   GROUP BY a.person_id
${PEOPLE}`;
  return { sql: `${ctes}\n${FEATURE_INSERT}\n${FEATURE_SELECT}`, select: `${ctes}\n${FEATURE_SELECT}`, params };
}

/** The columns of risk_feature that the features statement fills, in its SELECT's order. */
const FEATURE_INSERT = `INSERT INTO risk_feature (person_id, index_date, practice, neighbourhood, age, sex,
  emergency_admissions_12m, emergency_admissions_24m, ae_attendances_12m, ae_attendances_24m, outpatient_attendances_12m,
  gp_consultations_12m, home_visits_12m, community_contacts_12m, long_term_conditions, long_term_condition_kinds, medications_12m,
  frailty_coded, efi_deficits, efi, efi_band, hba1c, egfr, social_care_package, emergency_admissions_next_12m)`;

/**
 * The last SELECT of the features statement: the people CTE's rows with the eFI and its band, each
 * column named and typed as risk_feature's (so that the model's terms read the scratch table too).
 */
const FEATURE_SELECT = `SELECT p.person_id, $18::date AS index_date, p.practice, p.neighbourhood, p.age, p.sex,
       p.em12::int AS emergency_admissions_12m, p.em24::int AS emergency_admissions_24m, p.ae12::int AS ae_attendances_12m, p.ae24::int AS ae_attendances_24m,
       p.op12::int AS outpatient_attendances_12m, p.gp12::int AS gp_consultations_12m, p.home12::int AS home_visits_12m, p.community12::int AS community_contacts_12m,
       p.ltc::int AS long_term_conditions, p.kinds AS long_term_condition_kinds, p.meds::int AS medications_12m,
       p.frailty AS frailty_coded, p.deficits::int AS efi_deficits, p.deficits::double precision / $17::int AS efi,
       CASE WHEN p.deficits::double precision / $17::int <= 0.12 THEN 'fit'
            WHEN p.deficits::double precision / $17::int <= 0.24 THEN 'mild'
            WHEN p.deficits::double precision / $17::int <= 0.36 THEN 'moderate'
            ELSE 'severe' END AS efi_band,
       p.hba1c, p.egfr, p.social_care AS social_care_package, p.em_next::int AS emergency_admissions_next_12m
  FROM people p`;

/**
 * The end of the features statement, shared with the reference statement over the JSON
 * (features-json.ts): each registered person's features from the CTEs before it (registered,
 * died, enc, coded, meds, labs, care), inserted as risk_feature rows with the eFI and its band.
 */
const PEOPLE = `), people AS (
  SELECT g.person_id, g.practice, pr.neighbourhood,
         (extract(year FROM age($18::date, g.birth_date)))::int AS age,
         g.sex,
         COALESCE(e.em12, 0) AS em12, COALESCE(e.em24, 0) AS em24, COALESCE(e.ae12, 0) AS ae12, COALESCE(e.ae24, 0) AS ae24,
         COALESCE(e.op12, 0) AS op12, COALESCE(e.gp12, 0) AS gp12, COALESCE(e.home12, 0) AS home12, COALESCE(e.community12, 0) AS community12,
         COALESCE(e.em_next, 0) AS em_next,
         COALESCE(cardinality(k.kinds), 0) AS ltc, COALESCE(k.kinds, '{}') AS kinds,
         COALESCE(m.n, 0) AS meds, COALESCE(k.frailty, false) AS frailty,
         COALESCE(k.deficits, 0)
           + CASE WHEN $15::boolean AND COALESCE(m.n, 0) >= 5 THEN 1 ELSE 0 END
           + CASE WHEN $16::boolean AND c.in_place IS NOT NULL THEN 1 ELSE 0 END AS deficits,
         l.hba1c, l.egfr, (c.in_place IS NOT NULL) AS social_care
    FROM registered g
    LEFT JOIN practice pr ON pr.ods_code = g.practice
    LEFT JOIN died dd ON dd.person_id = g.person_id
    LEFT JOIN enc e ON e.person_id = g.person_id
    LEFT JOIN coded k ON k.person_id = g.person_id
    LEFT JOIN meds m ON m.person_id = g.person_id
    LEFT JOIN labs l ON l.person_id = g.person_id
    LEFT JOIN care c ON c.person_id = g.person_id
   WHERE dd.died_on IS NULL OR dd.died_on >= $1
)`;
export const PEOPLE_AND_INSERT = `${PEOPLE}
${FEATURE_INSERT}
${FEATURE_SELECT}`;

/**
 * The features statement's parameters ($1–$20), the same for the flat-table statement and the JSON
 * reference (features-json.ts); `anyOf` says how each asks for "any of these codes" ($19, $20).
 */
export function featureParams(indexDate: string, lists: RiskCodeLists, anyOf: (codes: string[]) => unknown): unknown[] {
  if (!isIsoDate(indexDate)) throw new Error(`index date must be YYYY-MM-DD, got "${indexDate}"`);
  const sources = loadSources();
  const mentalHealth = sources.filter((s) => s.setting === 'mental health').map((s) => s.pattern);
  const socialCare = sources.filter((s) => s.setting === 'social care').map((s) => s.pattern);
  const community = sources.filter((s) => s.setting === 'community').map((s) => s.pattern);
  const ltcCodes = lists.longTermConditions.map((c) => c.code);
  const ltcKinds = lists.longTermConditions.map((c) => c.kind);
  const efiCodes: string[] = [];
  const efiNumbers: number[] = [];
  for (const d of lists.efiDeficits) for (const c of d.codes) efiCodes.push(c), efiNumbers.push(d.number);
  const polypharmacy = lists.efiDeficits.some((d) => d.derived === 'polypharmacy');
  const carePackage = lists.efiDeficits.some((d) => d.derived === 'care-package');
  return [
    indexDate, // $1
    addMonths(indexDate, -12), // $2
    addMonths(indexDate, -24), // $3
    addMonths(indexDate, 12), // $4
    mentalHealth, // $5
    socialCare, // $6
    community, // $7
    ltcCodes, // $8
    ltcKinds, // $9
    efiCodes, // $10
    efiNumbers, // $11
    lists.featureCodes.hba1c, // $12
    lists.featureCodes.egfr, // $13
    lists.featureCodes.frailty, // $14
    polypharmacy, // $15
    carePackage, // $16
    EFI_DEFICIT_COUNT, // $17
    indexDate, // $18 (as a date; $1 is the same day as text, compared with the resources' dates)
    anyOf([...ltcCodes, ...efiCodes, ...lists.featureCodes.frailty]), // $19: any of these codes (an index on codes)
    anyOf([...lists.featureCodes.hba1c, ...lists.featureCodes.egfr]), // $20
  ];
}
