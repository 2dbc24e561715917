import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csrfTokenMatches, newSessionId, sessionHash, sessionTiming, SESSION_TIMES } from './sessions.ts';
import { PasswordGate } from './sign-in.ts';

const t0 = new Date('2025-03-01T09:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

test('session ids: 256 random bits, base64url; the table keeps their sha256', () => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId));
  assert.equal(ids.size, 1000);
  for (const id of [...ids].slice(0, 10)) {
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(id, 'base64url').length, 32);
    assert.match(sessionHash(id), /^[0-9a-f]{64}$/);
    assert.notEqual(sessionHash(id), id);
  }
});

test('session timing: 30 minutes idle (sliding), 12 hours absolute, activity written at most once a minute', () => {
  const s = { lastSeenAt: t0, absoluteExpiresAt: at(12 * 60), endedAt: null };
  assert.deepEqual(sessionTiming(s, at(0.5)), { alive: true, touch: false });
  assert.deepEqual(sessionTiming(s, at(1)), { alive: true, touch: true });
  assert.deepEqual(sessionTiming(s, at(29.9)), { alive: true, touch: true });
  assert.deepEqual(sessionTiming(s, at(30)), { alive: false, reason: 'idle' });
  const busy = { ...s, lastSeenAt: at(12 * 60 - 5) };
  assert.deepEqual(sessionTiming(busy, at(12 * 60 - 1)), { alive: true, touch: true });
  assert.deepEqual(sessionTiming(busy, at(12 * 60)), { alive: false, reason: 'absolute' });
  assert.deepEqual(sessionTiming({ ...s, endedAt: at(1) }, at(2)), { alive: false, reason: 'signed-out' });
  assert.equal(SESSION_TIMES.idleSeconds, 1800);
  assert.equal(SESSION_TIMES.absoluteSeconds, 43200);
});

test('CSRF token comparison: exact match only', () => {
  const s = { csrfToken: 'abc123' };
  assert.equal(csrfTokenMatches(s, 'abc123'), true);
  assert.equal(csrfTokenMatches(s, 'abc124'), false);
  assert.equal(csrfTokenMatches(s, 'abc12'), false);
  assert.equal(csrfTokenMatches(s, ''), false);
  assert.equal(csrfTokenMatches(s, undefined), false);
});

test('password gate: at most maxInFlight at once, maxWaiting queued, the rest refused without running', async () => {
  const gate = new PasswordGate(2, 3);
  let running = 0;
  let most = 0;
  const releases: (() => void)[] = [];
  const job = () =>
    gate.run(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((r) => releases.push(r));
      running--;
      return 'done';
    });
  const all = Array.from({ length: 10 }, job);
  await new Promise((r) => setImmediate(r));
  assert.equal(running, 2);
  assert.equal(gate.refused, 5);
  while (releases.length) {
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  const results = await Promise.all(all);
  assert.deepEqual(results.filter((x) => x === 'done').length, 5);
  assert.deepEqual(results.filter((x) => x === null).length, 5);
  assert.equal(most, 2);
  assert.equal(gate.started, 5);
  assert.equal(await gate.run(async () => 'again'), 'again', 'places are freed');
});
