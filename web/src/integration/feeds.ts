/**
 * The feeds page's logic: one row per source system (named as people know it, in the order a
 * record is read: GP, hospital, community, mental health, social care), how fresh its last
 * message is, and the messages-per-hour chart's points and text summary. Pure.
 */
import type { FeedHourly, FeedsStatus, FeedSummary, HourlyRange } from '../api/integration.ts';
import { compareSources, SETTING_LABEL, settingOf, sourceLabel } from '../record/sources.ts';
import { freshness, timeAgo, type Freshness } from './time-ago.ts';

export const FORMAT_LABEL: Record<string, string> = { fhir: 'FHIR', hl7v2: 'HL7 v2', csv: 'CSV' };

export interface FeedRow {
  /** The source system key; null for quarantined items whose source could not be told. */
  source: string | null;
  label: string;
  setting: string;
  formats: string;
  lastReceivedAt: string | null;
  /** `4 min ago`, `never`. */
  lastText: string;
  freshness: Freshness;
  accepted: number;
  ignored: number;
  quarantined: number;
  quarantinedOpen: number;
  last24h: FeedSummary['last24h'];
}

/** The rows of the feeds table, measured against the time the server read the counts. */
export function feedRows(status: FeedsStatus, now = Date.parse(status.at)): FeedRow[] {
  return [...status.sources]
    .sort((a, b) => (a.source === null ? 1 : b.source === null ? -1 : compareSources(a.source, b.source)))
    .map((s) => ({
      source: s.source,
      label: s.source === null ? 'Source not known' : sourceLabel(s.source),
      setting: s.source === null ? 'Unknown' : SETTING_LABEL[settingOf(s.source)],
      formats: s.formats.map((f) => FORMAT_LABEL[f] ?? f).join(', ') || '—',
      lastReceivedAt: s.lastReceivedAt,
      lastText: timeAgo(s.lastReceivedAt, now),
      freshness: freshness(s.lastReceivedAt, now),
      accepted: s.accepted,
      ignored: s.ignored,
      quarantined: s.quarantined,
      quarantinedOpen: s.quarantinedOpen,
      last24h: s.last24h,
    }));
}

export interface ChartPoint {
  /** Start of the hour (ms since 1970). */
  t: number;
  label: string;
  accepted: number;
  ignored: number;
  quarantined: number;
}

const pad = (n: number) => String(n).padStart(2, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** An hour as the chart's axis shows it, in local time: `14:00`, or over 7 days `Mon 14:00`. */
export function hourLabel(iso: string, range: HourlyRange): string {
  const d = new Date(iso);
  const hh = `${pad(d.getHours())}:00`;
  return range === '24h' ? hh : `${DAYS[d.getDay()]} ${hh}`;
}

export function chartPoints(h: FeedHourly): ChartPoint[] {
  return h.hours.map((x) => ({ t: Date.parse(x.hour), label: hourLabel(x.hour, h.range), accepted: x.accepted, ignored: x.ignored, quarantined: x.quarantined }));
}

const RANGE_WORDS: Record<HourlyRange, string> = { '24h': 'the last 24 hours', '7d': 'the last 7 days' };

/** The chart in words (for screen readers and as its caption). */
export function summariseHourly(h: FeedHourly): string {
  const total = (x: { accepted: number; ignored: number; quarantined: number }) => x.accepted + x.ignored + x.quarantined;
  const sum = h.hours.reduce((t, x) => ({ accepted: t.accepted + x.accepted, ignored: t.ignored + x.ignored, quarantined: t.quarantined + x.quarantined }), { accepted: 0, ignored: 0, quarantined: 0 });
  const all = total(sum);
  if (!all) return `No messages in ${RANGE_WORDS[h.range]}.`;
  const busiest = h.hours.reduce((best, x) => (total(x) > total(best) ? x : best), h.hours[0]!);
  return (
    `${all} ${all === 1 ? 'message' : 'messages'} in ${RANGE_WORDS[h.range]}: ${sum.accepted} accepted, ${sum.ignored} ignored, ${sum.quarantined} quarantined. ` +
    `Busiest hour: ${hourLabel(busiest.hour, h.range)} (${total(busiest)}).`
  );
}

export const RANGES: readonly { value: HourlyRange; label: string }[] = [
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
];
