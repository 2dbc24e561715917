import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, riskPopulation } from '../analytics/risk/fixtures.ts';
import { fitRiskModel, scoreRiskPopulation } from '../analytics/risk/model.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

for (const target of await testDatabases()) {
  test(`risk routes on ${target.name}: the model, a GP's identified list, an analyst's pseudonymised one, refusals, OpenAPI`, async () => {
    const db = await target.open();
    const { app, bearer, get } = await apiWithUsers(db);
    try {
      const gp = bearer['dr.jones']!;
      const analyst = bearer.ann!;
      const consultant = bearer['dr.who']!;

      assert.equal((await get('/analytics/risk/model')).statusCode, 401);
      const none = await get('/analytics/risk/model', gp);
      assert.equal(none.statusCode, 404, 'no model fitted yet');
      assert.match(none.body, /bevan risk fit/);

      await load(db, riskPopulation());
      await fitRiskModel(db, { validationIndexDate: '2025-01-01' });
      const empty = (await get('/analytics/risk/cohort', gp)).json() as { run: unknown; people: unknown[] };
      assert.deepEqual({ run: empty.run, people: empty.people }, { run: null, people: [] }, 'fitted but not scored: nobody listed');
      await scoreRiskPopulation(db, { asOf: '2025-07-01' });
      await scoreRiskPopulation(db, { asOf: '2026-01-01' });

      const model = await get('/analytics/risk/model', analyst);
      assert.equal(model.statusCode, 200, model.body);
      const m = model.json() as { version: number; terms: { name: string; coefficient: number }[]; metrics: { cStatistic: number; calibration: unknown[]; ppv: Record<string, number> } };
      assert.equal(m.version, 1);
      assert.ok(m.terms.some((t) => t.name === 'condition:copd'));
      assert.equal(m.metrics.calibration.length, 10);
      assert.ok(m.metrics.ppv['1']! >= 0);
      assert.equal((await get('/analytics/risk/model', consultant)).statusCode, 403);

      const list = await get('/analytics/risk/cohort?tier=20', gp);
      assert.equal(list.statusCode, 200, list.body);
      const l = list.json() as { view: string; practice: string; run: { indexDate: string }; people: { personId: string; record: string; nhsNumber: string; tier: string; factors: { label: string }[]; history: { indexDate: string }[] }[] };
      assert.equal(l.view, 'identified');
      assert.equal(l.practice, 'P91001');
      assert.equal(l.run.indexDate, '2026-01-01');
      assert.ok(l.people.length > 10);
      assert.ok(l.people[0]!.record === `Patient/${l.people[0]!.personId}` && l.people[0]!.nhsNumber);
      assert.ok(l.people[0]!.factors.length > 0 && l.people[0]!.factors[0]!.label);
      assert.deepEqual(l.people[0]!.history.map((h) => h.indexDate), ['2025-07-01', '2026-01-01']);
      assert.equal((await get('/analytics/risk/cohort?practice=P91002', gp)).statusCode, 403);
      assert.equal((await get('/analytics/risk/cohort?tier=3', gp)).statusCode, 400);
      assert.equal((await get("/analytics/risk/cohort?practice=P9'--", gp)).statusCode, 400);
      assert.equal((await get('/analytics/risk/cohort', consultant)).statusCode, 403);

      const p = (await get('/analytics/risk/cohort?practice=P91002&tier=20', analyst)).json() as { view: string; people: Record<string, unknown>[] };
      assert.equal(p.view, 'pseudonymised');
      assert.ok(p.people.length > 0);
      assert.ok(p.people.every((x) => typeof x.pseudonym === 'string' && x.personId === undefined && x.nhsNumber === undefined && x.name === undefined && x.practice === 'P91002'));

      const audit = await db.query<{ action: string; decision: string }>("SELECT action, decision FROM audit_log WHERE action LIKE 'risk.%' AND actor = 'dr.who' ORDER BY audit_id");
      assert.deepEqual(audit.rows, [{ action: 'risk.model', decision: 'deny' }, { action: 'risk.cohort', decision: 'deny' }]);

      const openapi = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/analytics/risk/model'] && openapi.paths['/analytics/risk/cohort']);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
