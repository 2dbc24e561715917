import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { AS_OF, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

type Report = { resourceType: string; type: string; measure: string; period: { start: string; end: string }; reporter?: { identifier: { value: string } }; extension?: unknown[]; group: { population: { code: { coding: { code: string }[] }; count?: number; extension?: unknown[] }[]; measureScore?: { value: number } }[] };

for (const target of await testDatabases()) {
  test(`FHIR Measure and $evaluate-measure on ${target.name}: the panel measures, a GP's exact summary, an analyst's controlled one, refusals`, async () => {
    const db = await target.open();
    const api = await apiWithUsers(db);
    const { app } = api;
    try {
      await loadCraftedStore(db);
      const get = (url: string, who?: string) => api.get(url, who ? api.bearer[who] : undefined);

      assert.equal((await get('/fhir/Measure')).statusCode, 401);
      const list = (await get('/fhir/Measure', 'dr.who')).json() as Bundle;
      assert.equal(list.total, 4);
      const one = (await get('/fhir/Measure?url=https://bevan.example/fhir/Measure/palliative-preferred-place', 'dr.who')).json() as Bundle;
      assert.deepEqual(one.entry!.map((e) => e.resource!.id), ['palliative-preferred-place']);
      const m = (await get('/fhir/Measure/diabetes-hba1c-75-care-plan', 'dr.who')).json() as { resourceType: string; scoring: { coding: { code: string }[] } };
      assert.deepEqual([m.resourceType, m.scoring.coding[0]!.code], ['Measure', 'proportion']);
      assert.equal((await get('/fhir/Measure/nope', 'dr.who')).statusCode, 404);

      const url = `/fhir/Measure/diabetes-hba1c-75-care-plan/$evaluate-measure?periodStart=2025-04-01&periodEnd=${AS_OF}`;
      const gp = await get(url, 'dr.jones');
      assert.equal(gp.statusCode, 200, gp.body);
      const r = gp.json() as Report;
      assert.deepEqual([r.resourceType, r.type, r.measure, r.period, r.reporter?.identifier.value], ['MeasureReport', 'summary', 'https://bevan.example/fhir/Measure/diabetes-hba1c-75-care-plan', { start: '2025-04-01', end: AS_OF }, 'P91001']);
      const counts = Object.fromEntries(r.group[0]!.population.map((p) => [p.code.coding[0]!.code, p.count]));
      // A (latest HbA1c 80, no care plan) and C (85, a care plan) are the denominator; C the numerator.
      assert.deepEqual(counts, { 'initial-population': 2, denominator: 2, numerator: 1 });
      assert.equal(r.group[0]!.measureScore!.value, 0.5);
      const audit = await db.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor = 'dr.jones' AND action = 'cohort.count'`);
      assert.equal(audit.rows.length, 2, 'each population is a register run, audited');

      // An analyst: counts under 8 are suppressed, so no score.
      const a = (await get(url, 'ann')).json() as Report;
      assert.ok(a.extension && a.group[0]!.population.every((p) => p.count === undefined && p.extension));
      assert.equal(a.group[0]!.measureScore, undefined);
      const big = (await get(`/fhir/Measure/frequent-ae-attenders/$evaluate-measure?periodEnd=${AS_OF}`, 'ann')).json() as Report;
      const den = big.group[0]!.population.find((p) => p.code.coding[0]!.code === 'denominator')!;
      assert.equal(den.count! % 5, 0, 'rounded to 5');

      assert.equal((await get(url, 'dr.who')).statusCode, 403);
      assert.equal((await get(`${url}&reportType=subject-list`, 'dr.jones')).statusCode, 400);
      assert.equal((await get('/fhir/Measure/diabetes-hba1c-75-care-plan/$evaluate-measure?periodEnd=soon', 'dr.jones')).statusCode, 400);
      assert.equal((await get('/fhir/Measure/diabetes-hba1c-75-care-plan/$evaluate-measure?practice=P91002', 'dr.jones')).statusCode, 403);

      const cap = (await get('/fhir/metadata')).json() as { rest: { resource: { type: string; operation?: { name: string }[] }[] }[] };
      assert.ok(cap.rest[0]!.resource.find((x) => x.type === 'Measure')!.operation!.some((o) => o.name === 'evaluate-measure'));
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
