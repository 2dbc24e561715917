import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlledTotal, disclosureControl, showControlled } from './sdc.ts';

test('counts 1–7 are suppressed, 0 stays 0, others round to the nearest 5', () => {
  const cases: [number, number | null][] = [[0, 0], [1, null], [5, null], [7, null], [8, 10], [10, 10], [12, 10], [13, 15], [17, 15], [18, 20], [22, 20], [23, 25], [1234, 1235], [1232, 1230]];
  for (const [n, want] of cases) assert.equal(disclosureControl(n), want, `count ${n}`);
});

test('bad counts are refused', () => {
  assert.throws(() => disclosureControl(-1), /whole number/);
  assert.throws(() => disclosureControl(2.5), /whole number/);
});

test('totals behind fewer than 8 people are suppressed; others rounded to 5', () => {
  assert.equal(controlledTotal(1234.4, 3), null);
  assert.equal(controlledTotal(1234.4, 8), 1235);
  assert.equal(controlledTotal(0, 0), 0);
  assert.equal(showControlled(null), '*');
  assert.equal(showControlled(15), '15');
});
