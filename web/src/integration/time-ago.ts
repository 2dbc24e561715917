/**
 * How long ago something happened, as the integration team reads a feed's health: "just now",
 * "4 min ago", "3 hours ago", "2 days ago", and how worrying the silence is. Pure (the clock is
 * passed in).
 */
import { formatDate } from '../lib/dates.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `4 min ago`, `1 hour ago`, `3 days ago`; `never` for no time; a date beyond a fortnight. */
export function timeAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'at an unknown time';
  const ago = now - t;
  // A clock a little ahead of this one reads as now, not "in 2 minutes".
  if (ago < MINUTE) return 'just now';
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min ago`;
  if (ago < DAY) {
    const h = Math.floor(ago / HOUR);
    return `${h} ${h === 1 ? 'hour' : 'hours'} ago`;
  }
  if (ago < 14 * DAY) {
    const d = Math.floor(ago / DAY);
    return `${d} ${d === 1 ? 'day' : 'days'} ago`;
  }
  return `on ${formatDate(new Date(t).toISOString())}`;
}

/** How a feed's last message reads: within the hour, within the day, silent for a day or more, or nothing ever. */
export type Freshness = 'recent' | 'quiet' | 'silent' | 'never';

export function freshness(iso: string | null | undefined, now: number): Freshness {
  if (!iso) return 'never';
  const ago = now - Date.parse(iso);
  if (Number.isNaN(ago)) return 'never';
  if (ago < HOUR) return 'recent';
  if (ago < DAY) return 'quiet';
  return 'silent';
}

export const FRESHNESS_LABEL: Record<Freshness, string> = {
  recent: 'Receiving',
  quiet: 'Quiet for over an hour',
  silent: 'Silent for over a day',
  never: 'Nothing received',
};
