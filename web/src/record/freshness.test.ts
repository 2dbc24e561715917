import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAgo, freshnessOf, serverNow } from './freshness.ts';

const NOW = Date.parse('2025-06-30T12:00:00Z');
const none = { lastAcceptedAt: null, lastQuarantinedAt: null, lastRunAt: null };

test('"4 min ago" and friends', () => {
  assert.equal(describeAgo('2025-06-30T11:59:30Z', NOW), 'just now');
  assert.equal(describeAgo('2025-06-30T11:56:00Z', NOW), '4 min ago');
  assert.equal(describeAgo('2025-06-30T09:00:00Z', NOW), '3 hours ago');
  assert.equal(describeAgo('2025-06-29T11:00:00Z', NOW), '25 hours ago');
  assert.equal(describeAgo('2025-06-27T12:00:00Z', NOW), '3 days ago');
  assert.equal(describeAgo('2025-06-30T12:05:00Z', NOW), 'in the future (the source clock is ahead)');
});

test('measured against the server clock, moved on by the time since the answer', () => {
  // The browser's clock is an hour behind; 90 s have passed since the answer.
  const received = NOW - 3_600_000;
  assert.equal(serverNow('2025-06-30T12:00:00.000Z', received, received + 90_000), NOW + 90_000);
});

test('freshness: the text, stale after a day, never, quarantined last', () => {
  assert.deepEqual(freshnessOf({ ...none, lastMessageAt: '2025-06-30T11:56:00Z' }, NOW), { text: 'last message 4 min ago', stale: false, never: false, lastQuarantined: false });
  assert.equal(freshnessOf({ ...none, lastMessageAt: '2025-06-28T11:00:00Z' }, NOW).stale, true);
  assert.deepEqual(freshnessOf({ ...none, lastMessageAt: null }, NOW), { text: 'no messages recorded', stale: false, never: true, lastQuarantined: false });
  assert.equal(freshnessOf({ ...none, lastMessageAt: '2025-06-30T11:00:00Z', lastQuarantinedAt: '2025-06-30T11:00:00Z' }, NOW).lastQuarantined, true);
});
