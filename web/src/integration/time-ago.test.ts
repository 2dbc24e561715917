import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freshness, timeAgo } from './time-ago.ts';

const NOW = Date.parse('2025-03-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

test('timeAgo: minutes, hours, days, then a date', () => {
  assert.equal(timeAgo(ago(20_000), NOW), 'just now');
  assert.equal(timeAgo(ago(-90_000), NOW), 'just now', 'a clock a little ahead');
  assert.equal(timeAgo(ago(4 * 60_000 + 5_000), NOW), '4 min ago');
  assert.equal(timeAgo(ago(59 * 60_000), NOW), '59 min ago');
  assert.equal(timeAgo(ago(60 * 60_000), NOW), '1 hour ago');
  assert.equal(timeAgo(ago(5 * 3_600_000 + 1), NOW), '5 hours ago');
  assert.equal(timeAgo(ago(24 * 3_600_000), NOW), '1 day ago');
  assert.equal(timeAgo(ago(13 * 86_400_000), NOW), '13 days ago');
  assert.equal(timeAgo('2025-01-02T10:00:00Z', NOW), 'on 2 January 2025');
  assert.equal(timeAgo(null, NOW), 'never');
  assert.equal(timeAgo('soon', NOW), 'at an unknown time');
});

test('freshness: receiving, quiet, silent, never', () => {
  assert.equal(freshness(ago(30 * 60_000), NOW), 'recent');
  assert.equal(freshness(ago(2 * 3_600_000), NOW), 'quiet');
  assert.equal(freshness(ago(2 * 86_400_000), NOW), 'silent');
  assert.equal(freshness(null, NOW), 'never');
});
