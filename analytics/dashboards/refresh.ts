// Rebuilds the dashboards' summary tables (migration 0032) from the store: every register's size
// at each month end, every measure's monthly series (analytics/spc/measures.json), and use and cost
// of care per month by practice, neighbourhood, setting, cohort and locality (the commissioning
// classification and tariff). One transaction: a dashboard reads either the old summary or the new,
// never half of each. Run by `bevan analytics refresh` and after each `bevan ingest`. Exact figures
// of the secondary-use population; disclosure control is applied when they are read (service.ts).
import { appendAuditBatch } from '../../access/audit.ts';
import { oneOffStatements, type Database, type Queryable } from '../../db/database.ts';
import type { CohortDefinition } from '../cohorts/definition.ts';
import { loadRegisters } from '../cohorts/registers.ts';
import { refreshFlatTables, vacuumFlatTables } from '../flat/refresh.ts';
import { activityCtes, sourceFreshness, type SourceFreshness } from '../commissioning/report.ts';
import { loadSources, loadTariff, type SourceSetting, type TariffRow } from '../commissioning/tariff.ts';
import { loadMeasures, type MeasureDefinition } from '../spc/measures.ts';
import { activityCounts, monthEnds, registerCountsSeries, registeredPopulation, registerMembers, SeriesError, type LevelCount } from './series.ts';

export const DEFAULT_MONTHS = 24;

export interface RefreshOptions {
  asOf?: string;
  months?: number;
  registers?: Map<string, CohortDefinition>;
  measures?: MeasureDefinition[];
  tariff?: TariffRow[];
  sources?: SourceSetting[];
  /** Who asked (for the audit log): a user, or the command that ran it. */
  actor?: string;
  now?: Date;
}

export interface RefreshResult {
  asOf: string;
  months: number;
  registers: number;
  measures: number;
  measureRows: number;
  useRows: number;
  seconds: { flat: number; measures: number; use: number; total: number };
}

interface MeasureRow {
  series: string;
  level: string;
  key: string;
  month: string;
  numerator: number;
  denominator: number | null;
}

/** Rebuilds both summaries for the N months ending with asOf (default: today, 24 months). */
export async function refreshDashboards(db: Database, opts: RefreshOptions = {}): Promise<RefreshResult> {
  const t0 = performance.now();
  const now = opts.now ?? new Date();
  const asOf = opts.asOf ?? now.toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf) || Number.isNaN(Date.parse(asOf))) throw new SeriesError(`as-of must be a date YYYY-MM-DD, got "${asOf}"`);
  const months = opts.months ?? DEFAULT_MONTHS;
  if (!Number.isInteger(months) || months < 1 || months > 120) throw new SeriesError(`months must be a whole number from 1 to 120, got ${months}`);
  const registers = opts.registers ?? loadRegisters();
  const measures = opts.measures ?? loadMeasures();
  const tariff = opts.tariff ?? loadTariff();
  const sources = opts.sources ?? loadSources();
  const resolve = (n: string) => registers.get(n);
  for (const m of measures) {
    const s = m.series;
    if (!s) continue;
    for (const name of [s.register, 'of' in s ? s.of : undefined]) if (name && !registers.has(name)) throw new SeriesError(`measure ${m.id}: no register "${name}"`);
  }
  const ends = monthEnds(asOf, months);
  const start = `${ends[0]!.month}-01`;
  // The register counts are read first, two at once on a PostgreSQL server (ONE statement per
  // register covering every month end: compileCohortSeries); everything else, and every write, in
  // one transaction.
  // The flat tables the registers and activity series read (analytics/flat/), first: what was loaded since their last refresh.
  const flat = await refreshFlatTables(db);
  if (flat.encounters + flat.codedEntries + flat.people > 0) await vacuumFlatTables(db);
  const population = await registeredPopulation(db);
  const sizes = new Map<string, Map<string, LevelCount[]>>();
  const rows: MeasureRow[] = [];
  const defs = [...registers.values()];
  // Each in a transaction of its own, for its settings: plans made for its values, no JIT (db/database.ts oneOffStatements).
  const counted = await mapLimit(defs, 2, (def) =>
    db.transaction(async (tx) => {
      await oneOffStatements(tx);
      return registerCountsSeries(tx, def, ends.map((e) => e.end), resolve);
    }),
  );
  for (const [i, def] of defs.entries()) {
    const byMonth = new Map<string, LevelCount[]>();
    sizes.set(def.name, byMonth);
    for (const [j, e] of ends.entries()) {
      const counts = counted[i]![j]!;
      byMonth.set(e.month, counts);
      const got = new Map(counts.map((c) => [`${c.level}|${c.key}`, c.n]));
      for (const p of population) rows.push({ series: `register:${def.name}`, level: p.level, key: p.key, month: e.month, numerator: got.get(`${p.level}|${p.key}`) ?? 0, denominator: null });
    }
  }
  return db.transaction(async (tx) => {
    await oneOffStatements(tx);
    // Measures.
    let measured = 0;
    for (const m of measures) {
      const s = m.series;
      if (!s) continue;
      measured++;
      if ('activity' in s) {
        const members = s.register ? await registerMembers(tx, registers.get(s.register)!, asOf, resolve) : null;
        const counts = await activityCounts(tx, s, start, asOf, members);
        const got = new Map(counts.map((c) => [`${c.month}|${c.level}|${c.key}`, c.n]));
        // Every month and place with people gets a row: a month with no encounters is a zero, not a gap.
        for (const p of population) {
          for (const e of ends) rows.push({ series: m.id, level: p.level, key: p.key, month: e.month, numerator: got.get(`${e.month}|${p.level}|${p.key}`) ?? 0, denominator: s.per ? p.n : null });
        }
      } else {
        const num = sizes.get(s.register)!;
        const den = s.of ? sizes.get(s.of)! : null;
        for (const e of ends) {
          const n = new Map((num.get(e.month) ?? []).map((c) => [`${c.level}|${c.key}`, c.n]));
          const d = den ? new Map((den.get(e.month) ?? []).map((c) => [`${c.level}|${c.key}`, c.n])) : null;
          for (const p of population) {
            const k = `${p.level}|${p.key}`;
            rows.push({ series: m.id, level: p.level, key: p.key, month: e.month, numerator: n.get(k) ?? 0, denominator: d ? (d.get(k) ?? 0) : null });
          }
        }
      }
    }
    await tx.query('DELETE FROM analytics_measure_month');
    await insertMeasureRows(tx, rows);
    const t1 = performance.now();
    await tx.query(
      `INSERT INTO analytics_refresh (summary, as_of, months, refreshed_at, seconds, detail) VALUES ('measures', $1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (summary) DO UPDATE SET as_of = EXCLUDED.as_of, months = EXCLUDED.months, refreshed_at = EXCLUDED.refreshed_at, seconds = EXCLUDED.seconds, detail = EXCLUDED.detail`,
      [asOf, months, now.toISOString(), (t1 - t0) / 1000, JSON.stringify({ registers: registers.size, measures: measured })],
    );
    // Use and cost.
    const members: { cohort: string; id: string }[] = [];
    for (const [name, byMonth] of sizes) {
      if (!(byMonth.get(ends.at(-1)!.month) ?? []).some((c) => c.level === 'locality' && c.n > 0)) continue;
      for (const id of await registerMembers(tx, registers.get(name)!, asOf, resolve)) members.push({ cohort: name, id });
    }
    const useRows = await refreshUse(tx, { start, asOf, tariff, sources, members });
    const freshness = await sourceFreshness(tx, sources);
    // The locality's places, named on the dashboards (the practice and neighbourhood reference data).
    const places = await tx.query<{ level: string; code: string; name: string | null; neighbourhood: string | null }>(
      `SELECT 'neighbourhood' AS level, code, name, NULL::text AS neighbourhood FROM neighbourhood
       UNION ALL SELECT 'practice', ods_code, name, neighbourhood FROM practice ORDER BY 1, 2`,
    );
    const t2 = performance.now();
    await tx.query(
      `INSERT INTO analytics_refresh (summary, as_of, months, refreshed_at, seconds, detail) VALUES ('use', $1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (summary) DO UPDATE SET as_of = EXCLUDED.as_of, months = EXCLUDED.months, refreshed_at = EXCLUDED.refreshed_at, seconds = EXCLUDED.seconds, detail = EXCLUDED.detail`,
      [asOf, months, now.toISOString(), (t2 - t1) / 1000, JSON.stringify({ sources: freshness satisfies SourceFreshness[], tariff, places: places.rows })],
    );
    await appendAuditBatch(tx, [{ actor: opts.actor ?? 'bevan analytics refresh', action: 'analytics.refresh', purpose: 'secondary-use', detail: { asOf, months, registers: registers.size, measures: measured, measureRows: rows.length, useRows } }], now);
    const r = (x: number) => Math.round(x) / 1000;
    return { asOf, months, registers: registers.size, measures: measured, measureRows: rows.length, useRows, seconds: { flat: r(flat.seconds * 1000), measures: r(t1 - t0), use: r(t2 - t1), total: r(performance.now() - t0) } };
  });
}

async function insertMeasureRows(tx: Queryable, rows: MeasureRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 5000) {
    const b = rows.slice(i, i + 5000);
    await tx.query(
      `INSERT INTO analytics_measure_month (series, level, key, month, numerator, denominator)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])`,
      [b.map((x) => x.series), b.map((x) => x.level), b.map((x) => x.key), b.map((x) => x.month), b.map((x) => x.numerator), b.map((x) => x.denominator)],
    );
  }
}

/**
 * Use and cost per month: the commissioning classification (activityCtes) costed from the tariff,
 * summed per practice, neighbourhood, setting and locality (each with and without the activity),
 * and per cohort (the people on each register today). Replaces analytics_use_month.
 */
async function refreshUse(tx: Queryable, o: { start: string; asOf: string; tariff: TariffRow[]; sources: SourceSetting[]; members: { cohort: string; id: string }[] }): Promise<number> {
  const params: unknown[] = [];
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  const ctes = activityCtes(bind, { sources: o.sources, start: o.start, asOf: o.asOf });
  const pActs = bind(o.tariff.map((t) => t.activity));
  const pPrices = bind(o.tariff.map((t) => t.priceGbp));
  const pCohorts = bind(o.members.map((m) => m.cohort));
  const pIds = bind(o.members.map((m) => m.id));
  const aggregates = `count(DISTINCT c.person_id)::int AS people, sum(c.quantity)::float8 AS quantity,
       COALESCE(sum(c.quantity) FILTER (WHERE c.activity <> 'social-care-hour'), 0)::float8 AS contacts,
       sum(c.cost)::float8 AS cost_gbp, array_agg(DISTINCT c.source_system ORDER BY c.source_system) AS sources`;
  const sql = `${ctes.sql}, costed AS (
  SELECT to_char(a.day, 'YYYY-MM') AS month, a.person_id, a.activity, a.setting, a.source_system, a.quantity, a.quantity * t.price AS cost,
         COALESCE(p.practice, '') AS practice, COALESCE(p.neighbourhood, '') AS neighbourhood
    FROM activity a
    JOIN people p ON p.person_id = a.person_id
    JOIN unnest(${pActs}::text[], ${pPrices}::float8[]) AS t(activity, price) ON t.activity = a.activity
   WHERE a.day >= ${ctes.start}::date AND a.day <= ${ctes.asOf}::date
), members AS (
  SELECT m.cohort, m.person_id FROM unnest(${pCohorts}::text[], ${pIds}::uuid[]) AS m(cohort, person_id)
)
SELECT c.month,
       CASE WHEN GROUPING(c.practice) = 0 THEN 'practice' WHEN GROUPING(c.neighbourhood) = 0 THEN 'neighbourhood' WHEN GROUPING(c.setting) = 0 THEN 'setting' ELSE 'locality' END AS level,
       CASE WHEN GROUPING(c.practice) = 0 THEN c.practice WHEN GROUPING(c.neighbourhood) = 0 THEN c.neighbourhood WHEN GROUPING(c.setting) = 0 THEN c.setting ELSE '' END AS key,
       CASE WHEN GROUPING(c.activity) = 0 THEN c.activity ELSE '' END AS activity,
       ${aggregates}
  FROM costed c
 GROUP BY GROUPING SETS ((c.month, c.practice, c.activity), (c.month, c.practice), (c.month, c.neighbourhood, c.activity), (c.month, c.neighbourhood),
                         (c.month, c.setting, c.activity), (c.month, c.setting), (c.month, c.activity), (c.month))
UNION ALL
SELECT c.month, 'cohort' AS level, m.cohort AS key, CASE WHEN GROUPING(c.activity) = 0 THEN c.activity ELSE '' END AS activity, ${aggregates}
  FROM costed c JOIN members m ON m.person_id = c.person_id
 GROUP BY GROUPING SETS ((c.month, m.cohort, c.activity), (c.month, m.cohort))`;
  await tx.query('DELETE FROM analytics_use_month');
  const r = await tx.query<{ count: number }>(
    `WITH ins AS (INSERT INTO analytics_use_month (month, level, key, activity, people, quantity, contacts, cost_gbp, sources) SELECT * FROM (${sql}) s RETURNING 1) SELECT count(*)::int AS count FROM ins`,
    params,
  );
  return r.rows[0]!.count;
}

/** Runs fn over the items, at most `limit` at a time, keeping their order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
