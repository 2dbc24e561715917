import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeepingNumberText, usesBoundaries, writtenNumber } from './number-text.ts';
import { runSpecTestFile, type SpecTestFile } from './spec-tests.ts';

test('JSON read keeping number text: the same values as JSON.parse, and the text where the value does not spell it', () => {
  const text = '{"a": 1.0, "b": [15.080, "x", 2, 3.50, -0, 1e2], "c": {"d": null, "e": true, "f": 0.1, "g": "1.0"}, "__proto__": {"x": 1}}';
  const v = parseKeepingNumberText(text) as { a: number; b: unknown[]; c: Record<string, unknown> };
  assert.deepEqual(v, JSON.parse(text));
  assert.equal(Object.getPrototypeOf(v), Object.prototype, '__proto__ is an own property, as JSON.parse makes it');
  assert.equal(writtenNumber(v, 'a'), '1.0');
  assert.equal(writtenNumber(v.b, 0), '15.080');
  assert.equal(writtenNumber(v.b, 3), '3.50');
  assert.equal(writtenNumber(v.b, 5), '1e2');
  assert.equal(writtenNumber(v.b, 2), undefined, '2 is spelt by its value');
  assert.equal(writtenNumber(v.c, 'f'), undefined);
  assert.equal(writtenNumber(v.c, 'g'), undefined, 'a string is not a number');
  assert.equal(parseKeepingNumberText('42'), 42);
  for (const bad of ['{"a": 1', '[1] x', '', '{"a": 01}']) assert.throws(() => parseKeepingNumberText(bad), SyntaxError, bad);
});

test('highBoundary() of a decimal read as written: 1.0 stands for up to 1.09999999, 1 for up to 1.99999999 (fn_boundary o1)', () => {
  const text = JSON.stringify({
    title: 'decimal boundaries as written',
    resources: [
      { resourceType: 'Observation', id: 'one-place', status: 'final', code: { text: 'x' }, valueQuantity: { value: '@1.0@' } },
      { resourceType: 'Observation', id: 'whole', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1 } },
      { resourceType: 'Observation', id: 'zeros', status: 'final', code: { text: 'x' }, valueQuantity: { value: '@15.080@' } },
      { resourceType: 'Observation', id: 'component', status: 'final', code: { text: 'x' }, component: [{ code: { text: 'a' }, valueQuantity: { value: '@2.50@' } }] },
    ],
    tests: [
      {
        title: 'high and low',
        view: {
          resource: 'Observation',
          select: [{ column: [
            { name: 'id', path: 'id' },
            { name: 'high', path: 'value.ofType(Quantity).value.highBoundary()', type: 'decimal' },
            { name: 'low', path: 'value.ofType(Quantity).value.lowBoundary()', type: 'decimal' },
            { name: 'component', path: 'component.value.ofType(Quantity).value.highBoundary()', type: 'decimal' },
          ] }],
        },
        expect: [
          { id: 'one-place', high: 1.09999999, low: 1, component: null },
          { id: 'whole', high: 1.99999999, low: 1, component: null },
          { id: 'zeros', high: 15.08099999, low: 15.08, component: null },
          { id: 'component', high: null, low: null, component: 2.50999999 },
        ],
      },
    ],
  }).replace(/"@([\d.]+)@"/g, '$1');
  assert.match(text, /"value":1\.0\}/, 'the file holds 1.0 as written');
  assert.ok(usesBoundaries((JSON.parse(text) as SpecTestFile).tests[0]!.view));
  assert.equal(usesBoundaries({ resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id' }] }] }), false);
  for (const fastPath of [true, false]) {
    const r = runSpecTestFile(parseKeepingNumberText(text) as SpecTestFile, { fastPath });
    assert.ok(r.results[0]!.passed, `${r.results[0]!.message} ${JSON.stringify(r.results[0]!.observed)}`);
  }
  // Read with JSON.parse, 1.0 is the number 1: its boundary is that of 1.
  const lossy = runSpecTestFile(JSON.parse(text) as SpecTestFile);
  assert.equal(lossy.results[0]!.passed, false);
  assert.equal(lossy.results[0]!.observed!.find((row) => row.id === 'one-place')!.high, 1.99999999);
});
