import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expiryNotice } from './expiry.ts';

const MIN = 60_000;
const t0 = new Date(2025, 5, 30, 14, 0, 0).getTime();

test('expiry notice: silent until five minutes before; the first timeout to strike; minutes rounded up', () => {
  const bearer = { expiresAt: t0 + 60 * MIN, idleExpiresAt: null };
  assert.equal(expiryNotice(bearer, t0, 5 * MIN), null);
  assert.equal(expiryNotice(bearer, t0 + 54 * MIN, 5 * MIN), null);
  const soon = expiryNotice(bearer, t0 + 56 * MIN + 10_000, 5 * MIN)!;
  assert.equal(soon.idle, false);
  assert.equal(soon.headline, 'Your session ends at 15:00 (in 4 minutes).');
  assert.match(soon.detail, /sign in again/);
  assert.equal(expiryNotice(bearer, t0 + 59 * MIN + 59_000, 5 * MIN)!.headline, 'Your session ends at 15:00 (in 1 minute).');
  assert.equal(expiryNotice(bearer, t0 + 61 * MIN, 5 * MIN)!.headline, 'Your session ends at 15:00 (now).');
  // A browser session: the idle timeout comes first, then the absolute one once idle would pass it.
  const cookie = { expiresAt: t0 + 12 * 60 * MIN, idleExpiresAt: t0 + 30 * MIN };
  const idle = expiryNotice(cookie, t0 + 27 * MIN, 5 * MIN)!;
  assert.equal(idle.idle, true);
  assert.equal(idle.headline, 'You will be signed out at 14:30 (in 3 minutes).');
  assert.match(idle.detail, /Carry on working/);
  const capped = expiryNotice({ expiresAt: t0 + 30 * MIN, idleExpiresAt: t0 + 30 * MIN }, t0 + 28 * MIN, 5 * MIN)!;
  assert.equal(capped.idle, false, 'idle end equal to the absolute end: the absolute one is said');
});
