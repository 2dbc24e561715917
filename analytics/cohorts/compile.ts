// Compiles a cohort definition to ONE parameterised SQL query: the registered population (each
// active person's latest GP registration, the flat table analytics_person) filtered by one predicate per
// criterion. Every criterion on the record is a subquery that returns person ids, over analytics/'s
// flat tables (migration 0044, analytics/flat/: encounters, conditions, procedures, observations,
// medicines, referrals; the caller brings them up to date first with ensureFlatTablesCurrent) or,
// for care plans, over `resource`. So the whole query is grouped by person first (see
// analytics/README.md on which parts push down on a distributed PostgreSQL).
// Values are never written into the SQL text: codes, thresholds, dates and counts are bound
// parameters ($1, $2, …); only fixed fragments chosen by the criterion's kind are SQL.
import { SNOMED, windowStart, type CodeList, type CohortDefinition, type Criterion, type EncounterKind, type Window } from './definition.ts';

export interface CompiledCohort {
  sql: string;
  params: unknown[];
  /** The registers this one refers to, in the order they were expanded. */
  uses: string[];
}

export interface CompileOptions {
  /** The date the cohort is run for (YYYY-MM-DD): windows end here, ages are reached by it. */
  asOf: string;
  /** Only people registered at this practice (ODS code). */
  practice?: string | null;
  /** Finds another register by name (for `{"register": "diabetes"}`). */
  resolve?: (name: string) => CohortDefinition | undefined;
  /** Rows in person id order (the default); false for a caller that counts or orders them itself. */
  ordered?: boolean;
}

export class CohortCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CohortCompileError';
  }
}

const V2_0069 = 'http://terminology.hl7.org/CodeSystem/v2-0069';

/** The flat tables (migration 0044): rows keyed by resource, with the person and the fields tested here. */
const ENCOUNTERS = 'analytics_encounter';
const CODED = 'analytics_coded_entry';

/** The clinical date of each kind of row, as text YYYY-MM-DD (analytics/flat/refresh.ts extracts it as these criteria compared it). */
const ENCOUNTER_DATE = 'r.start_date';
const ENTRY_DATE = 'r.entry_date';
const CARE_PLAN_DATE = "left(COALESCE(r.content->'period'->>'start', r.content->>'created'), 10)";

/**
 * Encounter kinds as the feeds record them: A&E attendances are class EMER (HL7 v2 PV1-2 E);
 * admissions are class IMP with priority EM (emergency) or otherwise (elective); hospital
 * outpatient attendances are class AMB with a PAS treatment function (table 0069); community
 * contacts are home-health encounters from a non-GP source; GP consultations come from a GP system.
 * Over analytics_encounter (r).
 */
export const ENCOUNTER_SQL: Record<EncounterKind, string> = {
  'ae-attendance': "r.class_code = 'EMER'",
  'emergency-admission': "r.class_code = 'IMP' AND r.emergency",
  'elective-admission': "r.class_code = 'IMP' AND NOT r.emergency",
  outpatient: "r.class_code = 'AMB' AND r.hospital_outpatient",
  'community-contact': "r.class_code = 'HH' AND r.source_system NOT LIKE 'gp:%'",
  'gp-consultation': "r.source_system LIKE 'gp:%'",
  any: 'true',
};

const INACTIVE_CONDITION = ['inactive', 'resolved', 'remission'];

/** Compiles a definition (and the registers it refers to) into one query returning person_id, practice, neighbourhood. */
export function compileCohort(def: CohortDefinition, opts: CompileOptions): CompiledCohort {
  checkDate(opts.asOf);
  return compileWith(def, [opts.asOf], opts.practice ?? null, opts.resolve, false, opts.ordered !== false);
}

export interface SeriesCompileOptions {
  /** The dates the register is counted on (YYYY-MM-DD), e.g. every month end of a dashboard's series. */
  dates: string[];
  resolve?: (name: string) => CohortDefinition | undefined;
}

/**
 * Compiles a definition for MANY dates at once: one query returning person_id, practice,
 * neighbourhood and k (the index of the date in `dates`) for every person on the register on each
 * date. The dates are a table (CTE `dates`, one row per date, with every window start and age
 * boundary computed here, in TypeScript, by the same functions as compileCohort's), crossed with
 * the registered population; each criterion is the same per-person semi-join as compileCohort's,
 * correlated with the date row as well, so the store is read once for all the dates instead of
 * once per date (the dashboards' summary counts 24 month ends). Same people on each date as
 * compileCohort for that date alone (analytics/dashboards/refresh.int.test.ts checks it).
 */
export function compileCohortSeries(def: CohortDefinition, opts: SeriesCompileOptions): CompiledCohort {
  if (!opts.dates.length) throw new CohortCompileError('no dates to compile the register for');
  for (const d of opts.dates) checkDate(d);
  return compileWith(def, opts.dates, null, opts.resolve, true);
}

function checkDate(asOf: string): void {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf) || Number.isNaN(Date.parse(asOf))) throw new CohortCompileError(`asOf must be a date YYYY-MM-DD, got "${asOf}"`);
}

function compileWith(def: CohortDefinition, dates: string[], practice: string | null, resolve: CompileOptions['resolve'], series = false, ordered = true): CompiledCohort {
  const params: unknown[] = [];
  const uses: string[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  // A value that depends on the date the register is run for (the date itself, a window's start,
  // an age boundary). One date: a bound parameter, bound on first use (PostgreSQL refuses a
  // parameter the statement never mentions: its type is unknown). Many dates: a text column of
  // the CTE `dates` (alias m), one per distinct value list.
  const columns = new Map<string, string>();
  const columnValues: string[][] = [];
  const perDate = (of: (asOf: string) => string, cast: 'text' | 'date' = 'text'): string => {
    const values = dates.map(of);
    // One parameter is never used both as text and cast to a date (its type would be ambiguous).
    const key = `${cast}:${JSON.stringify(values)}`;
    let ref = columns.get(key);
    if (!ref) {
      ref = series ? `m.c${columnValues.length}` : bind(values[0]);
      if (series) columnValues.push(values);
      columns.set(key, ref);
    }
    return ref;
  };
  const asOfRef = () => perDate((d) => d);
  // Criteria that aggregate over a person's resources (IN over a subquery): with many dates the
  // subquery reads each resource's person, date (and value) once, pairs them with the date rows
  // whose window holds them (alias m again, shadowing the outer one) and returns (person, k), so
  // that it stays an uncorrelated, hashable semi-join.
  const member = series ? '(b.person_id, m.k)' : 'b.person_id';

  // A person has a resource matching `w` dated within [from, asOf] (from: the window's start, or none).
  // One date: EXISTS, not IN: under NOT the planner makes it an anti-join, where NOT IN over a large
  // subquery can fall back to a subplan run once per person. Many dates: each resource's person and
  // date read once (grouping keys), paired with the dates whose window holds it; (person, k) IN that
  // (an EXISTS correlated with the date row as well became a nested loop over person × date).
  const dated = (w: string[], date: string, from: string | null, table: string): string => {
    if (!series) return `EXISTS (SELECT 1 FROM ${table} r WHERE r.person_id = b.person_id AND ${[...w, ...(from ? [`${date} >= ${from}`] : []), `${date} <= ${asOfRef()}`].join(' AND ')})`;
    return `${member} IN (SELECT o.person_id, m.k FROM (SELECT r.person_id, ${date} AS d FROM ${table} r WHERE ${w.join(' AND ')} GROUP BY 1, 2) o
                 JOIN dates m ON ${from ? `o.d >= ${from} AND ` : ''}o.d <= ${asOfRef()})`;
  };
  // A person has a row of `table` meeting `where` (dated within the window, when there is one).
  // `hashed`: the people are found once and hashed (IN over a subquery that OFFSET 0 keeps whole,
  // so the planner cannot probe it person by person), for a criterion that every member must meet
  // (a conjunct of the top-level all: a semi-join). Beside an encounter count (COPD with two or
  // more emergency admissions), whose HAVING the planner underestimated six-fold, it otherwise chose
  // to read every admitted person's coded entries by person (8 s at 215,000 people, under load).
  const inRows = (table: string, where: string[], date: string, within?: Window, hashed = false): string => {
    const w = ['r.person_id IS NOT NULL', ...where];
    if (within) return dated(w, date, perDate((d) => windowStart(d, within)), table);
    if (hashed && !series) return `b.person_id IN (SELECT r.person_id FROM ${table} r WHERE ${w.join(' AND ')} OFFSET 0)`;
    return `EXISTS (SELECT 1 FROM ${table} r WHERE r.person_id = b.person_id AND ${w.join(' AND ')})`;
  };
  const coded = (kind: string, where: string[], within?: Window, hashed = false) => inRows(CODED, [`r.kind = '${kind}'`, ...where], ENTRY_DATE, within, hashed);
  // One coding with this system and one of the codes: the flat row's codings are 'system|code'
  // (migration 0044's GIN index answers the overlap).
  const codingIn = (list: CodeList) => `r.codings && ${bind([...new Set(list.codes)].map((code) => `${list.system ?? SNOMED}|${code}`))}::text[]`;
  // A care plan's category (still read from `resource`): one coding with this system and code.
  const categoryIn = (path: string, list: CodeList) =>
    `EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(${path}, '[]'::jsonb)) AS c(coding) WHERE c.coding->>'system' = ${bind(list.system ?? SNOMED)} AND c.coding->>'code' = ANY(${bind(list.codes)}::text[]))`;

  // `top`: the criterion is one every member must meet (the root, or a conjunct of an all that is).
  const visit = (c: Criterion, stack: string[], top = false): string => {
    if ('all' in c) return `(${c.all.map((x) => visit(x, stack, top)).join(' AND ')})`;
    if ('any' in c) return `(${c.any.map((x) => visit(x, stack)).join(' OR ')})`;
    if ('not' in c) return `NOT ${visit(c.not, stack)}`;
    if ('condition' in c) {
      const where = [codingIn(c.condition)];
      if (!c.condition.includeInactive) {
        where.push(`COALESCE(r.clinical_status, 'active') <> ALL(${bind(INACTIVE_CONDITION)}::text[])`);
        where.push(`COALESCE(r.verification_status, 'confirmed') <> 'entered-in-error'`);
      }
      return coded('condition', where, undefined, top);
    }
    if ('observation' in c) {
      const o = c.observation;
      const w = ["r.kind = 'observation'", 'r.person_id IS NOT NULL', `COALESCE(r.status, 'final') <> 'entered-in-error'`, codingIn(o)];
      const within = o.within;
      const undated = [...w];
      const from = within ? perDate((d) => windowStart(d, within)) : null;
      if (from) w.push(`${ENTRY_DATE} >= ${from}`);
      w.push(`${ENTRY_DATE} <= ${asOfRef()}`);
      const value = 'r.value';
      if (o.comparator === undefined) return dated(undated, ENTRY_DATE, from, CODED);
      const test = `v.value ${o.comparator} ${bind(o.value)}::numeric`;
      if (series) {
        // Each result's person, date and value read from the JSON once (grouping keys), then paired
        // with the dates whose window holds it: not every result's JSON once per date.
        const pairs = `(SELECT r.person_id, ${ENTRY_DATE} AS d, ${value} AS value FROM ${CODED} r WHERE ${undated.join(' AND ')} GROUP BY 1, 2, 3) o
                 JOIN dates m ON ${from ? `o.d >= ${from} AND ` : ''}o.d <= ${asOfRef()}`;
        if (o.which === 'any') return `${member} IN (SELECT o.person_id, m.k FROM ${pairs} WHERE ${test.replace('v.value', 'o.value')})`;
        return `${member} IN (SELECT v.person_id, v.k FROM (SELECT DISTINCT ON (o.person_id, m.k) o.person_id, m.k, o.value FROM ${pairs} ORDER BY o.person_id, m.k, o.d DESC, o.value DESC NULLS LAST) v WHERE ${test})`;
      }
      if (o.which === 'any') {
        return `b.person_id IN (SELECT v.person_id FROM (SELECT r.person_id, ${value} AS value FROM ${CODED} r WHERE ${w.join(' AND ')}) v WHERE ${test})`;
      }
      // The latest result in the window (ties: the larger value, so that the answer is stable).
      return `b.person_id IN (SELECT v.person_id FROM (SELECT DISTINCT ON (r.person_id) r.person_id, ${value} AS value FROM ${CODED} r WHERE ${w.join(' AND ')} ORDER BY r.person_id, ${ENTRY_DATE} DESC, 2 DESC NULLS LAST) v WHERE ${test})`;
    }
    if ('encounter' in c) {
      const e = c.encounter;
      const w = ["r.resource_type = 'Encounter'", 'r.person_id IS NOT NULL', `COALESCE(r.status, 'finished') NOT IN ('cancelled', 'entered-in-error')`, ENCOUNTER_SQL[e.kind]];
      // A serviceType coding, or a coding of any type, with one of these codes (any system).
      if (e.serviceTypes) w.push(`r.service_type_codes && ${bind([...new Set(e.serviceTypes)])}::text[]`);
      if (e.types) w.push(`r.type_codes && ${bind([...new Set(e.types)])}::text[]`);
      const within = e.within;
      const undated = [...w];
      const from = within ? perDate((d) => windowStart(d, within)) : null;
      if (from) w.push(`${ENCOUNTER_DATE} >= ${from}`);
      w.push(`${ENCOUNTER_DATE} <= ${asOfRef()}`);
      const atLeast = e.atLeast ?? 1;
      if (atLeast === 1) return dated(undated, ENCOUNTER_DATE, from, ENCOUNTERS);
      if (series) {
        // Each person's encounters counted per day first (the JSON read once), then summed per date's window.
        return `${member} IN (SELECT o.person_id, m.k FROM (SELECT r.person_id, ${ENCOUNTER_DATE} AS d, count(*) AS n FROM ${ENCOUNTERS} r WHERE ${undated.join(' AND ')} GROUP BY 1, 2) o
                 JOIN dates m ON ${from ? `o.d >= ${from} AND ` : ''}o.d <= ${asOfRef()} GROUP BY o.person_id, m.k HAVING sum(o.n) >= ${bind(atLeast)}::int)`;
      }
      return `${member} IN (SELECT r.person_id FROM ${ENCOUNTERS} r WHERE ${w.join(' AND ')} GROUP BY r.person_id HAVING count(*) >= ${bind(atLeast)}::int)`;
    }
    if ('medication' in c) {
      const m = c.medication;
      // Within a window: issued in it (whatever its status); otherwise: any current or completed one.
      if (m.within) return coded('medication', [codingIn(m)], m.within);
      return coded('medication', [codingIn(m), `r.status IN ('active', 'completed', 'intended', 'on-hold')`]);
    }
    if ('procedure' in c) return coded('procedure', [codingIn(c.procedure), `COALESCE(r.status, 'completed') NOT IN ('entered-in-error', 'not-done')`], c.procedure.within);
    if ('referral' in c) return coded('referral', [codingIn(c.referral), `COALESCE(r.status, 'active') NOT IN ('entered-in-error', 'revoked')`], c.referral.within);
    if ('carePlan' in c) {
      const where = [`r.resource_type = 'CarePlan'`, `r.content->>'status' IN ('active', 'on-hold')`];
      if (c.carePlan.categories) {
        where.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(r.content->'category', '[]'::jsonb)) AS cat(concept) WHERE ${categoryIn("cat.concept->'coding'", c.carePlan.categories)})`);
      }
      return inRows('resource', where, CARE_PLAN_DATE, c.carePlan.within);
    }
    if ('age' in c) {
      const parts: string[] = [];
      // Age in whole years on asOf: at least min ⇔ born on or before asOf − min years; at most max ⇔ born after asOf − (max + 1) years.
      const { min, max } = c.age;
      if (min !== undefined) parts.push(`b.birth_date <= ${perDate((d) => yearsBefore(d, min), 'date')}::date`);
      if (max !== undefined) parts.push(`b.birth_date > ${perDate((d) => yearsBefore(d, max + 1), 'date')}::date`);
      return `(${parts.join(' AND ')})`;
    }
    if ('practice' in c) return `b.practice = ANY(${bind(c.practice)}::text[])`;
    if ('neighbourhood' in c) return `b.neighbourhood = ANY(${bind(c.neighbourhood)}::text[])`;
    if ('register' in c) {
      const name = c.register;
      if (stack.includes(name)) throw new CohortCompileError(`circular reference: ${[...stack, name].join(' → ')}`);
      const other = resolve?.(name);
      if (!other) throw new CohortCompileError(`register "${name}" (referred to by ${stack[stack.length - 1]}) does not exist`);
      if (!uses.includes(name)) uses.push(name);
      return `(${visit(other.criteria, [...stack, name], top)})`;
    }
    throw new CohortCompileError(`unknown criterion ${JSON.stringify(Object.keys(c))}`);
  };

  const predicate = visit(def.criteria, [def.name], true);
  const practiceFilter = practice ? ` AND b.practice = ${bind(practice)}` : '';
  // The dates table: k (1, 2, …) and each per-date column (text, as the resources' dates are compared).
  const datesCte = series
    ? `dates AS (
  SELECT * FROM unnest(${[bind(dates.map((_, i) => i + 1)) + '::int[]', ...columnValues.map((v) => `${bind(v)}::text[]`)].join(', ')}) AS m(k${columnValues.map((_, i) => `, c${i}`).join('')})
), `
    : '';
  const sql = `WITH ${datesCte}b AS (
  -- The registered population (analytics_person, migration 0050: each active person's latest GP
  -- registration, brought up to date with the other flat tables), less those with a death recorded.
  SELECT g.person_id, g.practice, g.birth_date, pr.neighbourhood
    FROM analytics_person g LEFT JOIN practice pr ON pr.ods_code = g.practice
   WHERE g.died_on IS NULL
)
${
    series
      ? `SELECT b.person_id::text AS person_id, b.practice, b.neighbourhood, m.k
  FROM b CROSS JOIN dates m
 WHERE ${predicate}`
      : `SELECT b.person_id::text AS person_id, b.practice, b.neighbourhood
  FROM b
 WHERE ${predicate}${practiceFilter}${ordered ? '\n ORDER BY b.person_id' : ''}`
  }`;
  return { sql, params, uses };
}

function yearsBefore(asOf: string, years: number): string {
  const d = new Date(`${asOf}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d.toISOString().slice(0, 10);
}
