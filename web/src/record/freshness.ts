/**
 * Data freshness per source feed, as the record page says it: "last message 4 min ago". Times
 * come from the server (`GET /record/{id}/sources`: the ingest log's newest message per source)
 * and are measured against the server's clock at the answer, moved on by the time since. Pure.
 */
import type { FeedTimes } from '../api/record.ts';

/** A feed silent for longer than this is marked: most feeds send within a day (a GP extract nightly). */
export const STALE_AFTER_MS = 24 * 60 * 60_000;

/** The server's "now": its clock at the answer plus the time elapsed here since. */
export function serverNow(at: string, receivedAt: number, now: number): number {
  const t = Date.parse(at);
  return Number.isNaN(t) ? now : t + Math.max(0, now - receivedAt);
}

/** "just now", "4 min ago", "3 hours ago", "2 days ago", "in the future" for a clock ahead. */
export function describeAgo(instant: string, now: number): string {
  const ms = now - Date.parse(instant);
  if (Number.isNaN(ms)) return 'at an unknown time';
  if (ms < -60_000) return 'in the future (the source clock is ahead)';
  if (ms < 60_000) return 'just now';
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`;
  const d = Math.floor(h / 24);
  return `${d} days ago`;
}

export interface Freshness {
  /** "last message 4 min ago", or "no messages recorded". */
  text: string;
  /** Nothing for longer than STALE_AFTER_MS. */
  stale: boolean;
  /** The ingest log has nothing from this source (loaded another way, or its log was cleared). */
  never: boolean;
  /** The latest item was quarantined, not accepted. */
  lastQuarantined: boolean;
}

export function freshnessOf(feed: FeedTimes, now: number): Freshness {
  if (!feed.lastMessageAt) return { text: 'no messages recorded', stale: false, never: true, lastQuarantined: false };
  const lastQuarantined = !!feed.lastQuarantinedAt && feed.lastQuarantinedAt >= feed.lastMessageAt;
  return { text: `last message ${describeAgo(feed.lastMessageAt, now)}`, stale: now - Date.parse(feed.lastMessageAt) > STALE_AFTER_MS, never: false, lastQuarantined };
}
