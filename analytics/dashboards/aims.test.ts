import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meets, monthsBetween, trackAim, type SeriesValue } from './aims.ts';

const aim = { target: 25, by: '2027-03-31', statement: '25 people with a care plan by March' };
const series = (values: (number | null)[], from = '2026-04'): SeriesValue[] =>
  values.map((value, i) => {
    const d = new Date(`${from}-01T00:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() + i);
    return { month: d.toISOString().slice(0, 7), value };
  });

test('monthsBetween and meets', () => {
  assert.equal(monthsBetween('2026-04', '2027-03'), 11);
  assert.equal(monthsBetween('2026-12', '2026-01'), -11);
  assert.ok(meets(25, 25, 'higher-is-better'));
  assert.ok(!meets(24, 25, 'higher-is-better'));
  assert.ok(meets(3, 5, 'lower-is-better'));
  assert.ok(meets(5, 5, 'neither'));
});

test('a straight trajectory from the baseline to the target; each month on track or behind', () => {
  // Baseline 3 in April 2026, target 25 by March 2027: 2 a month.
  const p = trackAim(aim, 'higher-is-better', series([3, 6, 6, 10]), '2026-07-15');
  assert.deepEqual(p.months.map((m) => m.trajectory), [3, 5, 7, 9]);
  assert.deepEqual(p.months.map((m) => m.status), ['on-track', 'on-track', 'behind', 'on-track']);
  assert.equal(p.status, 'on-track');
  assert.deepEqual(p.baseline, { month: '2026-04', value: 3 });
  assert.deepEqual(p.latest, { month: '2026-07', value: 10 });
  assert.equal(p.progress, 0.318); // 7 of 22
});

test('off track, achieved, missed, no data', () => {
  assert.equal(trackAim(aim, 'higher-is-better', series([3, 4, 4, 4]), '2026-07-15').status, 'off-track');
  assert.equal(trackAim(aim, 'higher-is-better', series([3, 12, 26]), '2026-06-20').status, 'achieved');
  const late = trackAim(aim, 'higher-is-better', series([3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 24, 30]), '2027-05-01');
  assert.equal(late.status, 'missed', 'judged on March 2027 (24), not on the later 30');
  assert.equal(late.months.at(-1)!.trajectory, 25, 'after the date the trajectory is the target');
  assert.equal(trackAim(aim, 'higher-is-better', series([3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25]), '2027-04-02').status, 'achieved');
  const none = trackAim(aim, 'higher-is-better', series([null, null]), '2026-06-01');
  assert.equal(none.status, 'no-data');
  assert.equal(none.progress, null);
  assert.deepEqual(none.months.map((m) => m.status), ['no-data', 'no-data']);
});

test('a suppressed month is no data and does not break the line; lower is better', () => {
  const down = { target: 10, by: '2026-12-31', statement: 'at most 10%' };
  const p = trackAim(down, 'lower-is-better', series([null, 20, 19, 12, null, 10], '2026-06'), '2026-12-01');
  assert.deepEqual(p.baseline, { month: '2026-07', value: 20 });
  assert.deepEqual(p.months.map((m) => m.status), ['no-data', 'on-track', 'behind', 'on-track', 'no-data', 'met']);
  assert.equal(p.status, 'achieved');
  assert.equal(p.progress, 1);
});
