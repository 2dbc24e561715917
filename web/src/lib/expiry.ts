/**
 * What the session expiry notice says, and when (pure): nothing until five minutes before the
 * session ends; then which timeout strikes first (idle or absolute), at what time, and how long
 * is left in whole minutes rounded up (so "in 1 minute" until it is over, never "in 0 minutes").
 */
import { describeDuration, formatTime } from './dates.ts';

export interface ExpiryInput {
  expiresAt: number;
  idleExpiresAt: number | null;
}

export interface ExpiryNoticeText {
  idle: boolean;
  at: number;
  headline: string;
  detail: string;
}

export function expiryNotice(s: ExpiryInput, now: number, warnBeforeMs: number): ExpiryNoticeText | null {
  const idle = s.idleExpiresAt !== null && s.idleExpiresAt < s.expiresAt;
  const at = idle ? s.idleExpiresAt! : s.expiresAt;
  const left = at - now;
  if (left > warnBeforeMs) return null;
  const minutes = Math.max(0, Math.ceil(left / 60_000));
  return {
    idle,
    at,
    headline: `${idle ? 'You will be signed out' : 'Your session ends'} at ${formatTime(at)} (${minutes > 0 ? `in ${describeDuration(minutes * 60_000)}` : 'now'}).`,
    detail: idle ? 'Carry on working to stay signed in.' : 'You will need to sign in again; the page you are on will open again after you do.',
  };
}
