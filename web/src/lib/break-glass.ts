/**
 * Break-glass expiry on the page. The server says when the emergency session ends
 * (X-Bevan-Break-Glass-Expires, an instant by its clock) and what its clock said (Date); the
 * deadline here is that span added to when the answer arrived, so a browser clock that is wrong
 * does not end access early or late. Pure.
 */

/** This browser's time (ms) at which the session ends, or null when the answer named none. */
export function breakGlassDeadline(expires: string | null, serverDate: string | null, receivedAt: number): number | null {
  if (!expires) return null;
  const end = Date.parse(expires);
  if (Number.isNaN(end)) return null;
  const server = serverDate ? Date.parse(serverDate) : NaN;
  // The Date header has whole seconds (rounded down): the deadline may be up to a second late, so the page asks again a moment after it.
  return Number.isNaN(server) ? end : receivedAt + (end - server);
}

/** `59:05`, `1:00:00`, `0:00`: what is left, as a clock shows it. */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Moments worth telling a screen reader user about (minutes left). */
export const ANNOUNCE_AT_MINUTES = [10, 5, 1] as const;

/**
 * What to announce when the time left goes from `before` to `after` (ms): a sentence when it
 * crosses one of ANNOUNCE_AT_MINUTES or ends, else null (a live region is not a ticking clock).
 */
export function breakGlassAnnouncement(before: number, after: number): string | null {
  if (before > 0 && after <= 0) return 'Emergency access has ended.';
  for (const m of ANNOUNCE_AT_MINUTES) {
    const at = m * 60_000;
    if (before > at && after <= at) return `Emergency access ends in ${m} minute${m === 1 ? '' : 's'}.`;
  }
  return null;
}
