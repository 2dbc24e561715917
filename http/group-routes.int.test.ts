import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { pseudonymFor } from '../access/pseudonymise.ts';
import { AS_OF, idOf, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { pseudonymKey } from '../analytics/cohorts/pseudonym.ts';
import { testDatabases } from '../test/databases.ts';
import { apiWithUsers } from '../test/api-app.ts';

type Group = { resourceType: string; id: string; actual: boolean; quantity?: number; member?: { entity: { reference?: string; identifier?: { system: string; value: string } } }[]; managingEntity?: { identifier: { value: string } }; extension?: { url: string; valueString: string }[] };

for (const target of await testDatabases()) {
  test(`FHIR Groups on ${target.name}: search practices and registers, a register as an actual Group per policy, $export of a cohort's Group`, async () => {
    const db = await target.open();
    const api = await apiWithUsers(db, { bulkExport: { worker: { pollMs: 20, batchPeople: 3 } } });
    const { app } = api;
    try {
      await loadCraftedStore(db);
      const get = (url: string, who?: string, headers: Record<string, string> = {}) => api.get(url, who ? api.bearer[who] : undefined, headers);

      // Search: practices and registers, ids that cannot collide.
      assert.equal((await get('/fhir/Group')).statusCode, 401);
      const all = (await get('/fhir/Group', 'dr.jones')).json() as Bundle;
      const ids = all.entry!.map((e) => e.resource!.id);
      assert.ok(ids.includes('practice-P91001') && ids.includes('practice-P91002') && ids.includes('cohort-diabetes') && ids.includes('cohort-copd-emergency-admissions'), ids.join(' '));
      assert.equal(all.total, ids.length);
      const byIdentifier = (await get('/fhir/Group?identifier=urn:bevan:register|diabetes', 'dr.jones')).json() as Bundle;
      assert.deepEqual(byIdentifier.entry!.map((e) => e.resource!.id), ['cohort-diabetes']);
      const ods = (await get('/fhir/Group?identifier=https://fhir.nhs.uk/Id/ods-organization-code|P91002', 'dr.jones')).json() as Bundle;
      assert.deepEqual(ods.entry!.map((e) => e.resource!.id), ['practice-P91002']);
      const named = (await get('/fhir/Group?name:contains=palliative', 'dr.jones')).json() as Bundle;
      assert.ok(named.entry!.length >= 3 && named.entry!.every((e) => /palliative/i.test((e.resource as { name: string }).name)));
      const count = (await get('/fhir/Group?code=diabetes&_summary=count', 'dr.jones')).json() as Bundle;
      assert.ok(count.total! >= 3 && count.entry === undefined);
      assert.equal((await get('/fhir/Group?actual=maybe', 'dr.jones')).statusCode, 400);

      // A register as an actual Group: a GP's own practice, identified (restricted and dissenting people left out).
      const gpGroup = await get(`/fhir/Group/cohort-diabetes?asOf=${AS_OF}`, 'dr.jones');
      assert.equal(gpGroup.statusCode, 200, gpGroup.body);
      assert.match(gpGroup.headers['content-type'] as string, /application\/fhir\+json/);
      const g = gpGroup.json() as Group;
      assert.deepEqual([g.resourceType, g.id, g.actual, g.quantity, g.managingEntity?.identifier.value], ['Group', 'cohort-diabetes', true, 11, 'P91001']);
      assert.equal(g.member!.length, 11);
      assert.ok(g.member!.some((m) => m.entity.reference === `Patient/${idOf('A')}`));
      assert.ok(!g.member!.some((m) => m.entity.reference === `Patient/${idOf('S')}` || m.entity.reference === `Patient/${idOf('R')}`));
      // An analyst: a disclosure-controlled quantity and pseudonymised members, no Patient references.
      const a = (await get(`/fhir/Group/cohort-diabetes?asOf=${AS_OF}`, 'ann')).json() as Group;
      assert.equal(a.quantity, 10);
      assert.ok(a.extension?.some((x) => /rounded to the nearest 5/.test(x.valueString)));
      assert.ok(a.member!.length > 0 && a.member!.every((m) => m.entity.reference === undefined && /^[0-9a-f]{32}$/.test(m.entity.identifier!.value)));
      assert.equal((await get('/fhir/Group/cohort-diabetes', 'dr.who')).statusCode, 403);
      assert.equal((await get('/fhir/Group/cohort-nowhere', 'dr.jones')).statusCode, 404);
      const audits = await db.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor = 'dr.jones' AND action = 'cohort.list'`);
      assert.equal(audits.rows.length, 1, 'the Group read is a register run, audited');

      // A practice's Group: the new id and the old one.
      const practice = (await get('/fhir/Group/practice-P91001', 'dr.jones')).json() as Group;
      assert.deepEqual([practice.id, practice.member], ['practice-P91001', undefined]);
      assert.equal(((await get('/fhir/Group/P91001', 'dr.jones')).json() as Group).id, 'P91001');

      // $export of a cohort's Group: the register's people the user may export, each decided on their own.
      const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };
      const exportPatients = async (url: string, who: string) => {
        const k = await get(url, who, ASYNC);
        assert.equal(k.statusCode, 202, `${url}: ${k.body}`);
        const status = new URL(k.headers['content-location'] as string).pathname;
        for (let i = 0; i < 500; i++) {
          const s = await get(status, who);
          if (s.statusCode === 200) {
            const m = s.json() as { output: { type: string; url: string }[] };
            const patients: string[] = [];
            for (const o of m.output.filter((x) => x.type === 'Patient')) {
              const f = await get(new URL(o.url).pathname, who);
              patients.push(...f.body.trim().split('\n').map((l) => (JSON.parse(l) as Resource).id!));
            }
            return patients.sort();
          }
          assert.equal(s.statusCode, 202, s.body);
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error('the export did not finish');
      };
      const gpPatients = await exportPatients('/fhir/Group/cohort-diabetes/$export?_type=Patient', 'dr.jones');
      for (const m of g.member!) assert.ok(gpPatients.includes(m.entity.reference!.slice('Patient/'.length)), m.entity.reference);
      for (const k of ['S', 'R', 'H', 'E']) assert.ok(!gpPatients.includes(idOf(k)), `${k} is not exported`);
      const annPatients = await exportPatients('/fhir/Group/cohort-diabetes/$export?_type=Patient', 'ann');
      // An analyst's export is pseudonymised (docs/api/bulk-export.md): Patient ids are keyed pseudonyms.
      const pseudonym = pseudonymFor(await pseudonymKey(db));
      assert.ok(annPatients.includes(pseudonym(idOf('R'))), 'secondary use: every practice');
      assert.ok(!annPatients.includes(idOf('R')), 'no person id leaves a secondary-use export');
      for (const k of ['S', 'T', 'H']) assert.ok(!annPatients.includes(pseudonym(idOf(k))), `${k} is not exported for secondary use`);
      assert.equal((await get('/fhir/Group/cohort-nowhere/$export', 'dr.jones', ASYNC)).statusCode, 404);
      assert.equal((await get('/fhir/Group/cohort-diabetes/$export', 'dr.who', ASYNC)).statusCode, 403);
      assert.equal((await get('/fhir/Group/practice-P91002/$export', 'dr.jones', ASYNC)).statusCode, 403, "another practice's Group, by its new id");
      assert.equal((await get('/fhir/Group/practice-P91001/$export', 'dr.jones', ASYNC)).statusCode, 202);

      const cap = (await get('/fhir/metadata')).json() as { rest: { resource: { type: string; interaction: { code: string }[]; searchParam?: { name: string }[] }[] }[] };
      const gr = cap.rest[0]!.resource.find((r) => r.type === 'Group')!;
      assert.ok(gr.interaction.some((i) => i.code === 'search-type') && gr.searchParam!.some((p) => p.name === 'identifier'));
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
