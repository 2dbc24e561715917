import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { chartSeries } from './charts.ts';
import { RESOURCES } from './test-bundle.ts';

const obs = RESOURCES.filter((r): r is Observation => r.resourceType === 'Observation');

test('charts: HbA1c, eGFR, blood pressure and weight series with reference bands', () => {
  const h = chartSeries(obs, 'hba1c');
  assert.deepEqual(h.points.map((p) => p.value), [52, 61], 'oldest first, from both sources');
  assert.deepEqual([h.band?.low, h.band?.high], [20, 41], "the laboratory's own range");
  const bp = chartSeries(obs, 'bp');
  assert.deepEqual(bp.points.map((p) => [p.value, p.value2]), [[150, 92]]);
  assert.equal(bp.band?.high, 140);
  const e = chartSeries(obs, 'egfr');
  assert.deepEqual(e.points.map((p) => p.value), [48]);
  assert.equal(e.band?.low, 90);
  const w = chartSeries(obs, 'weight');
  assert.deepEqual(w.points.map((p) => p.value), [82]);
  assert.deepEqual([w.band?.low, w.band?.high], [56.7, 76.3], 'BMI 18.5 to 24.9 at 175 cm');
  // No height: no weight band. The same measurement from two feeds is charted once.
  const dup = { ...obs[0]!, id: 'dup', meta: { source: 'hl7:RM2' } };
  assert.equal(chartSeries([...obs.filter((o) => o.id !== 'o5'), dup], 'weight').band, null);
  assert.equal(chartSeries([...obs, dup], 'hba1c').points.length, 2);
  // A result by name alone (a source that sends no code) still charts; other tests do not.
  const named: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'HbA1c' }, valueQuantity: { value: 47 }, effectiveDateTime: '2023-01-01' };
  assert.equal(chartSeries([named], 'hba1c').points.length, 1);
  assert.equal(chartSeries([named], 'egfr').points.length, 0);
  assert.equal(chartSeries([{ ...named, status: 'entered-in-error' }], 'hba1c').points.length, 0);
});
