import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AS_OF, idOf, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

for (const target of await testDatabases()) {
  test(`cohort routes on ${target.name}: registers, a GP's identified list, an analyst's controlled count and CSV`, async () => {
    const db = await target.open();
    const { app, bearer, get } = await apiWithUsers(db);
    try {
      await loadCraftedStore(db);
      const gp = bearer['dr.jones']!;
      const analyst = bearer.ann!;

      assert.equal((await get('/analytics/cohorts')).statusCode, 401);
      const regs = (await get('/analytics/cohorts', gp)).json() as { registers: { name: string }[] };
      assert.ok(regs.registers.some((r) => r.name === 'copd-emergency-admissions'));

      const list = await get(`/analytics/cohorts/diabetes?asOf=${AS_OF}`, gp);
      assert.equal(list.statusCode, 200, list.body);
      const lj = list.json() as { view: string; count: number; members: { personId: string; record: string }[] };
      assert.equal(lj.view, 'identified');
      assert.equal(lj.count, 11);
      assert.ok(lj.members.some((m) => m.personId === idOf('A') && m.record === `Patient/${idOf('A')}`));
      assert.equal((await get('/analytics/cohorts/diabetes?practice=P91002', gp)).statusCode, 403);
      assert.equal((await get('/analytics/cohorts/nowhere', gp)).statusCode, 404);
      assert.equal((await get("/analytics/cohorts/diabetes?practice=P9'--", gp)).statusCode, 400);
      assert.equal((await get('/analytics/cohorts/diabetes', bearer['dr.who']!)).statusCode, 403);

      const count = (await get(`/analytics/cohorts/diabetes?asOf=${AS_OF}`, analyst)).json() as { view: string; count: number | null; members?: unknown; byPractice: unknown };
      assert.deepEqual({ view: count.view, count: count.count, members: count.members }, { view: 'pseudonymised', count: 10, members: undefined });
      assert.deepEqual(count.byPractice, [{ practice: 'P91001', count: 10 }, { practice: 'P91002', count: null }]);
      const plist = (await get(`/analytics/cohorts/diabetes?output=list&asOf=${AS_OF}`, analyst)).json() as { members: { pseudonym: string; personId?: string }[] };
      assert.equal(plist.members.length, 12);
      assert.ok(plist.members.every((m) => m.pseudonym && m.personId === undefined));

      const csv = await get(`/analytics/cohorts/diabetes.csv?asOf=${AS_OF}`, gp);
      assert.equal(csv.statusCode, 200, csv.body);
      assert.match(csv.headers['content-type'] as string, /text\/csv/);
      assert.equal(csv.body.trim().split('\n').length, 12);
      const acsv = await get(`/analytics/cohorts/diabetes.csv?output=count&asOf=${AS_OF}`, analyst);
      assert.equal(acsv.body, 'register,practice,count\ndiabetes,P91001,10\ndiabetes,P91002,*\n');

      const openapi = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/analytics/cohorts'] && openapi.paths['/analytics/cohorts/{name}']);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
