import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { AS_OF, idOf, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

for (const target of await testDatabases()) {
  test(`cohort routes on ${target.name}: registers, a GP's identified list, an analyst's controlled count and CSV`, async () => {
    const db = await target.open();
    const app = Fastify({ logger: false });
    try {
      await loadCraftedStore(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      await addUser(db, { username: 'ann', role: 'analyst', organisation: 'ICB' });
      await addUser(db, { username: 'dr.who', role: 'consultant', organisation: 'RM2' });
      await registerOpenApi(app);
      await app.register(bevanApi, { db, loginPerMinute: 5 });
      await app.ready();
      const bearer = async (user: string, role: 'gp' | 'analyst' | 'consultant', org: string) => `Bearer ${await issueToken(db, { user, role, organisation: org })}`;
      const gp = await bearer('dr.jones', 'gp', 'P91001');
      const analyst = await bearer('ann', 'analyst', 'ICB');
      const get = (url: string, auth?: string) => app.inject({ method: 'GET', url, headers: auth ? { authorization: auth } : {} });

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
      assert.equal((await get('/analytics/cohorts/diabetes', await bearer('dr.who', 'consultant', 'RM2'))).statusCode, 403);

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
