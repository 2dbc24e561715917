import { test } from 'node:test';
import assert from 'node:assert/strict';
import { breakGlassAnnouncement, breakGlassDeadline, countdown } from './break-glass.ts';

test('the deadline is the server\'s span added to when the answer arrived, whatever the browser clock says', () => {
  const received = Date.parse('2025-06-30T09:00:00Z') + 7 * 60_000; // a browser clock 7 minutes fast
  assert.equal(breakGlassDeadline('2025-06-30T10:00:00.000Z', 'Mon, 30 Jun 2025 09:00:00 GMT', received), received + 60 * 60_000);
  // Without the server's clock, the instant as sent.
  assert.equal(breakGlassDeadline('2025-06-30T10:00:00.000Z', null, received), Date.parse('2025-06-30T10:00:00Z'));
  assert.equal(breakGlassDeadline(null, 'Mon, 30 Jun 2025 09:00:00 GMT', received), null);
  assert.equal(breakGlassDeadline('soon', null, received), null);
});

test('countdown as a clock shows it', () => {
  assert.equal(countdown(59 * 60_000 + 5_000), '59:05');
  assert.equal(countdown(60 * 60_000), '1:00:00');
  assert.equal(countdown(1_001), '0:02', 'rounds up: never shows 0:00 while access lasts');
  assert.equal(countdown(-5), '0:00');
});

test('announcements only when a threshold is crossed, and at the end', () => {
  assert.equal(breakGlassAnnouncement(10 * 60_000 + 500, 10 * 60_000 - 500), 'Emergency access ends in 10 minutes.');
  assert.equal(breakGlassAnnouncement(61_000, 59_000), 'Emergency access ends in 1 minute.');
  assert.equal(breakGlassAnnouncement(30 * 60_000, 29 * 60_000), null);
  assert.equal(breakGlassAnnouncement(500, -500), 'Emergency access has ended.');
  assert.equal(breakGlassAnnouncement(-500, -1500), null);
});
