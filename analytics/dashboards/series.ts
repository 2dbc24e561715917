// Monthly series from the store for the dashboards: a register's size at the end of each month,
// encounters of a kind in each month, and the registered population (the denominator of a rate),
// each per practice, neighbourhood and the whole locality. Secondary-use population only
// (analytics/commissioning/report.ts secondaryUsePopulation: opted-out and restricted people are
// not counted). Grouped by person first: a register is the cohort compiler's query (every
// criterion a per-person semi-join) and an encounter count joins each person's own resources to
// their own registration, so on Citus (resource, source_identity distributed by person_id;
// practice a reference table) both push down and only the per-practice counts travel; the
// GROUPING SETS over practice, neighbourhood and locality are a two-stage aggregate of those.
import type { Queryable } from '../../db/database.ts';
import { CohortCompileError, compileCohort, compileCohortSeries, ENCOUNTER_SQL } from '../cohorts/compile.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import type { CohortDefinition } from '../cohorts/definition.ts';
import { secondaryUsePopulation } from '../commissioning/report.ts';
import { monthsEnding } from '../commissioning/report.ts';
import type { SeriesDefinition } from '../spc/measures.ts';

export type Level = 'locality' | 'neighbourhood' | 'practice';
export const LEVELS: readonly Level[] = ['locality', 'neighbourhood', 'practice'];

export interface LevelCount {
  level: Level;
  /** '' for the locality; a neighbourhood code; a practice ODS code. */
  key: string;
  n: number;
}

export interface MonthCount extends LevelCount {
  month: string;
}

export class SeriesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeriesError';
  }
}

/** The last day counted in each of the N months ending with asOf's month: each month's end, and asOf itself for its own month. */
export function monthEnds(asOf: string, n: number): { month: string; end: string }[] {
  return monthsEnding(asOf, n).map((month) => {
    const d = new Date(`${month}-01T00:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() + 1, 0);
    const end = d.toISOString().slice(0, 10);
    return { month, end: end < asOf ? end : asOf };
  });
}

const LEVEL_OF = `CASE WHEN GROUPING(x.practice) = 0 THEN 'practice' WHEN GROUPING(x.neighbourhood) = 0 THEN 'neighbourhood' ELSE 'locality' END`;
const KEY_OF = `CASE WHEN GROUPING(x.practice) = 0 THEN COALESCE(x.practice, '') WHEN GROUPING(x.neighbourhood) = 0 THEN COALESCE(x.neighbourhood, '') ELSE '' END`;

function compile(def: CohortDefinition, asOf: string, resolve: (n: string) => CohortDefinition | undefined) {
  try {
    return compileCohort(def, { asOf, resolve });
  } catch (err) {
    if (err instanceof CohortCompileError) throw new SeriesError(`register ${def.name}: ${err.message}`);
    throw err;
  }
}

/** A register's size on a date, per practice, neighbourhood and locality. */
export async function registerCounts(tx: Queryable, def: CohortDefinition, asOf: string, resolve: (n: string) => CohortDefinition | undefined): Promise<LevelCount[]> {
  await ensureFlatTablesCurrent(tx); // the flat tables it reads, up to date (one index probe when they are)
  const c = compile(def, asOf, resolve);
  const r = await tx.query<{ level: Level; key: string; n: number }>(
    `SELECT ${LEVEL_OF} AS level, ${KEY_OF} AS key, count(*)::int AS n
       FROM (${c.sql}) x
      WHERE ${secondaryUsePopulation('x.person_id::uuid')}
      GROUP BY GROUPING SETS ((x.practice), (x.neighbourhood), ())`,
    c.params,
  );
  return r.rows;
}

/**
 * A register's size on each of many dates (the month ends of a series), per practice,
 * neighbourhood and locality: ONE statement for all the dates (compileCohortSeries). The result
 * holds one list per date, in the order given; the same counts as registerCounts on each date.
 */
export async function registerCountsSeries(tx: Queryable, def: CohortDefinition, dates: string[], resolve: (n: string) => CohortDefinition | undefined): Promise<LevelCount[][]> {
  await ensureFlatTablesCurrent(tx); // the flat tables it reads, up to date (one index probe when they are)
  let c;
  try {
    c = compileCohortSeries(def, { dates, resolve });
  } catch (err) {
    if (err instanceof CohortCompileError) throw new SeriesError(`register ${def.name}: ${err.message}`);
    throw err;
  }
  const r = await tx.query<{ k: number; level: Level; key: string; n: number }>(
    `SELECT x.k, ${LEVEL_OF} AS level, ${KEY_OF} AS key, count(*)::int AS n
       FROM (${c.sql}) x
      WHERE ${secondaryUsePopulation('x.person_id::uuid')}
      GROUP BY GROUPING SETS ((x.k, x.practice), (x.k, x.neighbourhood), (x.k))`,
    c.params,
  );
  const out: LevelCount[][] = dates.map(() => []);
  for (const row of r.rows) out[Number(row.k) - 1]!.push({ level: row.level, key: row.key, n: Number(row.n) });
  // As registerCounts: the grand total is there even when no one is on the register that day.
  for (const counts of out) if (!counts.some((c) => c.level === 'locality')) counts.push({ level: 'locality', key: '', n: 0 });
  return out;
}

/** The people on a register on a date (secondary-use population), for cohort figures. */
export async function registerMembers(tx: Queryable, def: CohortDefinition, asOf: string, resolve: (n: string) => CohortDefinition | undefined): Promise<string[]> {
  await ensureFlatTablesCurrent(tx); // the flat tables it reads, up to date (one index probe when they are)
  const c = compile(def, asOf, resolve);
  const r = await tx.query<{ person_id: string }>(`SELECT x.person_id FROM (${c.sql}) x WHERE ${secondaryUsePopulation('x.person_id::uuid')}`, c.params);
  return r.rows.map((x) => x.person_id);
}

// Each active person's latest GP registration and its practice's neighbourhood (as the cohort
// compiler's base), limited to the people secondary use may count.
// The registered population from analytics/'s flat table (migration 0050: each active person's latest GP
// registration, brought up to date by ensureFlatTablesCurrent and analysed after each rebuild), not the
// DISTINCT ON over source_identity it holds the result of: on a freshly loaded store the planner
// estimated that at a handful of people and looped everyone against everyone.
const REGISTERED = `registered AS (
  SELECT a.person_id, a.practice FROM analytics_person a
), pop AS (
  SELECT g.person_id, g.practice, pr.neighbourhood FROM registered g LEFT JOIN practice pr ON pr.ods_code = g.practice
   WHERE ${secondaryUsePopulation('g.person_id')}
)`;

/** The registered population today, per practice, neighbourhood and locality (the denominator of a rate per N people). */
export async function registeredPopulation(tx: Queryable): Promise<LevelCount[]> {
  await ensureFlatTablesCurrent(tx); // analytics_person, up to date (one index probe when it is)
  const r = await tx.query<LevelCount>(`WITH ${REGISTERED}
SELECT ${LEVEL_OF} AS level, ${KEY_OF} AS key, count(*)::int AS n FROM pop x GROUP BY GROUPING SETS ((x.practice), (x.neighbourhood), ())`);
  return r.rows;
}

/**
 * Encounters of a kind in each month from start to asOf (YYYY-MM-DD), per practice,
 * neighbourhood and locality, of the people given (a register's members) or of everyone registered.
 */
export async function activityCounts(tx: Queryable, s: Extract<SeriesDefinition, { activity: string }>, start: string, asOf: string, members: string[] | null): Promise<MonthCount[]> {
  await ensureFlatTablesCurrent(tx); // the flat tables it reads, up to date (one index probe when they are)
  const params: unknown[] = [];
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  // Over analytics/'s flat encounter table (migration 0044; the caller brings it up to date).
  const day = 'r.start_date';
  const where = [
    "r.resource_type = 'Encounter'",
    `COALESCE(r.status, 'finished') NOT IN ('cancelled', 'entered-in-error', 'planned')`,
    ENCOUNTER_SQL[s.activity],
    `${day} ~ '^\\d{4}-\\d{2}-\\d{2}$'`,
    `${day} >= ${bind(start)}`,
    `${day} <= ${bind(asOf)}`,
  ];
  if (s.serviceTypes) where.push(`r.service_type_codes && ${bind(s.serviceTypes)}::text[]`);
  const only = members ? `WHERE person_id = ANY(${bind(members)}::uuid[])` : '';
  const r = await tx.query<MonthCount>(
    `WITH ${REGISTERED}, people AS (SELECT * FROM pop ${only}),
ev AS (
  SELECT r.person_id, left(${day}, 7) AS month FROM analytics_encounter r JOIN people p ON p.person_id = r.person_id WHERE ${where.join(' AND ')}
)
SELECT x.month, ${LEVEL_OF} AS level, ${KEY_OF} AS key, count(*)::int AS n
  FROM (SELECT ev.month, p.practice, p.neighbourhood FROM ev JOIN people p ON p.person_id = ev.person_id) x
 GROUP BY GROUPING SETS ((x.month, x.practice), (x.month, x.neighbourhood), (x.month))`,
    params,
  );
  return r.rows;
}
