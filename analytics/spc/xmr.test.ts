import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assuranceFor, signalFor, xmrChart, type Point } from './xmr.ts';

const pts = (values: number[]): Point[] => values.map((value, i) => ({ label: `m${i + 1}`, value }));
const flagged = (chart: ReturnType<typeof xmrChart>, rule: string) =>
  chart.points.flatMap((p, i) => (p.rules.includes(rule as never) ? [i] : []));
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('limits: mean ± 2.66 × mean moving range, two-thirds lines, moving ranges', () => {
  // mean 58/5 = 11.6; moving ranges 2,1,2,1 → 1.5; 2.66 × 1.5 = 3.99
  const c = xmrChart(pts([10, 12, 11, 13, 12]), { polarity: 'higher-is-better' });
  close(c.mean, 11.6);
  close(c.meanMovingRange, 1.5);
  close(c.upperProcessLimit, 15.59);
  close(c.lowerProcessLimit, 7.61);
  close(c.upperTwoThirds, 11.6 + 2.66);
  close(c.lowerTwoThirds, 11.6 - 2.66);
  assert.deepEqual(c.points.map((p) => p.movingRange), [null, 2, 1, 2, 1]);
  assert.ok(c.points.every((p) => p.rules.length === 0 && p.signal === 'neutral' && p.direction === null));
  assert.equal(c.latestVariation, 'neutral');
});

test('astronomical point beyond the upper limit, limits from a baseline', () => {
  // baseline 5,6,5,6,5,6,5,6: mean 5.5, mean MR 1 → limits 2.84 … 8.16
  const c = xmrChart(pts([5, 6, 5, 6, 5, 6, 5, 6, 20]), { polarity: 'lower-is-better', baselinePoints: 8 });
  close(c.mean, 5.5);
  close(c.upperProcessLimit, 8.16);
  assert.deepEqual(flagged(c, 'astronomical'), [8]);
  assert.deepEqual(flagged(c, 'shift'), []);
  assert.deepEqual(flagged(c, 'twoOfThree'), []); // only one point beyond two-thirds
  assert.equal(c.points[8]!.direction, 'high');
  assert.equal(c.points[8]!.signal, 'concern'); // high is bad when lower is better
  assert.equal(c.latestVariation, 'concern');
});

test('astronomical point below the lower limit is improvement when lower is better', () => {
  const c = xmrChart(pts([5, 6, 5, 6, 5, 6, 5, 6, 1]), { polarity: 'lower-is-better', baselinePoints: 8 });
  assert.deepEqual(flagged(c, 'astronomical'), [8]);
  assert.equal(c.points[8]!.signal, 'improvement');
});

test('shift: 7 points in a row above the mean; 6 are not enough', () => {
  // baseline 10,12,10,12,10,12,10: mean 76/7 ≈ 10.857, MR 2
  const base = [10, 12, 10, 12, 10, 12, 10];
  const seven = xmrChart(pts([...base, 11.5, 12, 11.5, 12, 11.5, 12, 11.5]), { polarity: 'higher-is-better', baselinePoints: 7 });
  assert.deepEqual(flagged(seven, 'shift'), [7, 8, 9, 10, 11, 12, 13]);
  assert.ok(seven.points.slice(7).every((p) => p.signal === 'improvement' && p.direction === 'high'));
  assert.ok(seven.points.slice(0, 7).every((p) => p.signal === 'neutral'));
  const six = xmrChart(pts([...base, 11.5, 12, 11.5, 12, 11.5, 12]), { polarity: 'higher-is-better', baselinePoints: 7 });
  assert.deepEqual(flagged(six, 'shift'), []);
});

test('shift: a point exactly on the mean breaks the run', () => {
  // mean of the baseline 9,11,9,11 is 10; then 11,11,11,10,11,11,11 → runs of 3 and 3
  const c = xmrChart(pts([9, 11, 9, 11, 11, 11, 11, 10, 11, 11, 11]), { polarity: 'neither', baselinePoints: 4 });
  close(c.mean, 10);
  assert.deepEqual(flagged(c, 'shift'), []);
});

test('shift below the mean on a "neither" measure is neutral but still a special cause', () => {
  const c = xmrChart(pts([10, 12, 10, 12, 10, 12, 10, 12, 9.5, 10, 9.5, 10, 9.5, 10, 9.5]), { polarity: 'neither', baselinePoints: 8 });
  assert.deepEqual(flagged(c, 'shift'), [8, 9, 10, 11, 12, 13, 14]);
  assert.ok(c.points.slice(8).every((p) => p.direction === 'low' && p.signal === 'neutral'));
});

test('trend: 7 points each rising; 6 are not; an equal value breaks the run', () => {
  // baseline 10,14,10,14,10,14: mean 12, MR 4 → limits 1.36 … 22.64, two-thirds 19.09
  const base = [10, 14, 10, 14, 10, 14];
  const c = xmrChart(pts([...base, 9, 10, 11, 12, 13, 14, 15]), { polarity: 'lower-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(c, 'trend'), [6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(flagged(c, 'shift'), []);
  assert.deepEqual(flagged(c, 'astronomical'), []);
  assert.ok(c.points.slice(6).every((p) => p.signal === 'concern'));
  const six = xmrChart(pts([...base, 9, 10, 11, 12, 13, 14]), { polarity: 'lower-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(six, 'trend'), []);
  const broken = xmrChart(pts([...base, 15, 14, 13, 13, 12, 11, 10, 9]), { polarity: 'lower-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(broken, 'trend'), []); // 15,14,13 then 13,12,11,10,9: 3 and 5
  const falling = xmrChart(pts([...base, 15, 14, 13, 12, 11, 10, 9]), { polarity: 'lower-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(falling, 'trend'), [6, 7, 8, 9, 10, 11, 12]);
  assert.equal(falling.points[12]!.signal, 'improvement');
});

test('two of three beyond two-thirds on the same side flags those two points only', () => {
  // baseline 10,12,10,12,10,12: mean 11, MR 2 → upper two-thirds 14.547, UPL 16.32
  const base = [10, 12, 10, 12, 10, 12];
  const c = xmrChart(pts([...base, 15, 11, 15]), { polarity: 'higher-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(c, 'twoOfThree'), [6, 8]);
  assert.deepEqual(flagged(c, 'astronomical'), []);
  assert.equal(c.points[6]!.signal, 'improvement');
  assert.equal(c.points[7]!.signal, 'neutral');
  const apart = xmrChart(pts([...base, 15, 11, 11, 15]), { polarity: 'higher-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(apart, 'twoOfThree'), []);
  const low = xmrChart(pts([...base, 7, 11, 7]), { polarity: 'higher-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(low, 'twoOfThree'), [6, 8]);
  assert.equal(low.points[8]!.signal, 'concern');
  const opposite = xmrChart(pts([...base, 15, 7, 11]), { polarity: 'higher-is-better', baselinePoints: 6 });
  assert.deepEqual(flagged(opposite, 'twoOfThree'), []); // one each side is not the same side
});

test('a point flagged by rules in both directions takes its side of the mean', () => {
  // 1..7 rising: mean 4, MR 1 → limits 1.34 … 6.66; 1 is below the lower limit, and in a rising trend
  const c = xmrChart(pts([1, 2, 3, 4, 5, 6, 7]), { polarity: 'higher-is-better' });
  assert.deepEqual(flagged(c, 'trend'), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(flagged(c, 'astronomical'), [0, 6]);
  assert.deepEqual(flagged(c, 'twoOfThree'), [0, 1, 5, 6]);
  assert.equal(c.points[0]!.direction, 'low');
  assert.equal(c.points[0]!.signal, 'concern');
  assert.equal(c.points[6]!.signal, 'improvement');
});

test('tolerance band per measure marks the points outside it', () => {
  const c = xmrChart(pts([10, 12, 11, 13, 12]), { polarity: 'higher-is-better', tolerance: { lower: 10.5, upper: 12.5 } });
  assert.deepEqual(c.points.map((p) => p.outsideTolerance), [true, false, false, true, false]);
});

test('assurance: target inside the limits is hit and miss, outside passes or fails by polarity', () => {
  const base = { polarity: 'higher-is-better' as const };
  const series = pts([10, 12, 11, 13, 12]); // limits 7.61 … 15.59
  assert.equal(xmrChart(series, { ...base, target: 5 }).assurance, 'consistently-passes');
  assert.equal(xmrChart(series, { ...base, target: 20 }).assurance, 'consistently-fails');
  assert.equal(xmrChart(series, { ...base, target: 11 }).assurance, 'hit-and-miss');
  assert.equal(xmrChart(series, { polarity: 'lower-is-better', target: 5 }).assurance, 'consistently-fails');
  assert.equal(xmrChart(series, { polarity: 'lower-is-better', target: 20 }).assurance, 'consistently-passes');
  assert.equal(xmrChart(series, base).assurance, 'no-target');
  assert.equal(assuranceFor(7.61, 'higher-is-better', 7.61, 15.59), 'hit-and-miss'); // on the limit
});

test('signalFor by polarity', () => {
  assert.equal(signalFor('high', 'higher-is-better'), 'improvement');
  assert.equal(signalFor('low', 'higher-is-better'), 'concern');
  assert.equal(signalFor('high', 'lower-is-better'), 'concern');
  assert.equal(signalFor('high', 'neither'), 'neutral');
  assert.equal(signalFor(null, 'higher-is-better'), 'neutral');
});

test('bad input: too few points, non-finite values, a baseline out of range', () => {
  assert.throws(() => xmrChart(pts([1]), { polarity: 'neither' }), /at least 2 points/);
  assert.throws(() => xmrChart(pts([1, Number.NaN]), { polarity: 'neither' }), /"m2" has no finite value/);
  assert.throws(() => xmrChart(pts([1, 2, 3]), { polarity: 'neither', baselinePoints: 1 }), /baselinePoints/);
  assert.throws(() => xmrChart(pts([1, 2, 3]), { polarity: 'neither', baselinePoints: 4 }), /baselinePoints/);
});
