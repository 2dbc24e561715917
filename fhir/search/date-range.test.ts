import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateRange, periodRange, rangeMatches, zoneOffset, type Prefix, type Range } from './date-range.ts';

const at = (s: string) => Date.parse(s);
const range = (lo: string, hi: string): Range => ({ lo: at(lo), hi: at(hi) });

test('a partial date is the whole year, month or day it names', () => {
  assert.deepEqual(dateRange('2024', 'UTC'), range('2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'));
  assert.deepEqual(dateRange('2024-02', 'UTC'), range('2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z'));
  assert.deepEqual(dateRange('2023-12', 'UTC'), range('2023-12-01T00:00:00Z', '2024-01-01T00:00:00Z'));
  assert.deepEqual(dateRange('2024-02-29', 'UTC'), range('2024-02-29T00:00:00Z', '2024-03-01T00:00:00Z'));
  assert.deepEqual(dateRange('2024-12-31', 'UTC'), range('2024-12-31T00:00:00Z', '2025-01-01T00:00:00Z'));
});

test('a time is as precise as its last digit', () => {
  assert.deepEqual(dateRange('2024-03-01T10:00Z'), range('2024-03-01T10:00:00Z', '2024-03-01T10:01:00Z'));
  assert.deepEqual(dateRange('2024-03-01T10:00:05Z'), range('2024-03-01T10:00:05Z', '2024-03-01T10:00:06Z'));
  assert.deepEqual(dateRange('2024-03-01T10:00:05.1Z'), range('2024-03-01T10:00:05.100Z', '2024-03-01T10:00:05.200Z'));
  assert.deepEqual(dateRange('2024-03-01T10:00:05.123Z'), range('2024-03-01T10:00:05.123Z', '2024-03-01T10:00:05.124Z'));
  assert.deepEqual(dateRange('2024-03-01T10:00:05.123456Z'), range('2024-03-01T10:00:05.123Z', '2024-03-01T10:00:05.124Z'));
  assert.deepEqual(dateRange('2024-07-01T10:00:00+02:00'), range('2024-07-01T08:00:00Z', '2024-07-01T08:00:01Z'));
  assert.deepEqual(dateRange('2024-07-01T10:00:00-05:30'), range('2024-07-01T15:30:00Z', '2024-07-01T15:30:01Z'));
  // A '+' that a form or URL decoded into a space.
  assert.deepEqual(dateRange('2024-07-01T10:00:00 01:00'), range('2024-07-01T09:00:00Z', '2024-07-01T09:00:01Z'));
});

test('without a zone, dates are read in Europe/London (summer time included)', () => {
  assert.deepEqual(dateRange('2024-01-15'), range('2024-01-15T00:00:00Z', '2024-01-16T00:00:00Z'));
  assert.deepEqual(dateRange('2024-07-01'), range('2024-06-30T23:00:00Z', '2024-07-01T23:00:00Z'));
  // The clocks go forward on 31 March 2024: a 23-hour day.
  assert.deepEqual(dateRange('2024-03-31'), range('2024-03-31T00:00:00Z', '2024-03-31T23:00:00Z'));
  // ...and back on 27 October: 25 hours.
  assert.deepEqual(dateRange('2024-10-27'), range('2024-10-26T23:00:00Z', '2024-10-28T00:00:00Z'));
  assert.deepEqual(dateRange('2024-07-01T10:00'), range('2024-07-01T09:00:00Z', '2024-07-01T09:01:00Z'));
  assert.equal(zoneOffset(at('2024-07-01T12:00:00Z'), 'Europe/London'), 3_600_000);
  assert.equal(zoneOffset(at('2024-01-01T12:00:00Z'), 'Europe/London'), 0);
});

test('not dates: null', () => {
  for (const s of ['', 'yesterday', '2024-13', '2024-00', '2024-02-30', '2023-02-29', '24-01-01', '2024-1-1', '2024-01-01T25:00Z', '2024-01-01T10:60Z', '2024-01-01T10:00+15:00', "2024' OR 1=1", '2024-01-01T10', '20240101']) {
    assert.equal(dateRange(s), null, s);
  }
});

test('a Period runs from its start to its end; a missing end is ongoing, a missing start open', () => {
  assert.deepEqual(periodRange({ start: '2025-07-01T22:30:00Z', end: '2025-07-05T11:00:00Z' }), range('2025-07-01T22:30:00Z', '2025-07-05T11:00:01Z'));
  assert.deepEqual(periodRange({ start: '2024-01-01' }, 'UTC'), { lo: at('2024-01-01T00:00:00Z'), hi: Number.POSITIVE_INFINITY });
  assert.deepEqual(periodRange({ end: '2024-01-01' }, 'UTC'), { lo: Number.NEGATIVE_INFINITY, hi: at('2024-01-02T00:00:00Z') });
  assert.equal(periodRange({}), null);
  assert.equal(periodRange({ start: '2024-02-01', end: '2024-01-01' }), null, 'an end before the start is no period');
});

test('prefixes, against the year 2024 (https://hl7.org/fhir/R4/search.html#prefix)', () => {
  const year = dateRange('2024', 'UTC')!;
  const now = at('2025-06-01T00:00:00Z');
  const targets: Record<string, Range> = {
    inside: range('2024-05-01T00:00:00Z', '2024-05-02T00:00:00Z'),
    whole: year,
    straddlesEnd: range('2024-12-20T00:00:00Z', '2025-01-10T00:00:00Z'),
    straddlesStart: range('2023-12-20T00:00:00Z', '2024-01-10T00:00:00Z'),
    after: range('2025-03-01T00:00:00Z', '2025-03-02T00:00:00Z'),
    before: range('2023-02-01T00:00:00Z', '2023-02-02T00:00:00Z'),
    covers: range('2023-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
    ongoingFrom2020: { lo: at('2020-01-01T00:00:00Z'), hi: Number.POSITIVE_INFINITY },
  };
  const expected: Record<Prefix, string[]> = {
    eq: ['inside', 'whole'],
    ne: ['straddlesEnd', 'straddlesStart', 'after', 'before', 'covers', 'ongoingFrom2020'],
    gt: ['straddlesEnd', 'after', 'covers', 'ongoingFrom2020'],
    lt: ['straddlesStart', 'before', 'covers', 'ongoingFrom2020'],
    ge: ['inside', 'whole', 'straddlesEnd', 'after', 'covers', 'ongoingFrom2020'],
    le: ['inside', 'whole', 'straddlesStart', 'before', 'covers', 'ongoingFrom2020'],
    sa: ['after'],
    eb: ['before'],
    // Now is mid-2025: a tenth of the distance widens 2024 by about a month either side.
    ap: ['inside', 'whole', 'straddlesEnd', 'straddlesStart', 'covers', 'ongoingFrom2020'],
  };
  for (const [prefix, names] of Object.entries(expected) as [Prefix, string[]][]) {
    const got = Object.entries(targets).filter(([, t]) => rangeMatches(prefix, year, t, now)).map(([n]) => n);
    assert.deepEqual(got, names, prefix);
  }
  // ap reaches further for dates far from now.
  const ten = dateRange('2015-06-01', 'UTC')!;
  assert.equal(rangeMatches('ap', ten, range('2015-11-01T00:00:00Z', '2015-11-02T00:00:00Z'), now), true, 'ten years ago: within a year');
  assert.equal(rangeMatches('ap', ten, range('2017-06-01T00:00:00Z', '2017-06-02T00:00:00Z'), now), false);
});
