import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicateIdOf, loadDuplicateStore } from '../analytics/duplicate-tests/fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

for (const target of await testDatabases()) {
  test(`duplicate-test routes on ${target.name}: a GP's identified list, an analyst's controlled counts and pseudonymised CSV, refusals`, async () => {
    const db = await target.open();
    const { app, bearer, get } = await apiWithUsers(db);
    try {
      await loadDuplicateStore(db);
      const gp = bearer['dr.jones']!;
      const analyst = bearer.ann!;

      assert.equal((await get('/analytics/duplicate-tests')).statusCode, 401);
      const list = await get('/analytics/duplicate-tests?since=2025-01-01&until=2025-09-30', gp);
      assert.equal(list.statusCode, 200, list.body);
      const lj = list.json() as { view: string; total: { repeats: number }; repeats: { personId: string; test: string; first: { at: string; sources: string[] }; repeat: { at: string } }[] };
      assert.equal(lj.view, 'identified');
      assert.equal(lj.total.repeats, 12);
      const a = lj.repeats.find((r) => r.personId === duplicateIdOf('A'))!;
      assert.deepEqual([a.test, a.first.at, a.first.sources, a.repeat.at], ['hba1c', '2025-01-10T09:00:00Z', ['gp:P91001'], '2025-02-20T11:00:00Z']);
      assert.equal((await get('/analytics/duplicate-tests?practice=P91002', gp)).statusCode, 403);
      assert.equal((await get("/analytics/duplicate-tests?practice=P9'--", gp)).statusCode, 400);
      assert.equal((await get('/analytics/duplicate-tests?since=yesterday', gp)).statusCode, 400);
      assert.equal((await get('/analytics/duplicate-tests', bearer['dr.who']!)).statusCode, 403);

      const counts = (await get('/analytics/duplicate-tests?since=2025-01-01&until=2025-09-30', analyst)).json() as { view: string; total: unknown; repeats?: unknown; byPractice: { practice: string; repeats: number | null }[] };
      assert.deepEqual({ view: counts.view, total: counts.total, repeats: counts.repeats }, { view: 'pseudonymised', total: { repeats: 10, people: 10 }, repeats: undefined });
      assert.deepEqual(counts.byPractice.map((p) => [p.practice, p.repeats]), [['P91001', 10], ['P91002', null]]);
      const csv = await get('/analytics/duplicate-tests.csv?since=2025-01-01&until=2025-09-30', analyst);
      assert.equal(csv.statusCode, 200, csv.body);
      assert.match(csv.headers['content-type'] as string, /text\/csv/);
      const lines = csv.body.trim().split('\n');
      assert.match(lines[0]!, /^pseudonym,practice,test,first_at/);
      assert.equal(lines.length, 13);
      assert.ok(!csv.body.includes(duplicateIdOf('A')));

      const openapi = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/analytics/duplicate-tests'] && openapi.paths['/analytics/duplicate-tests.csv']);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
