import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TARGETS, measureLocality, type Measurement } from './calibration.ts';

// A 20,000-person locality is large enough for the rates to be stable (the smallest, dementia at
// 0.75 %, is ~150 people) and is measured in memory in about 10 s of CPU.
let m: Measurement;
before(() => {
  m = measureLocality(20_000, 42, '2025-12-31');
});

test('every calibrated figure is within its band of the published value (docs/synthetic-population.md)', () => {
  const misses = TARGETS.filter((t) => !(m.figures[t.key]! >= t.low && m.figures[t.key]! <= t.high)).map((t) => `${t.label}: ${m.figures[t.key]!.toFixed(2)} (target ${t.target}, ${t.low.toFixed(2)}–${t.high.toFixed(2)})`);
  assert.deepEqual(misses, []);
});

test('nothing that cannot happen happens', () => {
  const nonZero = Object.entries(m.impossible).filter(([, n]) => n !== 0);
  assert.deepEqual(nonZero, []);
  // The rules were exercised, not vacuously true.
  assert.ok(m.figures.birthsPer1000! > 5 && m.figures.mmr1At24Months! > 50 && m.figures.dementia! > 0.3);
});
