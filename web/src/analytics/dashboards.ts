/**
 * Pure pieces of the dashboards: who sees them in the navigation (mirroring the shipped policy:
 * `cohorts` own-practice for GPs and practice nurses, secondary-use for analysts; commissioning
 * for analysts), how a disclosure-controlled figure reads, chart rows for an SPC chart and for use
 * and cost by month, and a freshness summary. No I/O.
 */
import type { CommissioningDashboard, Controlled, Freshness, MeasureView, Signal } from './api.ts';
import { timeAgo } from '../integration/time-ago.ts';

export const PANELS_PATH = '/analytics/panels';
export const COMMISSIONING_PATH = '/analytics/commissioning';
export const COHORT_PATH = '/analytics/cohorts';

export interface NavEntry {
  to: string;
  label: string;
}

const PANELS: NavEntry = { to: PANELS_PATH, label: 'Clinical panels' };
const COMMISSIONING: NavEntry = { to: COMMISSIONING_PATH, label: 'Commissioning' };

export function analyticsNav(role: string): NavEntry[] {
  if (role === 'analyst') return [COMMISSIONING, PANELS];
  if (role === 'gp' || role === 'practice-nurse') return [PANELS];
  return [];
}

/** A count as shown: "fewer than 8" when suppressed. */
export function showCount(c: Controlled, unit = ''): string {
  if (c === null) return 'fewer than 8';
  return `${c.toLocaleString('en-GB')}${unit ? ` ${unit}` : ''}`;
}

/** A cost in pounds: "£12,340"; "suppressed" when fewer than 8 people are behind it. */
export function showMoney(c: Controlled): string {
  return c === null ? 'suppressed' : `£${Math.round(c).toLocaleString('en-GB')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "2025-03" → "Mar 2025". */
export function monthLabel(m: string): string {
  return `${MONTHS[Number(m.slice(5, 7)) - 1] ?? m.slice(5, 7)} ${m.slice(0, 4)}`;
}

/** Making Data Count's colours: improvement blue, concern orange, common cause grey. */
export const SIGNAL_COLOURS: Record<Signal, string> = { improvement: '#005eb8', concern: '#ed8b00', neutral: '#768692' };
export const SIGNAL_LABEL: Record<Signal, string> = { improvement: 'Improvement (special cause)', concern: 'Concern (special cause)', neutral: 'Common cause' };

export interface SpcRow {
  month: string;
  label: string;
  value: number | null;
  signal: Signal | null;
  rules: string[];
  outsideTolerance: boolean;
}

/** The rows of an SPC chart: every month, its value (null when suppressed) and the chart's reading of it. */
export function spcRows(v: MeasureView): SpcRow[] {
  const byMonth = new Map((v.chart?.points ?? []).map((p) => [p.label, p]));
  return v.points.map((p) => {
    const c = byMonth.get(p.month);
    return { month: p.month, label: monthLabel(p.month), value: p.value, signal: c?.signal ?? null, rules: c?.rules ?? [], outsideTolerance: c?.outsideTolerance ?? false };
  });
}

/** One sentence for a screen reader and for the chart's caption. */
export function spcSummary(v: MeasureView): string {
  const rows = spcRows(v);
  const last = [...rows].reverse().find((r) => r.value !== null);
  if (!v.chart || !last) return `Not enough figures for a chart (${rows.filter((r) => r.value !== null).length} months with a value).`;
  const special = rows.filter((r) => r.signal && r.signal !== 'neutral');
  const counts = (s: Signal) => special.filter((r) => r.signal === s).length;
  return (
    `Latest ${last.label}: ${last.value} (${v.measure.unit}); mean ${round(v.chart.mean)}, process limits ${round(v.chart.lowerProcessLimit)} to ${round(v.chart.upperProcessLimit)}. ` +
    (special.length ? `${counts('improvement')} months show special-cause improvement, ${counts('concern')} concern.` : 'Common-cause variation only.')
  );
}

const round = (x: number) => Math.round(x * 10) / 10;

export const AIM_STATUS_LABEL: Record<string, string> = { achieved: 'Achieved', 'on-track': 'On track', 'off-track': 'Off track', missed: 'Missed', 'no-data': 'No data yet' };
export const AIM_STATUS_COLOUR: Record<string, 'green' | 'blue' | 'orange' | 'red' | 'grey'> = { achieved: 'green', 'on-track': 'blue', 'off-track': 'orange', missed: 'red', 'no-data': 'grey' };

export interface UseChart {
  /** The series shown (the largest by cost; the rest together as "Other"). */
  keys: { key: string; name: string }[];
  rows: Record<string, string | number | null>[];
}

/** Cost by month per key, for a stacked bar chart: at most `most` keys, the rest as "Other". */
export function useChart(d: CommissioningDashboard, most = 7): UseChart {
  const total = new Map<string, { name: string; cost: number }>();
  for (const r of d.rows) {
    const t = total.get(r.key) ?? { name: r.name, cost: 0 };
    t.cost += r.costGbp ?? 0;
    total.set(r.key, t);
  }
  const ranked = [...total.entries()].sort((a, b) => b[1].cost - a[1].cost || a[0].localeCompare(b[0]));
  const shown = ranked.slice(0, ranked.length > most + 1 ? most : most + 1);
  const keep = new Set(shown.map(([k]) => k));
  const other = ranked.length > shown.length;
  const rows = d.months.map((m) => {
    const row: Record<string, string | number | null> = { month: m, label: monthLabel(m) };
    for (const [k] of shown) row[k] = 0;
    if (other) row.__other = 0;
    for (const r of d.rows.filter((x) => x.month === m)) {
      const k = keep.has(r.key) ? r.key : '__other';
      row[k] = ((row[k] as number) ?? 0) + (r.costGbp ?? 0);
    }
    return row;
  });
  return { keys: [...shown.map(([key, t]) => ({ key, name: t.name })), ...(other ? [{ key: '__other', name: 'Other' }] : [])], rows };
}

/** "Summary built 4 min ago (to 1 Oct 2025); sources last heard from 2 hours ago to 3 days ago". */
export function freshnessText(f: Freshness, now: number): string {
  if (!f.refreshedAt) return 'No summary has been built yet: run bevan analytics refresh.';
  const heard = f.sources.map((s) => s.lastMessageAt).filter((x): x is string => !!x).sort();
  const range = heard.length ? `; sources last heard from ${timeAgo(heard.at(-1), now)} (newest) to ${timeAgo(heard[0], now)} (oldest)` : '';
  return `Figures built ${timeAgo(f.refreshedAt, now)}, counting to ${f.asOf ?? 'an unknown date'}${range}.`;
}

export const SETTING_LABEL: Record<string, string> = { hospital: 'Hospital', community: 'Community', 'primary care': 'Primary care', 'social care': 'Social care', 'mental health': 'Mental health' };
