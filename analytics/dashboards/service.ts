// The dashboards' use cases, read from the summary tables (refresh.ts, migration 0032): a clinical
// panel's registers, measures (SPC charts) and aims; one measure's chart; every aim; and use and
// cost of care by month for commissioners. The access policy decides first (action `cohort`): a GP
// or practice nurse sees their own practice's figures, exact (direct care); an analyst sees any
// practice, neighbourhood or the locality, every count under disclosure control (1–7 suppressed,
// others rounded to 5) and every rate suppressed when its count is; everyone else is refused, and
// the refusal audited. The figures are aggregates of the secondary-use population (no person can
// be reached from them; the drill-down to people is GET /analytics/cohorts, decided and audited
// person by person). Every figure carries the freshness of the data behind it: when the summary was
// built and, for each source, its latest message (ingest/feed-freshness.ts) and latest activity.
import { appendAuditBatch } from '../../access/audit.ts';
import { forbidden, invalid, notFound, type RequestContext } from '../../access/context.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import type { Queryable } from '../../db/database.ts';
import { feedFreshness } from '../../ingest/feed-freshness.ts';
import type { CohortDefinition } from '../cohorts/definition.ts';
import { loadRegisters } from '../cohorts/registers.ts';
import { controlledTotal, disclosureControl, SUPPRESS_BELOW } from '../cohorts/sdc.ts';
import type { SourceFreshness } from '../commissioning/report.ts';
import type { TariffRow } from '../commissioning/tariff.ts';
import { chartMeasure, loadMeasures, type MeasureDefinition } from '../spc/measures.ts';
import type { XmrChart } from '../spc/xmr.ts';
import { trackAim, type AimProgress } from './aims.ts';
import type { Level } from './series.ts';

/** A source behind a figure: its setting, when Bevan last heard from it, and the latest activity it reported. */
export interface SourceFresh {
  source: string;
  setting: string | null;
  lastMessageAt: string | null;
  latestActivity: string | null;
}

/** The freshness every figure carries. */
export interface Freshness {
  /** When the summary the figure comes from was built (null: never; run `bevan analytics refresh`). */
  refreshedAt: string | null;
  /** The last day the summary counts. */
  asOf: string | null;
  sources: SourceFresh[];
}

/** The freshness a single figure carries: the summary's time, the sources behind it (details in the answer's `freshness`), the oldest of their last messages. */
export interface FigureFreshness {
  refreshedAt: string | null;
  asOf: string | null;
  sources: string[];
  /** The least recent of the sources' last messages: the figure is at least as fresh as this. */
  oldestLastMessageAt: string | null;
}

export interface Place {
  level: Level;
  key: string;
  name: string;
}

export interface SeriesPoint {
  month: string;
  /** The measure's value (a count, a percentage or a rate); null when suppressed under disclosure control. */
  value: number | null;
  numerator: number | null;
  denominator: number | null;
}

export interface MeasureView {
  measure: MeasureDefinition;
  place: Place;
  disclosureControl: boolean;
  points: SeriesPoint[];
  /** The XmR chart of the months with a value (null with fewer than two). */
  chart: (XmrChart & { measure: MeasureDefinition }) | null;
  aim: AimProgress | null;
  freshness: FigureFreshness;
}

export interface RegisterView {
  name: string;
  title: string;
  panel: string;
  description: string | null;
  /** People on the register at the latest month end (controlled for secondary use). */
  count: number | null;
  /** The last 13 month ends (a year back and this month), oldest first. */
  trend: { month: string; count: number | null }[];
  /** The register's people: GET /analytics/cohorts/{name} (the policy decides what is shown). */
  drillDown: string;
}

export interface PanelDashboard {
  panel: string;
  title: string;
  place: Place;
  disclosureControl: boolean;
  registers: RegisterView[];
  measures: MeasureView[];
  freshness: Freshness;
}

export const COMMISSIONING_GROUPINGS = ['locality', 'practice', 'neighbourhood', 'setting', 'cohort'] as const;
export type CommissioningGrouping = (typeof COMMISSIONING_GROUPINGS)[number];

export interface UseRow {
  month: string;
  key: string;
  name: string;
  people: number | null;
  costGbp: number | null;
  activity: Record<string, number | null>;
  /** For a cohort row: its people (GET /analytics/cohorts/{name}). */
  drillDown: string | null;
  freshness: FigureFreshness;
}

export interface CommissioningDashboard {
  by: CommissioningGrouping;
  from: string;
  to: string;
  months: string[];
  disclosureControl: true;
  rows: UseRow[];
  /** Contacts in hospital and out of it (community, primary care, mental health, social care) per month. */
  shift: { month: string; hospital: number | null; outOfHospital: number | null; outOfHospitalShare: number | null }[];
  tariff: TariffRow[];
  freshness: Freshness;
}

export interface DashboardOptions {
  practice?: string | null;
  neighbourhood?: string | null;
  policy?: Policy | null;
  registers?: Map<string, CohortDefinition>;
  measures?: MeasureDefinition[];
  now?: Date;
}

/** A panel's URL name: "end of life" → "end-of-life", "ENT" → "ent". */
export const panelSlug = (panel: string) => panel.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

let shipped: { registers: Map<string, CohortDefinition>; measures: MeasureDefinition[] } | undefined;
function definitions(o: DashboardOptions) {
  shipped ??= { registers: loadRegisters(), measures: loadMeasures() };
  return { registers: o.registers ?? shipped.registers, measures: o.measures ?? shipped.measures };
}

/** The panels: every panel a register or a measure names. */
export function panels(o: Pick<DashboardOptions, 'registers' | 'measures'> = {}): { panel: string; title: string }[] {
  const { registers, measures } = definitions(o);
  const names = new Map<string, string>();
  for (const x of [...registers.values(), ...measures]) if (!names.has(panelSlug(x.panel))) names.set(panelSlug(x.panel), x.panel);
  return [...names].map(([panel, title]) => ({ panel, title })).sort((a, b) => a.title.localeCompare(b.title));
}

interface Scope {
  level: Level;
  key: string;
  control: boolean;
}

/** The policy's decision for aggregate figures at a place; a refusal is audited, then thrown. */
async function decideScope(ctx: RequestContext, action: string, o: DashboardOptions, requireSecondaryUse = false): Promise<Scope> {
  const now = o.now ?? new Date();
  const policy = o.policy === undefined ? currentPolicy() : o.policy;
  if (o.practice && o.neighbourhood) throw invalid('ask for a practice or a neighbourhood, not both');
  for (const [k, v] of [['practice', o.practice], ['neighbourhood', o.neighbourhood]] as const) if (v && !/^[A-Za-z0-9]{1,10}$/.test(v)) throw invalid(`${k} "${v}" is not a code`);
  const decision = decide(policy, { action: 'cohort', principal: ctx.principal, purpose: ctx.purpose, cohort: { practice: o.practice ?? null }, now });
  let reason = decision.kind === 'deny' ? decision.reason : null;
  const how = decision.kind === 'permit' ? decision.obligations.cohort : undefined;
  if (!reason && !how) reason = 'the policy gave no cohort obligations (fails closed)';
  if (!reason && how && requireSecondaryUse && !how.disclosureControl) reason = 'commissioning figures are secondary use (aggregate figures under disclosure control): an analyst role';
  if (!reason && how?.practice && o.neighbourhood) reason = `direct care: only the figures of ${how.practice}, not a neighbourhood's`;
  if (reason || !how) {
    const r = reason ?? 'denied';
    await ctx.db.transaction((tx) =>
      appendAuditBatch(tx, [{ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action, decision: 'deny', reason: r, detail: { practice: o.practice ?? null, neighbourhood: o.neighbourhood ?? null } }], now),
    );
    throw forbidden(r);
  }
  if (how.practice) return { level: 'practice', key: how.practice, control: how.disclosureControl };
  if (o.neighbourhood) return { level: 'neighbourhood', key: o.neighbourhood, control: how.disclosureControl };
  return { level: 'locality', key: '', control: how.disclosureControl };
}

interface RefreshRow {
  summary: string;
  as_of: string;
  refreshed_at: string;
  detail: { sources?: SourceFreshness[]; tariff?: TariffRow[]; places?: { level: string; code: string; name: string | null; neighbourhood: string | null }[] };
}

interface Context {
  measures: RefreshRow | null;
  use: RefreshRow | null;
  feeds: Map<string, SourceFresh>;
  names: Map<string, string>;
  /** Answers built from this summary and these feeds, by kind, query and scope (the access decision is taken before each lookup). */
  /** Answers built from this context (promises: one build however many ask at once). */
  answers: Map<string, Promise<unknown>>;
}

/** The summaries' refresh rows and the sources' live freshness (one query each). */
async function loadContext(q: Queryable): Promise<Context> {
  const r = await q.query<RefreshRow>(
    `SELECT summary, to_char(as_of, 'YYYY-MM-DD') AS as_of, to_char(refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS refreshed_at, detail FROM analytics_refresh`,
  );
  const by = new Map(r.rows.map((x) => [x.summary, x]));
  const use = by.get('use') ?? null;
  const known = use?.detail.sources ?? [];
  const live = await feedFreshness(q, known.map((s) => s.source));
  const liveBy = new Map(live.map((f) => [f.source, f]));
  const feeds = new Map<string, SourceFresh>(
    known.map((s) => [s.source, { source: s.source, setting: s.setting, lastMessageAt: liveBy.get(s.source)?.lastMessageAt ?? s.lastReceived, latestActivity: s.latestActivity }]),
  );
  const names = new Map<string, string>();
  for (const p of use?.detail.places ?? []) if (p.name) names.set(`${p.level}|${p.code}`, p.name);
  return { measures: by.get('measures') ?? null, use, feeds, names, answers: new Map() };
}

/**
 * How long the sources' live freshness is reused, in ms: a dashboard under load reads the
 * summary's refresh stamp on every request (a new summary is seen at once) but the feeds' last
 * messages at most this often, and answers built from the same summary and feeds are reused.
 */
export const FEEDS_TTL_MS = 5_000;
const cache = new WeakMap<object, { stamp: string; at: number; ctx: Context }>();
const loading = new WeakMap<object, { stamp: string; ctx: Promise<Context> }>();

async function summaryContext(q: Queryable, now = Date.now()): Promise<Context> {
  const stamp = (await q.query<{ stamp: string | null }>(`SELECT string_agg(summary || '@' || refreshed_at::text, ',' ORDER BY summary) AS stamp FROM analytics_refresh`)).rows[0]?.stamp ?? '';
  const hit = cache.get(q);
  if (hit && hit.stamp === stamp && now - hit.at < FEEDS_TTL_MS) return hit.ctx;
  // One load at a time for a summary: the requests that find it stale together (20 clients, every
  // 5 s) wait for the same load instead of each reading the summary's names and the feeds again.
  const pending = loading.get(q);
  if (pending && pending.stamp === stamp) return pending.ctx;
  const ctx = loadContext(q);
  loading.set(q, { stamp, ctx });
  try {
    const loaded = await ctx;
    cache.set(q, { stamp, at: now, ctx: loaded });
    return loaded;
  } finally {
    if (loading.get(q)?.ctx === ctx) loading.delete(q);
  }
}

/**
 * An answer from the context's store, or built and kept (at most `max` per summary). The promise is
 * kept, so that requests arriving while it is built share the one build (a failed build is dropped).
 */
function memo<T>(c: Context, key: string, build: () => Promise<T>, max = 256): Promise<T> {
  const hit = c.answers.get(key) as Promise<T> | undefined;
  if (hit !== undefined) return hit;
  const value = build();
  if (c.answers.size < max) {
    c.answers.set(key, value);
    value.catch(() => c.answers.delete(key));
  }
  return value;
}

function freshness(c: Context, summary: RefreshRow | null): Freshness {
  return { refreshedAt: summary?.refreshed_at ?? null, asOf: summary?.as_of ?? null, sources: [...c.feeds.values()] };
}

function figureFreshness(c: Context, summary: RefreshRow | null, sources?: readonly string[]): FigureFreshness {
  const names = sources ? [...sources] : [...c.feeds.keys()];
  const heard = names.map((n) => c.feeds.get(n)?.lastMessageAt ?? null);
  const oldest = heard.includes(null) ? null : (heard as string[]).sort()[0] ?? null;
  return { refreshedAt: summary?.refreshed_at ?? null, asOf: summary?.as_of ?? null, sources: names, oldestLastMessageAt: oldest };
}

function placeOf(c: Context, s: Scope): Place {
  return { level: s.level, key: s.key, name: s.level === 'locality' ? 'The whole locality' : (c.names.get(`${s.level}|${s.key}`) ?? s.key) };
}

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

/** A measure's value from its numerator and denominator, under disclosure control when asked. */
export function measureValue(m: MeasureDefinition, numerator: number, denominator: number | null, control: boolean): SeriesPoint['value'] {
  const small = (n: number | null) => n !== null && n > 0 && n < SUPPRESS_BELOW;
  const s = m.series;
  if (s && 'of' in s && s.of) {
    if (control && (small(numerator) || small(denominator))) return null;
    return denominator ? round((100 * numerator) / denominator, 1) : null;
  }
  if (s && 'per' in s && s.per) {
    if (control && small(numerator)) return null;
    return denominator ? round((s.per * numerator) / denominator, 2) : null;
  }
  return control ? disclosureControl(numerator) : numerator;
}

async function seriesRows(q: Queryable, series: readonly string[], s: Scope): Promise<Map<string, { month: string; numerator: number; denominator: number | null }[]>> {
  const r = await q.query<{ series: string; month: string; numerator: number; denominator: number | null }>(
    `SELECT series, month, numerator::int AS numerator, denominator::int AS denominator FROM analytics_measure_month
      WHERE series = ANY($1::text[]) AND level = $2 AND key = $3 ORDER BY series, month`,
    [series, s.level, s.key],
  );
  const out = new Map<string, { month: string; numerator: number; denominator: number | null }[]>();
  for (const x of r.rows) {
    const list = out.get(x.series) ?? [];
    list.push(x);
    out.set(x.series, list);
  }
  return out;
}

function measureView(c: Context, m: MeasureDefinition, rows: { month: string; numerator: number; denominator: number | null }[], s: Scope, asOf: string): MeasureView {
  const control = (n: number | null) => (n === null ? null : s.control ? disclosureControl(n) : n);
  const points: SeriesPoint[] = rows.map((x) => ({ month: x.month, value: measureValue(m, x.numerator, x.denominator, s.control), numerator: control(x.numerator), denominator: control(x.denominator) }));
  const valued = points.filter((p): p is SeriesPoint & { value: number } => p.value !== null);
  const chart = valued.length >= 2 ? chartMeasure(m, valued.map((p) => ({ label: p.month, value: p.value }))) : null;
  // The aim is tracked on the figures shown (a suppressed month is no data).
  const aim = m.aim ? trackAim(m.aim, m.polarity, points.map((p) => ({ month: p.month, value: p.value })), asOf) : null;
  return { measure: m, place: placeOf(c, s), disclosureControl: s.control, points, chart, aim, freshness: figureFreshness(c, c.measures) };
}

const asOfOf = (c: Context, o: DashboardOptions) => c.measures?.as_of ?? (o.now ?? new Date()).toISOString().slice(0, 10);

/** A clinical panel's dashboard: its registers with counts and trend, its measures' SPC charts and aims. */
export async function panelDashboard(ctx: RequestContext, panel: string, o: DashboardOptions = {}): Promise<PanelDashboard> {
  const { registers, measures } = definitions(o);
  const known = panels({ registers, measures }).find((p) => p.panel === panel);
  if (!known) throw notFound(`no clinical panel "${panel}" (GET /analytics/dashboard/panels lists them)`);
  const s = await decideScope(ctx, 'dashboard.panel', o);
  const c = await summaryContext(ctx.db);
  return memo(c, `panel|${panel}|${s.level}|${s.key}|${s.control}|${o.registers || o.measures ? 'custom' : 'shipped'}`, () => buildPanel(ctx, c, s, known, registers, measures, o));
}

async function buildPanel(ctx: RequestContext, c: Context, s: Scope, known: { panel: string; title: string }, registers: Map<string, CohortDefinition>, measures: MeasureDefinition[], o: DashboardOptions): Promise<PanelDashboard> {
  const panel = known.panel;
  const regs = [...registers.values()].filter((r) => panelSlug(r.panel) === panel);
  const ms = measures.filter((m) => panelSlug(m.panel) === panel && m.series);
  const rows = await seriesRows(ctx.db, [...regs.map((r) => `register:${r.name}`), ...ms.map((m) => m.id)], s);
  const count = (n: number) => (s.control ? disclosureControl(n) : n);
  return {
    panel,
    title: known.title,
    place: placeOf(c, s),
    disclosureControl: s.control,
    registers: regs.map((r) => {
      const list = rows.get(`register:${r.name}`) ?? [];
      return {
        name: r.name,
        title: r.title,
        panel: r.panel,
        description: r.description ?? null,
        count: list.length ? count(list.at(-1)!.numerator) : null,
        trend: list.slice(-13).map((x) => ({ month: x.month, count: count(x.numerator) })),
        drillDown: `/analytics/cohorts/${r.name}`,
      };
    }),
    measures: ms.map((m) => measureView(c, m, rows.get(m.id) ?? [], s, asOfOf(c, o))),
    freshness: freshness(c, c.measures),
  };
}

/** One measure's monthly series and SPC chart at a place. */
export async function measureDashboard(ctx: RequestContext, id: string, o: DashboardOptions = {}): Promise<MeasureView> {
  const { measures } = definitions(o);
  const m = measures.find((x) => x.id === id);
  if (!m) throw notFound(`no measure "${id}" (analytics/spc/measures.json)`);
  if (!m.series) throw notFound(`measure "${id}" has no series computed from the store`);
  const s = await decideScope(ctx, 'dashboard.spc', o);
  const c = await summaryContext(ctx.db);
  return memo(c, `spc|${id}|${s.level}|${s.key}|${s.control}|${o.measures ? 'custom' : 'shipped'}`, async () => {
    const rows = await seriesRows(ctx.db, [m.id], s);
    return measureView(c, m, rows.get(m.id) ?? [], s, asOfOf(c, o));
  });
}

/** Every panel aim, tracked month by month at a place. */
export async function aimsDashboard(ctx: RequestContext, o: DashboardOptions = {}): Promise<{ place: Place; disclosureControl: boolean; aims: MeasureView[]; freshness: Freshness }> {
  const { measures } = definitions(o);
  const ms = measures.filter((m) => m.aim && m.series);
  const s = await decideScope(ctx, 'dashboard.aims', o);
  const c = await summaryContext(ctx.db);
  return memo(c, `aims|${s.level}|${s.key}|${s.control}|${o.measures ? 'custom' : 'shipped'}`, async () => {
    const rows = await seriesRows(ctx.db, ms.map((m) => m.id), s);
    return { place: placeOf(c, s), disclosureControl: s.control, aims: ms.map((m) => measureView(c, m, rows.get(m.id) ?? [], s, asOfOf(c, o))), freshness: freshness(c, c.measures) };
  });
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Use and cost of care by month for commissioners: by practice, neighbourhood, setting, cohort or for the locality. */
export async function commissioningDashboard(ctx: RequestContext, q: { by: string; from?: string; to?: string }, o: DashboardOptions = {}): Promise<CommissioningDashboard> {
  if (!(COMMISSIONING_GROUPINGS as readonly string[]).includes(q.by)) throw invalid(`by must be one of ${COMMISSIONING_GROUPINGS.join(', ')}, got "${q.by}"`);
  for (const [k, v] of [['from', q.from], ['to', q.to]] as const) if (v !== undefined && !MONTH.test(v)) throw invalid(`${k} must be a month YYYY-MM, got "${v}"`);
  const by = q.by as CommissioningGrouping;
  await decideScope(ctx, 'dashboard.commissioning', { ...o, practice: null, neighbourhood: null }, true);
  const c = await summaryContext(ctx.db);
  const { registers } = definitions(o);
  const asOf = c.use?.as_of ?? (o.now ?? new Date()).toISOString().slice(0, 10);
  const to = q.to ?? asOf.slice(0, 7);
  let from = q.from;
  if (!from) {
    const d = new Date(`${to}-01T00:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() - 11);
    from = d.toISOString().slice(0, 7);
  }
  if (from > to) throw invalid(`from (${from}) is after to (${to})`);
  const cacheKey = `commissioning|${by}|${from}|${to}`;
  return memo(c, cacheKey, () => buildCommissioning(ctx, c, registers, by, from, to), 64);
}

async function buildCommissioning(ctx: RequestContext, c: Context, registers: ReturnType<typeof definitions>['registers'], by: CommissioningGrouping, from: string, to: string): Promise<CommissioningDashboard> {
  const r = await ctx.db.query<{ level: string; key: string; month: string; activity: string; people: number; quantity: number; contacts: number; cost_gbp: number; sources: string[] }>(
    `SELECT level, key, month, activity, people::int AS people, quantity, contacts, cost_gbp, sources FROM analytics_use_month
      WHERE level = ANY($1::text[]) AND month >= $2 AND month <= $3 ORDER BY month, key, activity`,
    [by === 'setting' ? ['setting'] : [by, 'setting'], from, to],
  );
  const rows = new Map<string, UseRow>();
  const contacts = new Map<string, { hospital: number; out: number }>();
  const nameOf = (key: string) => (by === 'cohort' ? (registers.get(key)?.title ?? key) : by === 'locality' ? 'The whole locality' : (c.names.get(`${by}|${key}`) ?? (key || 'not known')));
  for (const x of r.rows) {
    if (x.level === 'setting' && x.activity === '') {
      const t = contacts.get(x.month) ?? { hospital: 0, out: 0 };
      if (x.key === 'hospital') t.hospital += x.contacts;
      else t.out += x.contacts;
      contacts.set(x.month, t);
    }
    if (x.level !== by) continue;
    const id = `${x.month}|${x.key}`;
    const row = rows.get(id) ?? { month: x.month, key: x.key, name: nameOf(x.key), people: 0, costGbp: 0, activity: {}, drillDown: by === 'cohort' ? `/analytics/cohorts/${x.key}` : null, freshness: figureFreshness(c, c.use, []) };
    rows.set(id, row);
    if (x.activity === '') {
      row.people = disclosureControl(x.people);
      row.costGbp = controlledTotal(x.cost_gbp, x.people);
      row.freshness = figureFreshness(c, c.use, x.sources);
    } else {
      // An activity done for fewer than 8 people is suppressed whatever its volume.
      row.activity[x.activity] = x.people > 0 && x.people < SUPPRESS_BELOW ? null : disclosureControl(Math.round(x.quantity));
    }
  }
  const months: string[] = [];
  for (let d = new Date(`${from}-01T00:00:00Z`); d.toISOString().slice(0, 7) <= to; d.setUTCMonth(d.getUTCMonth() + 1)) months.push(d.toISOString().slice(0, 7));
  const answer: CommissioningDashboard = {
    by,
    from,
    to,
    months,
    disclosureControl: true,
    rows: [...rows.values()],
    shift: months.map((m) => {
      const t = contacts.get(m) ?? { hospital: 0, out: 0 };
      const all = t.hospital + t.out;
      return { month: m, hospital: disclosureControl(Math.round(t.hospital)), outOfHospital: disclosureControl(Math.round(t.out)), outOfHospitalShare: all ? round(t.out / all, 3) : null };
    }),
    tariff: c.use?.detail.tariff ?? [],
    freshness: freshness(c, c.use),
  };
  return answer;
}
