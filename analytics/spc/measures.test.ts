import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chartMeasure, parseMeasures } from './measures.ts';

test('the shipped measures parse', () => {
  const ms = parseMeasures(JSON.parse(readFileSync(new URL('./measures.json', import.meta.url), 'utf8')));
  assert.ok(ms.length >= 5);
  assert.equal(ms.find((m) => m.id === 'diabetes-hba1c-75-care-plan')!.aim!.target, 25);
});

test('bad measures: every problem named', () => {
  assert.throws(() => parseMeasures({}), /expected a JSON array/);
  assert.throws(
    () => parseMeasures([{ id: 'a', title: 't', panel: 'p', unit: 'u', polarity: 'up', colour: 1, tolerance: { lower: 3, upper: 1 } }, { id: 'a', title: 't', panel: 'p', unit: 'u', polarity: 'neither', aim: { target: '5', by: 'March' } }]),
    (e: Error) =>
      /unknown field "colour"/.test(e.message) && /polarity: expected one of/.test(e.message) && /lower is above upper/.test(e.message) &&
      /duplicate "a"/.test(e.message) && /aim.target: expected a number/.test(e.message) && /aim.by: expected a date/.test(e.message),
  );
});

test('chartMeasure applies the tolerance and the aim', () => {
  const [m] = parseMeasures([{ id: 'x', title: 'x', panel: 'p', unit: 'people', polarity: 'higher-is-better', tolerance: { lower: 11 }, aim: { target: 5, by: '2027-03-31', statement: 's' } }]);
  const c = chartMeasure(m!, [10, 12, 11, 13, 12].map((value, i) => ({ label: `2026-0${i + 1}`, value })));
  assert.equal(c.assurance, 'consistently-passes'); // target 5 below the lower limit 7.61
  assert.deepEqual(c.points.map((p) => p.outsideTolerance), [true, false, false, false, false]);
  assert.equal(c.measure.id, 'x');
});
