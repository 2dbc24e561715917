/**
 * The feeds' health for the integration team (HTTP `/ingest/feeds`): per source system its last
 * message, how many messages were accepted and ignored and how many items were quarantined (all
 * time and the last 24 hours), and messages per hour over the last 24 hours or 7 days. Read from
 * the writer's running counts of the message log (`ingest_feed_count`), bounded windows of the log
 * (`ingest_message`: one row per message, its latest arrival) and the quarantine, which ingest owns. Counts only, no personal data; still asked of the decision point
 * (access/policy.ts, action `feeds`: the integration team and administrators, for
 * administration), which fails closed. Not audited: nothing about anyone is shown.
 */
import { forbidden, invalid, type RequestContext } from '../access/context.ts';
import { currentPolicy, decide, type Policy } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import { readFeedCounts } from './feed-counts.ts';
import { sourceKeyProblem } from './feeds.ts';

export interface FeedSummary {
  /** Source system key; null for quarantined items whose source could not be told. */
  source: string | null;
  /** Formats seen from it (fhir, hl7v2, csv). */
  formats: string[];
  /** The latest arrival of anything from it (message or quarantined item), ISO 8601 UTC; null when nothing. */
  lastReceivedAt: string | null;
  /** The latest accepted message, ISO 8601 UTC. */
  lastAcceptedAt: string | null;
  accepted: number;
  ignored: number;
  /** Items quarantined (any status), and those still open. */
  quarantined: number;
  quarantinedOpen: number;
  last24h: { accepted: number; ignored: number; quarantined: number };
}

export interface FeedsStatus {
  /** When the counts were read (ISO 8601 UTC): "4 min ago" is measured from here. */
  at: string;
  sources: FeedSummary[];
  totals: { accepted: number; ignored: number; quarantined: number; quarantinedOpen: number };
}

export type HourlyRange = '24h' | '7d';
export const HOURLY_RANGES: readonly HourlyRange[] = ['24h', '7d'];
const RANGE_HOURS: Record<HourlyRange, number> = { '24h': 24, '7d': 24 * 7 };

export interface HourCount {
  /** Start of the hour, ISO 8601 UTC (`2025-03-01T09:00:00.000Z`). */
  hour: string;
  accepted: number;
  ignored: number;
  quarantined: number;
}

export interface FeedHourly {
  /** The source system, or null for every source together. */
  source: string | null;
  range: HourlyRange;
  /** Every hour of the range, oldest first, the current hour last (hours with nothing are zero). */
  hours: HourCount[];
}

// Times as ISO 8601 UTC whatever the session's time zone, on both databases.
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Per source system: last message and counts. Cheap whatever the size of the message log: the
 * all-time counts are the writer's running counts (feed-counts.ts), the last 24 hours a window
 * read by the `received_at` index, the latest times one index lookup per source (as
 * feed-freshness.ts); the quarantine (small, and its items change status) is counted as it is.
 */
export async function readFeedsStatus(db: Queryable, now = new Date()): Promise<FeedsStatus> {
  const since = new Date(now.getTime() - 24 * 3_600_000).toISOString();
  const [counts, recent, quarantine] = await Promise.all([
    readFeedCounts(db),
    db.query<{ source: string; outcome: string; n: number }>(
      `SELECT source_system AS source, outcome, count(*)::int AS n FROM ingest_message WHERE received_at >= $1::timestamptz GROUP BY source_system, outcome`,
      [since],
    ),
    db.query<{ source: string | null; formats: string[]; last: string | null; total: number; open: number; last_24h: number }>(
      `SELECT source_system AS source, array_agg(DISTINCT format ORDER BY format) AS formats, ${iso('max(received_at)')} AS last,
              count(*)::int AS total, count(*) FILTER (WHERE status = 'open')::int AS open,
              count(*) FILTER (WHERE received_at >= $1::timestamptz)::int AS last_24h
         FROM quarantine GROUP BY source_system`,
      [since],
    ),
  ]);
  const counted = [...new Set(counts.map((c) => c.source))].sort();
  const latestTimes = counted.length
    ? await db.query<{ source: string; last: string | null; last_accepted: string | null }>(
        `SELECT s.source,
                ${iso(`(SELECT m.received_at FROM ingest_message m WHERE m.source_system = s.source ORDER BY m.received_at DESC LIMIT 1)`)} AS last,
                ${iso(`(SELECT m.received_at FROM ingest_message m WHERE m.source_system = s.source AND m.outcome = 'accepted' ORDER BY m.received_at DESC LIMIT 1)`)} AS last_accepted
           FROM unnest($1::text[]) AS s(source)`,
        [counted],
      )
    : { rows: [] };
  const messages = counted.map((source) => {
    const of = counts.filter((c) => c.source === source);
    const n = (outcome: string) => of.filter((c) => c.outcome === outcome).reduce((t, c) => t + c.messages, 0);
    const r = (outcome: string) => recent.rows.filter((x) => x.source === source && x.outcome === outcome).reduce((t, x) => t + x.n, 0);
    const times = latestTimes.rows.find((x) => x.source === source);
    return {
      source, formats: [...new Set(of.flatMap((c) => c.formats))].sort(), last: times?.last ?? null, last_accepted: times?.last_accepted ?? null,
      accepted: n('accepted'), ignored: n('ignored'), accepted_24h: r('accepted'), ignored_24h: r('ignored'),
    };
  });
  const bySource = new Map<string | null, FeedSummary>();
  const entry = (source: string | null): FeedSummary => {
    let s = bySource.get(source);
    if (!s) {
      s = { source, formats: [], lastReceivedAt: null, lastAcceptedAt: null, accepted: 0, ignored: 0, quarantined: 0, quarantinedOpen: 0, last24h: { accepted: 0, ignored: 0, quarantined: 0 } };
      bySource.set(source, s);
    }
    return s;
  };
  for (const m of messages) {
    const s = entry(m.source);
    s.formats = [...new Set([...s.formats, ...m.formats])].sort();
    s.lastReceivedAt = latest(s.lastReceivedAt, m.last);
    s.lastAcceptedAt = m.last_accepted;
    s.accepted = m.accepted;
    s.ignored = m.ignored;
    s.last24h.accepted = m.accepted_24h;
    s.last24h.ignored = m.ignored_24h;
  }
  for (const q of quarantine.rows) {
    const s = entry(q.source);
    s.formats = [...new Set([...s.formats, ...q.formats])].sort();
    s.lastReceivedAt = latest(s.lastReceivedAt, q.last);
    s.quarantined = q.total;
    s.quarantinedOpen = q.open;
    s.last24h.quarantined = q.last_24h;
  }
  // Sources by key; items whose source could not be told last.
  const sources = [...bySource.values()].sort((a, b) => (a.source === null ? 1 : b.source === null ? -1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const totals = sources.reduce((t, s) => ({ accepted: t.accepted + s.accepted, ignored: t.ignored + s.ignored, quarantined: t.quarantined + s.quarantined, quarantinedOpen: t.quarantinedOpen + s.quarantinedOpen }), { accepted: 0, ignored: 0, quarantined: 0, quarantinedOpen: 0 });
  return { at: now.toISOString(), sources, totals };
}

/** Messages per hour, accepted, ignored and quarantined, for one source system (or all: source null). */
export async function readFeedHourly(db: Queryable, source: string | null, range: HourlyRange, now = new Date()): Promise<FeedHourly> {
  const hours = RANGE_HOURS[range];
  const first = hourStart(new Date(now.getTime() - (hours - 1) * 3_600_000));
  const r = await db.query<{ hour: string; outcome: string; n: number }>(
    `SELECT ${iso("date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")} AS hour, outcome, count(*)::int AS n
       FROM ingest_message WHERE received_at >= $1::timestamptz AND ($2::text IS NULL OR source_system = $2)
      GROUP BY 1, 2
     UNION ALL
     SELECT ${iso("date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")} AS hour, 'quarantined', count(*)::int
       FROM quarantine WHERE received_at >= $1::timestamptz AND ($2::text IS NULL OR source_system = $2)
      GROUP BY 1`,
    [first.toISOString(), source],
  );
  return { source, range, hours: fillHours(r.rows, first, hours) };
}

/** The start of the UTC hour a time falls in. */
export function hourStart(t: Date): Date {
  return new Date(Math.floor(t.getTime() / 3_600_000) * 3_600_000);
}

/**
 * Every hour from `first` for `count` hours, with the counts of the rows that fall in it (rows
 * outside the range are left out; an outcome other than the three is not counted). Pure.
 */
export function fillHours(rows: readonly { hour: string; outcome: string; n: number }[], first: Date, count: number): HourCount[] {
  const start = hourStart(first).getTime();
  const out: HourCount[] = Array.from({ length: count }, (_, i) => ({ hour: new Date(start + i * 3_600_000).toISOString(), accepted: 0, ignored: 0, quarantined: 0 }));
  for (const row of rows) {
    const i = Math.floor((Date.parse(row.hour) - start) / 3_600_000);
    if (!(i >= 0 && i < count)) continue;
    if (row.outcome === 'accepted' || row.outcome === 'ignored' || row.outcome === 'quarantined') out[i]![row.outcome] += Number(row.n);
  }
  return out;
}

function latest(a: string | null, b: string | null): string | null {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** The feeds' status, when the policy lets the user see it (action `feeds`). */
export async function feedsStatusFor(ctx: RequestContext, policy: Policy | null = currentPolicy(), now = new Date()): Promise<FeedsStatus> {
  gate(ctx, policy, now);
  return readFeedsStatus(ctx.db, now);
}

/** Messages per hour for a source system (or all: null), when the policy lets the user see them. */
export async function feedHourlyFor(ctx: RequestContext, source: string | null, range: HourlyRange, policy: Policy | null = currentPolicy(), now = new Date()): Promise<FeedHourly> {
  if (source !== null) {
    const problem = sourceKeyProblem(source);
    if (problem) throw invalid(`source: ${problem}`);
  }
  if (!HOURLY_RANGES.includes(range)) throw invalid(`range must be one of ${HOURLY_RANGES.join(', ')}`);
  gate(ctx, policy, now);
  return readFeedHourly(ctx.db, source, range, now);
}

function gate(ctx: RequestContext, policy: Policy | null, now: Date): void {
  const d = decide(policy, { action: 'feeds', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
  if (d.kind === 'deny') throw forbidden(`access denied: ${d.reason}`);
}
