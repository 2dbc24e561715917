import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillHours, hourStart } from './feed-status.ts';

test('hourStart: the start of the UTC hour', () => {
  assert.equal(hourStart(new Date('2025-03-01T09:59:59.999Z')).toISOString(), '2025-03-01T09:00:00.000Z');
  assert.equal(hourStart(new Date('2025-03-01T10:00:00.000Z')).toISOString(), '2025-03-01T10:00:00.000Z');
});

test('fillHours: every hour of the range, oldest first, zero where nothing arrived', () => {
  const first = new Date('2025-03-01T08:20:00Z');
  const rows = [
    { hour: '2025-03-01T08:00:00.000Z', outcome: 'accepted', n: 5 },
    { hour: '2025-03-01T08:00:00.000Z', outcome: 'quarantined', n: 1 },
    { hour: '2025-03-01T10:00:00.000Z', outcome: 'ignored', n: 2 },
    { hour: '2025-03-01T10:00:00.000Z', outcome: 'accepted', n: 3 },
    // Outside the range, and an outcome that is not counted.
    { hour: '2025-03-01T07:00:00.000Z', outcome: 'accepted', n: 99 },
    { hour: '2025-03-01T11:00:00.000Z', outcome: 'accepted', n: 99 },
    { hour: '2025-03-01T09:00:00.000Z', outcome: 'duplicate', n: 7 },
  ];
  assert.deepEqual(fillHours(rows, first, 3), [
    { hour: '2025-03-01T08:00:00.000Z', accepted: 5, ignored: 0, quarantined: 1 },
    { hour: '2025-03-01T09:00:00.000Z', accepted: 0, ignored: 0, quarantined: 0 },
    { hour: '2025-03-01T10:00:00.000Z', accepted: 3, ignored: 2, quarantined: 0 },
  ]);
  assert.equal(fillHours([], first, 168).length, 168);
  // The same hour written by each part of the query is added up.
  assert.equal(fillHours([{ hour: '2025-03-01T08:00:00.000Z', outcome: 'accepted', n: 2 }, { hour: '2025-03-01T08:00:00.000Z', outcome: 'accepted', n: 3 }], first, 1)[0]!.accepted, 5);
});
