import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AS_OF, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { refreshDashboards } from '../analytics/dashboards/refresh.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

for (const target of await testDatabases()) {
  test(`dashboard routes on ${target.name}: panel, SPC, aims and commissioning through the policy, with freshness`, async () => {
    const db = await target.open();
    const { app, bearer, get } = await apiWithUsers(db);
    try {
      await loadCraftedStore(db);
      const gp = bearer['dr.jones']!;
      const analyst = bearer.ann!;
      const consultant = bearer['dr.who']!;
      const json = async (url: string, auth: string) => {
        const r = await get(url, auth);
        assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
        return r.json() as Json;
      };

      // Before any refresh: empty figures, and freshness that says so.
      const empty = await json('/analytics/dashboard/panel/diabetes', analyst);
      assert.equal(empty.freshness.refreshedAt, null);
      assert.equal(empty.registers[0].count, null);
      await refreshDashboards(db, { asOf: AS_OF, months: 24 });

      assert.equal((await get('/analytics/dashboard/panel/diabetes')).statusCode, 401);
      const list = await json('/analytics/dashboard/panels', gp);
      assert.ok(list.panels.some((p: Json) => p.panel === 'diabetes') && list.panels.some((p: Json) => p.panel === 'end-of-life'));

      // A GP: their own practice, exact.
      const mine = await json('/analytics/dashboard/panel/diabetes', gp);
      assert.deepEqual(mine.place, { level: 'practice', key: 'P91001', name: 'Stretford Medical Practice' });
      assert.equal(mine.disclosureControl, false);
      const reg = mine.registers.find((r: Json) => r.name === 'diabetes');
      assert.equal(reg.count, 11);
      assert.equal(reg.trend.length, 13, 'a year back and this month');
      assert.equal(reg.drillDown, '/analytics/cohorts/diabetes');
      const aim = mine.measures.find((m: Json) => m.measure.id === 'diabetes-hba1c-75-care-plan');
      assert.equal(aim.points.length, 24);
      assert.equal(aim.points.at(-1).value, 1, 'C: HbA1c 85 and a care plan');
      assert.equal(aim.aim.target, 25);
      assert.ok(aim.freshness.sources.includes('hl7:RM2') && aim.freshness.refreshedAt, 'a measure carries its freshness');
      assert.ok(['on-track', 'off-track'].includes(aim.aim.status));
      assert.ok(aim.chart && typeof aim.chart.upperProcessLimit === 'number');
      assert.ok(mine.freshness.refreshedAt && mine.freshness.sources.some((s: Json) => s.source === 'hl7:RM2' && s.setting === 'hospital' && s.lastMessageAt));
      // …and nobody else's.
      assert.equal((await get('/analytics/dashboard/panel/diabetes?practice=P91002', gp)).statusCode, 403);
      assert.equal((await get('/analytics/dashboard/panel/diabetes?neighbourhood=N1', gp)).statusCode, 403);
      assert.equal((await get('/analytics/dashboard/panel/diabetes', consultant)).statusCode, 403);
      const denied = await db.query<{ actor: string; action: string }>(`SELECT actor, action FROM audit_log WHERE decision = 'deny' AND action LIKE 'dashboard.%' ORDER BY audit_id`);
      assert.deepEqual(denied.rows.map((r) => r.actor), ['dr.jones', 'dr.jones', 'dr.who']);

      // An analyst: the locality, under disclosure control (12 → 10; a share over 1–7 people suppressed).
      const all = await json('/analytics/dashboard/panel/diabetes', analyst);
      assert.deepEqual([all.place.level, all.disclosureControl], ['locality', true]);
      assert.equal(all.registers.find((r: Json) => r.name === 'diabetes').count, 10);
      const share = all.measures.find((m: Json) => m.measure.id === 'diabetes-hba1c-75-no-care-plan-share');
      assert.equal(share.points.find((p: Json) => p.month === '2025-01').value, null);
      assert.equal(share.points.find((p: Json) => p.month === '2025-01').numerator, null);
      const n2 = await json('/analytics/dashboard/panel/diabetes?neighbourhood=N2', analyst);
      assert.equal(n2.place.name, 'South');

      // SPC: exact for the GP, with special-cause marks on each point.
      const spc = await json('/analytics/spc/ae-attendances', gp);
      assert.equal(spc.points.find((p: Json) => p.month === '2025-03').value, 2);
      assert.ok(spc.chart.points.every((p: Json) => ['improvement', 'concern', 'neutral'].includes(p.signal)));
      assert.equal((await json('/analytics/spc/ae-attendances', analyst)).points.find((p: Json) => p.month === '2025-03').value, null);
      assert.equal((await get('/analytics/spc/no-such-measure', analyst)).statusCode, 404);
      assert.equal((await get('/analytics/dashboard/panel/cardiology', analyst)).statusCode, 404);
      assert.equal((await get("/analytics/spc/ae-attendances?practice=P9'--", analyst)).statusCode, 400);

      const aims = await json('/analytics/aims', analyst);
      assert.deepEqual(aims.aims.map((a: Json) => a.measure.id), ['diabetes-hba1c-75-care-plan']);
      assert.equal(aims.aims[0].aim.months.length, 24);

      // Commissioning: analysts only.
      assert.equal((await get('/analytics/commissioning', gp)).statusCode, 403);
      const bySetting = await json('/analytics/commissioning?by=setting&from=2025-01&to=2025-06', analyst);
      assert.deepEqual(bySetting.months, ['2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06']);
      assert.equal(bySetting.shift.length, 6);
      const march = bySetting.rows.find((r: Json) => r.month === '2025-03' && r.key === 'hospital');
      assert.equal(march.people, null, '4 people in hospital in March: suppressed');
      assert.deepEqual(march.freshness.sources, ['hl7:RM2'], 'each figure names the sources behind it');
      assert.ok(march.freshness.oldestLastMessageAt && march.freshness.refreshedAt);
      assert.ok(bySetting.freshness.sources.some((s: Json) => s.source === 'hl7:RM2' && s.setting === 'hospital'), 'and the answer describes each source');
      assert.deepEqual(await json('/analytics/commissioning?by=setting&from=2025-01&to=2025-06', analyst), bySetting, 'the same answer again (reused while the summary and feeds are unchanged)');
      assert.ok(bySetting.tariff.length > 0);
      const byCohort = await json('/analytics/commissioning?by=cohort', analyst);
      assert.equal(byCohort.months.length, 12);
      const row = byCohort.rows.find((r: Json) => r.key === 'frequent-ae-attenders');
      assert.equal(row.drillDown, '/analytics/cohorts/frequent-ae-attenders');
      assert.equal(row.name, 'Three or more A&E attendances in 12 months', 'a cohort is named by its register title');
      assert.equal((await get('/analytics/commissioning?by=postcode', analyst)).statusCode, 400);
      assert.equal((await get('/analytics/commissioning?from=2025-06&to=2025-01', analyst)).statusCode, 400);

      const openapi = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      for (const p of ['/analytics/dashboard/panel/{panel}', '/analytics/spc/{measure}', '/analytics/aims', '/analytics/commissioning']) assert.ok(openapi.paths[p], p);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
