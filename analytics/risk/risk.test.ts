import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLogistic, predict, solveSymmetric } from './logistic.ts';
import { calibrationByDecile, cStatistic, topPercent, validationMetrics } from './metrics.ts';
import { topFactors } from './explain.ts';
import { efiBand, parseCodeLists, CodeListError, loadCodeLists } from './code-lists.ts';
import { defaultValidationIndexDate } from './model.ts';
import { addMonths } from './features.ts';
import { simulationWindow } from '../../synth/population.ts';
import { isoDate } from '../../synth/dates.ts';

test('Cholesky solve of a known 3×3 system', () => {
  // [[4,2,0],[2,5,1],[0,1,3]] · [1,2,3] = [8,15,11]
  const s = solveSymmetric(new Float64Array([4, 2, 0, 2, 5, 1, 0, 1, 3]), new Float64Array([8, 15, 11]), 3);
  assert.deepEqual([...s].map((v) => Math.round(v * 1e10) / 1e10), [1, 2, 3]);
});

test('IRLS without penalty reproduces the closed-form fit of one binary term', () => {
  // x = 0: 2 of 10 admitted; x = 1: 6 of 10. The MLE is the two groups' log-odds.
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 10; i++) (x.push([0]), y.push(i < 2 ? 1 : 0));
  for (let i = 0; i < 10; i++) (x.push([1]), y.push(i < 6 ? 1 : 0));
  const fit = fitLogistic(x, y, { l2: 0 });
  assert.ok(fit.converged);
  assert.ok(Math.abs(fit.intercept - Math.log(0.2 / 0.8)) < 1e-9, String(fit.intercept));
  assert.ok(Math.abs(fit.coefficients[0]! - (Math.log(0.6 / 0.4) - Math.log(0.2 / 0.8))) < 1e-9);
  assert.ok(Math.abs(predict(fit, [1]) - 0.6) < 1e-9);
});

test('IRLS recovers known coefficients from simulated data; L2 shrinks them', () => {
  // A deterministic linear congruential generator, so the test is the same on every run.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const a = rand() * 2 - 1;
    const b = rand() < 0.3 ? 1 : 0;
    const p = 1 / (1 + Math.exp(-(-1 + 1.5 * a + 0.8 * b)));
    x.push([a, b]);
    y.push(rand() < p ? 1 : 0);
  }
  const fit = fitLogistic(x, y, { l2: 0 });
  assert.ok(Math.abs(fit.intercept + 1) < 0.08, `intercept ${fit.intercept}`);
  assert.ok(Math.abs(fit.coefficients[0]! - 1.5) < 0.08, `a ${fit.coefficients[0]}`);
  assert.ok(Math.abs(fit.coefficients[1]! - 0.8) < 0.08, `b ${fit.coefficients[1]}`);
  const shrunk = fitLogistic(x, y, { l2: 5000 });
  assert.ok(Math.abs(shrunk.coefficients[0]!) < Math.abs(fit.coefficients[0]!));
  assert.ok(Math.abs(shrunk.coefficients[1]!) < Math.abs(fit.coefficients[1]!));
});

test('a rare binary term, where a full Newton step overshoots, still converges to the group log-odds (step halving)', () => {
  // 1 in 40 people have the term; half of them are admitted, against 1 in 13 of the rest.
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 10000; i++) {
    const a = i % 40 === 0 ? 1 : 0;
    x.push([a]);
    y.push(a ? (i % 80 === 0 ? 1 : 0) : i % 13 === 0 ? 1 : 0);
  }
  const fit = fitLogistic(x, y, { l2: 0 });
  assert.ok(fit.converged);
  const rest = y.filter((v, i) => !x[i]![0] && v).length / x.filter((r) => !r[0]).length;
  assert.ok(Math.abs(fit.intercept - Math.log(rest / (1 - rest))) < 1e-8);
  assert.ok(Math.abs(fit.intercept + fit.coefficients[0]!) < 1e-8, 'the group with the term: log-odds 0 (half admitted)');
});

test('a perfectly separating term does not blow up under L2; bad input is refused', () => {
  const fit = fitLogistic([[0], [0], [1], [1]], [0, 0, 1, 1], { l2: 1 });
  assert.ok(Number.isFinite(fit.coefficients[0]!) && fit.coefficients[0]! > 0);
  assert.throws(() => fitLogistic([], []), /no rows/);
  assert.throws(() => fitLogistic([[1], [2]], [0, 0]), /nothing to learn/);
  assert.throws(() => fitLogistic([[1], [2]], [0, 2]), /0 or 1/);
});

test('c-statistic: perfect, inverted, random ties, and a hand-counted case', () => {
  assert.equal(cStatistic([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
  assert.equal(cStatistic([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
  assert.equal(cStatistic([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
  // Pairs (pos, neg): (0.4 vs 0.1 ✓, 0.4 vs 0.6 ✗, 0.4 vs 0.4 ½), (0.7 vs all three ✓): 4.5 / 6.
  assert.equal(cStatistic([0.1, 0.6, 0.4, 0.4, 0.7], [0, 0, 0, 1, 1]), 4.5 / 6);
  assert.throws(() => cStatistic([0.1, 0.2], [1, 1]), /with and without/);
});

test('calibration by decile, PPV and sensitivity at the top', () => {
  const predicted = Array.from({ length: 100 }, (_, i) => i / 100);
  const outcomes = predicted.map((_, i) => (i >= 90 || i % 10 === 0 ? 1 : 0));
  const cal = calibrationByDecile(predicted, outcomes);
  assert.equal(cal.length, 10);
  assert.equal(cal[0]!.people, 10);
  assert.ok(Math.abs(cal[0]!.predicted - 0.045) < 1e-12);
  assert.equal(cal[0]!.observedCount, 1);
  assert.equal(cal[9]!.observedCount, 10);
  assert.equal(cal[9]!.observed, 1);
  const top5 = topPercent(predicted, outcomes, 5);
  assert.equal(top5.people, 5);
  assert.equal(top5.ppv, 1);
  assert.equal(top5.sensitivity, 5 / 19);
  const half = topPercent(predicted, outcomes, 0.5);
  assert.equal(half.people, 1);
  const m = validationMetrics(predicted, outcomes);
  assert.deepEqual(Object.keys(m.ppv).sort(), ['0.5', '1', '5']);
  assert.equal(m.admitted, 19);
});

test('top factors: contributions against the average person, largest first, only those that raise the risk', () => {
  const terms = [
    { name: 'a', label: 'A', coefficient: 1, mean: 0.5 },
    { name: 'b', label: 'B', coefficient: 2, mean: 0 },
    { name: 'c', label: 'C', coefficient: -1, mean: 0 },
    { name: 'd', label: 'D', coefficient: 0.1, mean: 0 },
  ];
  const f = topFactors(terms, [1, 1, 1, 1], 2);
  assert.deepEqual(f.map((x) => x.name), ['b', 'a']);
  assert.equal(f[0]!.contribution, 2);
  assert.equal(f[1]!.contribution, 0.5);
  assert.equal(f[0]!.oddsRatio, Math.round(Math.exp(2) * 1000) / 1000);
});

test('eFI bands and the shipped code lists: 36 deficits, derived polypharmacy and care', () => {
  assert.equal(efiBand(0), 'fit');
  assert.equal(efiBand(0.12), 'fit');
  assert.equal(efiBand(5 / 36), 'mild');
  assert.equal(efiBand(0.24), 'mild');
  assert.equal(efiBand(0.3), 'moderate');
  assert.equal(efiBand(13 / 36), 'severe');
  const lists = loadCodeLists();
  assert.equal(lists.efiDeficits.length, 36);
  assert.equal(lists.efiDeficits.find((d) => d.number === 26)!.derived, 'polypharmacy');
  assert.equal(lists.efiDeficits.find((d) => d.number === 27)!.derived, 'care-package');
  assert.ok(lists.conditionKinds.includes('copd') && lists.conditionKinds.includes('heart-failure'));
  assert.throws(
    () => parseCodeLists({ longTermConditions: 'kind,code,display,confidence\nCOPD,abc,x,high\n', efiDeficits: 'number,deficit,code,display,confidence\n1,A,123456,x,high\n', featureCodes: 'feature,code,display,confidence\nhba1c,123456,x,high\n' }),
    (err: unknown) => err instanceof CodeListError && /kind "COPD"/.test(err.message) && /"abc" is not a SNOMED CT code/.test(err.message) && /deficit 2 is missing/.test(err.message) && /no code for egfr/.test(err.message),
  );
});

test('dates: months added at month ends; the default validation year is the 12 months ending on the data’s last day', () => {
  assert.equal(addMonths('2024-01-31', 1), '2024-02-29');
  assert.equal(addMonths('2025-01-01', -12), '2024-01-01');
  // A locality generated until 31 December: the calendar year.
  assert.equal(defaultValidationIndexDate('2025-12-31'), '2025-01-01');
  // Until 3 December (bevan generate --until 2026-12-03): the window's years start on 4 December.
  assert.equal(defaultValidationIndexDate('2026-12-03'), '2025-12-04');
  // Never rounded up past the data's end (the outcome year would be short of its last days).
  assert.equal(defaultValidationIndexDate('2025-12-20'), '2024-12-21');
  assert.equal(defaultValidationIndexDate('2025-11-30'), '2024-12-01');
  // The day after 28 February in a leap year is 29 February; a year before it, 28 February.
  assert.equal(defaultValidationIndexDate('2024-02-28'), '2023-02-28');
});

test('dates: the default validation year is one of the generator’s truth years, whatever its last day', () => {
  for (const end of ['2025-12-31', '2026-12-03', '2026-06-30', '2024-02-29', '2028-02-28', '2023-03-01']) {
    const window = simulationWindow(end);
    const last = window.years[window.years.length - 1]!;
    assert.equal(defaultValidationIndexDate(end), isoDate(last.start), end);
  }
});
