// Use and cost of care by month, per practice, neighbourhood, setting or (pseudonymised) person,
// costed from the tariff (tariff.csv) with each source's setting from sources.csv, over analytics/'s
// flat tables (analytics_encounter, analytics_coded_entry, analytics_person). One query,
// grouped by person first (each person's activity is classified and costed from their own rows —
// the first outpatient attendance per service is a window over the person's own history — before
// anything is summed across people), so on Citus with the flat tables distributed by
// person_id the classification runs on every node and only the monthly sums travel.
// Secondary use: people with a national data opt-out and restricted people are left out, and every
// figure is disclosure-controlled (activity and people under 8 suppressed, others rounded to 5).
import type { Queryable } from '../../db/database.ts';
import { appendAuditBatch } from '../../access/audit.ts';
import { forbidden, invalid, type RequestContext } from '../../access/context.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import { compileCohort, CohortCompileError } from '../cohorts/compile.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import type { CohortDefinition } from '../cohorts/definition.ts';
import { pseudonymFor, pseudonymKey } from '../cohorts/pseudonym.ts';
import { controlledTotal, disclosureControl, type ControlledCount } from '../cohorts/sdc.ts';
import { ACTIVITIES, type Setting, type SourceSetting, type TariffRow } from './tariff.ts';

export const GROUPINGS = ['practice', 'neighbourhood', 'setting', 'person'] as const;
export type Grouping = (typeof GROUPINGS)[number];

export interface SourceFreshness {
  source: string;
  setting: Setting | null;
  /** When Bevan last received anything from the source. */
  lastReceived: string | null;
  /** The latest activity date the source has reported. */
  latestActivity: string | null;
}

export interface ReportRow {
  month: string;
  /** Practice ODS code, neighbourhood code, setting, or a person's pseudonym. */
  key: string | null;
  people: ControlledCount;
  activity: Record<string, ControlledCount>;
  costGbp: number | null;
  /** The freshness of the sources behind this figure. */
  freshness: SourceFreshness[];
}

export interface ShiftRow {
  month: string;
  hospital: ControlledCount;
  outOfHospital: ControlledCount;
  /** Community, primary care, mental health and social care contacts as a share of all contacts (from exact counts). */
  outOfHospitalShare: number | null;
}

export interface CommissioningReport {
  by: Grouping;
  months: string[];
  asOf: string;
  cohort: string | null;
  disclosureControl: boolean;
  rows: ReportRow[];
  shift: ShiftRow[];
  freshness: SourceFreshness[];
  tariff: TariffRow[];
  seconds: number;
}

export interface ReportOptions {
  by: Grouping;
  months: number;
  asOf?: string;
  tariff: TariffRow[];
  sources: SourceSetting[];
  cohort?: CohortDefinition;
  resolve?: (name: string) => CohortDefinition | undefined;
  policy?: Policy | null;
  now?: Date;
}

/** The months (YYYY-MM) of the N months ending with asOf's month. */
export function monthsEnding(asOf: string, n: number): string[] {
  const d = new Date(`${asOf.slice(0, 7)}-01T00:00:00Z`);
  const out: string[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const m = new Date(d);
    m.setUTCMonth(m.getUTCMonth() - i);
    out.push(m.toISOString().slice(0, 7));
  }
  return out;
}

/** The report for an analyst (secondary use, as the access policy's cohort rule allows). */
export async function commissioningReport(ctx: RequestContext, opts: ReportOptions): Promise<CommissioningReport> {
  const started = performance.now();
  const now = opts.now ?? new Date();
  const asOf = opts.asOf ?? now.toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf)) throw invalid(`--as-of must be a date YYYY-MM-DD, got "${asOf}"`);
  if (!Number.isInteger(opts.months) || opts.months < 1 || opts.months > 120) throw invalid(`months must be a whole number from 1 to 120, got ${opts.months}`);
  if (!(GROUPINGS as readonly string[]).includes(opts.by)) throw invalid(`--by must be one of ${GROUPINGS.join(', ')}`);
  const policy = opts.policy === undefined ? currentPolicy() : opts.policy;
  const decision = decide(policy, { action: 'cohort', principal: ctx.principal, purpose: ctx.purpose, cohort: { practice: null }, now });
  const audit = (e: Record<string, unknown>) => ({ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action: 'commissioning.report', ...e });
  // Aggregates across practices are secondary use: the rule that gives disclosure-controlled figures.
  if (decision.kind === 'deny' || !decision.obligations.cohort?.disclosureControl) {
    const reason = decision.kind === 'deny' ? decision.reason : 'the commissioning report is secondary use (aggregate figures under disclosure control): an analyst role';
    await ctx.db.transaction((tx) => appendAuditBatch(tx, [audit({ decision: 'deny', reason })], now));
    throw forbidden(reason);
  }
  const months = monthsEnding(asOf, opts.months);
  const params: unknown[] = [];
  let cohortFilter = '';
  if (opts.cohort) {
    try {
      const c = compileCohort(opts.cohort, { asOf, resolve: opts.resolve });
      params.push(...c.params);
      cohortFilter = `AND g.person_id IN (SELECT c.person_id::uuid FROM (${c.sql}) c)`;
    } catch (err) {
      if (err instanceof CohortCompileError) throw invalid(`cohort ${opts.cohort.name}: ${err.message}`);
      throw err;
    }
  }
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  const ctes = activityCtes(bind, { sources: opts.sources, start: `${months[0]}-01`, asOf, cohortFilter });
  const pActs = bind(opts.tariff.map((t) => t.activity));
  const pPrices = bind(opts.tariff.map((t) => t.priceGbp));
  const groupKey = opts.by === 'practice' ? 'p.practice' : opts.by === 'neighbourhood' ? 'p.neighbourhood' : opts.by === 'setting' ? 'a.setting' : 'a.person_id::text';
  const sql = `${ctes.sql}
SELECT to_char(a.day, 'YYYY-MM') AS month, ${groupKey} AS key, a.activity, a.setting,
       count(DISTINCT a.person_id)::int AS people, sum(a.quantity)::float8 AS quantity,
       COALESCE(sum(a.quantity) FILTER (WHERE a.activity <> 'social-care-hour'), 0)::float8 AS contacts,
       sum(a.quantity * t.price)::float8 AS cost, array_agg(DISTINCT a.source_system) AS sources,
       GROUPING(${groupKey})::int AS g_key, GROUPING(a.activity)::int AS g_act
  FROM activity a
  JOIN people p ON p.person_id = a.person_id
  JOIN unnest(${pActs}::text[], ${pPrices}::float8[]) AS t(activity, price) ON t.activity = a.activity
 WHERE a.day >= ${ctes.start}::date AND a.day <= ${ctes.asOf}::date
 GROUP BY GROUPING SETS ((to_char(a.day, 'YYYY-MM'), ${groupKey}, a.activity), (to_char(a.day, 'YYYY-MM'), ${groupKey})${opts.by === 'setting' ? '' : ", (to_char(a.day, 'YYYY-MM'), a.setting)"})
 ORDER BY 1, 2, 3`;
  return ctx.db.transaction(async (tx) => {
    // The activity, the registered population and a cohort's criteria read analytics/'s flat
    // tables: what was loaded since their last refresh first.
    await ensureFlatTablesCurrent(tx);
    type Out = { month: string; key: string | null; activity: string | null; setting: string | null; people: number; quantity: number; contacts: number; cost: number; sources: string[]; g_key: number; g_act: number };
    const r = await tx.query<Out>(sql, params);
    const freshness = await sourceFreshness(tx, opts.sources);
    const fresh = new Map(freshness.map((f) => [f.source, f]));
    const key = opts.by === 'person' ? await pseudonymKey(tx) : null;
    const rows = new Map<string, ReportRow>();
    const contacts = new Map<string, { hospital: number; out: number }>();
    const rowFor = (x: Out) => {
      const id = `${x.month}|${x.key}`;
      const row = rows.get(id) ?? { month: x.month, key: opts.by === 'person' && x.key && key ? pseudonymFor(key, x.key) : x.key, people: 0, activity: {}, costGbp: 0, freshness: [] };
      rows.set(id, row);
      return row;
    };
    for (const x of r.rows) {
      // Grouping sets: (month, key, activity) → one activity's figure; (month, key) → the row's
      // people, cost and sources; (month, setting) → contacts for the hospital-to-community shift
      // (when grouping by setting the second set is that one, read both ways).
      const perSetting = opts.by === 'setting' ? x.g_act === 1 : x.g_key === 1;
      if (perSetting) {
        const c = contacts.get(x.month) ?? { hospital: 0, out: 0 };
        if (x.setting === 'hospital') c.hospital += x.contacts;
        else c.out += x.contacts;
        contacts.set(x.month, c);
      }
      if (x.g_key === 1) continue;
      const row = rowFor(x);
      if (x.g_act === 1) {
        row.people = disclosureControl(x.people);
        row.costGbp = controlledTotal(x.cost, x.people);
        row.freshness = x.sources.sort().map((s) => fresh.get(s) ?? { source: s, setting: null, lastReceived: null, latestActivity: null });
      } else if (x.activity) {
        // An activity done for fewer than 8 people is suppressed whatever its volume.
        row.activity[x.activity] = x.people > 0 && x.people < 8 ? null : disclosureControl(Math.round(x.quantity));
      }
    }
    const shift: ShiftRow[] = months.map((m) => {
      const c = contacts.get(m) ?? { hospital: 0, out: 0 };
      const all = c.hospital + c.out;
      return { month: m, hospital: disclosureControl(Math.round(c.hospital)), outOfHospital: disclosureControl(Math.round(c.out)), outOfHospitalShare: all ? Math.round((c.out / all) * 1000) / 1000 : null };
    });
    const report: CommissioningReport = {
      by: opts.by,
      months,
      asOf,
      cohort: opts.cohort?.name ?? null,
      disclosureControl: true,
      rows: [...rows.values()].sort((a, b) => a.month.localeCompare(b.month) || String(a.key).localeCompare(String(b.key))),
      shift,
      freshness,
      tariff: opts.tariff,
      seconds: 0,
    };
    report.seconds = Math.round(performance.now() - started) / 1000;
    await appendAuditBatch(tx, [audit({ decision: 'permit', reason: decision.reason, detail: { by: opts.by, months: opts.months, asOf, cohort: report.cohort, rows: report.rows.length } })], now);
    return report;
  });
}

/**
 * The people secondary use may count (a SQL condition on a person id column): not those with a
 * national data opt-out, nor restricted people, nor people with a restricted source identity. The
 * same rule as the access policy's per-person secondary-use decision, as one set-based test.
 */
export function secondaryUsePopulation(col: string): string {
  return `${col} NOT IN (SELECT person_id FROM consent_directive WHERE kind = 'national-data-opt-out' AND withdrawn_at IS NULL)
     AND ${col} NOT IN (SELECT person_id FROM person_restriction)
     AND ${col} NOT IN (SELECT si.person_id FROM source_identity si JOIN source_restriction sr ON sr.source_system = si.source_system AND sr.source_id = si.source_id AND sr.lifted_at IS NULL)`;
}

/**
 * The common table expressions that classify each person's activity (CTE `activity`: person_id,
 * source_system, setting, day, quantity, activity) over the secondary-use population (CTE `people`:
 * person_id, practice, neighbourhood; opted-out and restricted people left out), from `start` to
 * `asOf`; shared by the report and the dashboards' summary (analytics/dashboards/refresh.ts).
 * Returns the SQL text (starting WITH RECURSIVE) and the placeholders of the two dates.
 *
 * Read from analytics/'s flat tables (analytics/flat/refresh.ts; the caller brings them up to
 * date first): encounters and social care packages from analytics_encounter, social care
 * assessments (Procedures) from analytics_coded_entry, the registered population from
 * analytics_person. The same figures as the statement over the stored JSON it replaced
 * (activity-json.ts, compared in report-flat.int.test.ts), with one difference by design: a
 * Procedure's day is its performedDateTime, else performedPeriod.start (the flat table's
 * entry_date), where the JSON statement read performedDateTime only.
 */
export function activityCtes(bind: (v: unknown) => string, o: { sources: SourceSetting[]; start: string; asOf: string; cohortFilter?: string }): { sql: string; start: string; asOf: string } {
  const pPatterns = bind(o.sources.map((s) => s.pattern));
  const pSettings = bind(o.sources.map((s) => s.setting));
  const pStart = bind(o.start);
  const pAsOf = bind(o.asOf);
  const dateOk = (x: string) => `CASE WHEN ${x} ~ '^\\d{4}-\\d{2}-\\d{2}' THEN ${x}::date END`;
  // A cohort's people are few: its activity is found person by person. The whole population's is
  // read in one pass and joined to the people at the end.
  const restrict = (x: string) => (o.cohortFilter ? ` AND ${x}.person_id IN (SELECT person_id FROM people)` : '');
  const live = (x: string) => `COALESCE(${x}.status, 'finished') NOT IN ('cancelled', 'entered-in-error', 'planned')`;
  // The source systems, found by a skip scan of each table's primary key (source_system leads it):
  // one index probe per source instead of reading every row, then each source's setting once
  // (sources.csv's first matching pattern), instead of once per row.
  const distinctSources = (table: string, n: string) => `${n}(s) AS (
  SELECT min(source_system) FROM ${table}
  UNION ALL SELECT (SELECT min(t.source_system) FROM ${table} t WHERE t.source_system > ${n}.s) FROM ${n} WHERE ${n}.s IS NOT NULL
)`;
  const sql = `WITH RECURSIVE ${distinctSources('analytics_encounter', 'encounter_sources')}, ${distinctSources('analytics_coded_entry', 'entry_sources')}, source_settings AS (
  SELECT x.s AS source_system,
         (SELECT st.setting FROM unnest(${pPatterns}::text[], ${pSettings}::text[]) WITH ORDINALITY AS st(pattern, setting, ord) WHERE x.s LIKE st.pattern ORDER BY st.ord LIMIT 1) AS setting
    FROM (SELECT s FROM encounter_sources UNION SELECT s FROM entry_sources) x WHERE x.s IS NOT NULL
), people AS (
  SELECT g.person_id, g.practice, pr.neighbourhood FROM analytics_person g LEFT JOIN practice pr ON pr.ods_code = g.practice
   WHERE ${secondaryUsePopulation('g.person_id')}
     ${o.cohortFilter ?? ''}
), classified AS (
  -- Encounters other than outpatient attendances, from start to asOf.
  SELECT e.person_id, e.source_system, ss.setting, ${dateOk('e.start_date')} AS day, 1::numeric AS quantity,
         CASE
           WHEN ss.setting = 'hospital' AND e.class_code = 'EMER' THEN 'ae-attendance'
           WHEN ss.setting = 'hospital' AND e.class_code = 'IMP' AND e.emergency THEN 'emergency-admission'
           WHEN ss.setting = 'hospital' AND e.class_code = 'IMP' THEN 'elective-admission'
           WHEN ss.setting = 'mental health' AND e.class_code = 'IMP' THEN 'mental-health-admission'
           WHEN ss.setting = 'mental health' THEN 'mental-health-contact'
           WHEN ss.setting = 'community' THEN 'community-contact'
           WHEN ss.setting = 'primary care' THEN 'gp-consultation'
         END AS activity
    FROM analytics_encounter e JOIN source_settings ss ON ss.source_system = e.source_system
   WHERE e.resource_type = 'Encounter' AND e.person_id IS NOT NULL${restrict('e')} AND ${live('e')}
     AND e.start_date >= ${pStart} AND e.start_date <= ${pAsOf}
     AND NOT (ss.setting = 'hospital' AND e.class_code IS NOT DISTINCT FROM 'AMB')
  UNION ALL
  -- Hospital outpatient attendances: the first per person and service is a first attendance, so
  -- each person's whole history up to asOf is ranked (the rows before start are dropped later).
  SELECT o.person_id, o.source_system, 'hospital', o.day, 1::numeric,
         CASE WHEN row_number() OVER (PARTITION BY o.person_id, o.service ORDER BY o.day) = 1 THEN 'outpatient-first' ELSE 'outpatient-follow-up' END
    FROM (SELECT e.person_id, e.source_system, e.service, ${dateOk('e.start_date')} AS day
            FROM analytics_encounter e JOIN source_settings ss ON ss.source_system = e.source_system AND ss.setting = 'hospital'
           WHERE e.resource_type = 'Encounter' AND e.class_code = 'AMB' AND e.person_id IS NOT NULL${restrict('e')} AND ${live('e')}
             AND e.start_date <= ${pAsOf}) o
   WHERE o.day IS NOT NULL
  UNION ALL
  -- Social care assessments.
  SELECT c.person_id, c.source_system, ss.setting, ${dateOk('c.entry_date')} AS day, 1::numeric, 'social-care-assessment'
    FROM analytics_coded_entry c JOIN source_settings ss ON ss.source_system = c.source_system AND ss.setting = 'social care'
   WHERE c.resource_type = 'Procedure' AND c.person_id IS NOT NULL${restrict('c')} AND ${live('c')}
     AND c.entry_date >= ${pStart} AND c.entry_date <= ${pAsOf}
), packages AS (
  SELECT e.person_id, e.source_system, ss.setting, ${dateOk('e.start_date')} AS starts,
         LEAST(COALESCE(${dateOk('e.end_date')}, ${pAsOf}::date), ${pAsOf}::date) AS ends, e.hours_per_week
    FROM analytics_encounter e JOIN source_settings ss ON ss.source_system = e.source_system AND ss.setting = 'social care'
   WHERE e.resource_type = 'EpisodeOfCare' AND e.person_id IS NOT NULL${restrict('e')} AND ${live('e')}
), care_hours AS (
  SELECT k.person_id, k.source_system, k.setting, m.month::date AS day,
         k.hours_per_week / 7 * ((LEAST(k.ends, (m.month + interval '1 month - 1 day')::date) - GREATEST(k.starts, m.month::date)) + 1) AS quantity,
         'social-care-hour' AS activity
    FROM packages k
    CROSS JOIN LATERAL generate_series(date_trunc('month', GREATEST(k.starts, ${pStart}::date)), date_trunc('month', k.ends), interval '1 month') AS m(month)
   WHERE k.starts IS NOT NULL AND k.hours_per_week IS NOT NULL AND k.ends >= k.starts
), activity AS (
  SELECT person_id, source_system, setting, day, quantity, activity FROM classified WHERE activity IS NOT NULL AND day IS NOT NULL
  UNION ALL
  SELECT person_id, source_system, setting, day, quantity, activity FROM care_hours
)`;
  return { sql, start: pStart, asOf: pAsOf };
}

/**
 * When each source last sent anything, and the latest activity it reported (of the resources that
 * belong to a person): analytics/flat/refresh.ts keeps a row per source (migration 0057), so the
 * caller brings the flat tables up to date first (ensureFlatTablesCurrent), as for every figure.
 */
export async function sourceFreshness(tx: Queryable, sources: SourceSetting[]): Promise<SourceFreshness[]> {
  const r = await tx.query<{ source_system: string; last_received: string | null; latest: string | null }>(
    `SELECT source_system, last_received::text AS last_received, latest_activity AS latest FROM analytics_source_freshness ORDER BY source_system`,
  );
  const settingOf = (s: string) => sources.find((x) => new RegExp(`^${x.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`).test(s))?.setting ?? null;
  return r.rows.map((x) => ({ source: x.source_system, setting: settingOf(x.source_system), lastReceived: x.last_received ? new Date(x.last_received).toISOString() : null, latestActivity: x.latest }));
}
