import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { identities, insertFixtures, insertIdentity, PERSON_ID } from '../record/test-fixtures.ts';
import { apiWithUsers } from '../test/api-app.ts';
import { testDatabases } from '../test/databases.ts';

// Three more people at the fixture's practice (synthetic), one of them known to two sources by two spellings.
const PEOPLE = [
  { id: '1a000000-0000-4000-8000-000000000001', ids: [{ sys: 'gp:P91001', src: 'gp-a', family: 'Adams', given: 'Zoe', birth: '1990-01-01', sex: 'female' }] },
  { id: '1a000000-0000-4000-8000-000000000002', ids: [{ sys: 'gp:P91001', src: 'gp-y', family: 'Young', given: 'Amy', birth: '1940-05-05', sex: 'female' }] },
  {
    id: '1a000000-0000-4000-8000-000000000003',
    ids: [
      { sys: 'gp:P91001', src: 'gp-b', family: 'Brown', given: 'Sam', birth: '1970-07-07', sex: 'male' },
      { sys: 'hl7:RM2', src: 'MRN-B', family: 'Zed', given: 'Sam', birth: '1970-07-07', sex: 'male' },
    ],
  },
];

for (const target of await testDatabases()) {
  test(`Patient search _sort on ${target.name}: by name, birth date and id, each direction, paged, and bad sorts refused`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      for (const p of PEOPLE) {
        await db.query(`INSERT INTO person (person_id) VALUES ($1)`, [p.id]);
        for (const i of p.ids) await insertIdentity(db, { ...identities[0]!, source_system: i.sys, source_id: i.src, person_id: p.id, nhs_number: null, nhs_number_valid: false, family: i.family, given: i.given, birth_date: i.birth, sex: i.sex });
      }
      const api = await apiWithUsers(db);
      const gp = api.bearer['dr.jones']!;
      const order = async (q: string) => {
        const r = await api.get(`/fhir/Patient?general-practitioner=P91001&${q}`, gp, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        const b = r.json() as Bundle<Patient>;
        return (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id);
      };
      const [adams, young, brown] = PEOPLE.map((p) => p.id);
      // Brown/Zed sorts by its lowest family ascending (Brown) and its highest descending (Zed).
      assert.deepEqual(await order('_sort=family'), [adams, brown, PERSON_ID, young]);
      assert.deepEqual(await order('_sort=-family'), [brown, young, PERSON_ID, adams]);
      assert.deepEqual(await order('_sort=birthdate'), [young, PERSON_ID, brown, adams]);
      assert.deepEqual(await order('_sort=-birthdate'), [adams, brown, PERSON_ID, young]);
      assert.deepEqual(await order('_sort=gender,-birthdate'), [adams, young, brown, PERSON_ID]);
      assert.deepEqual(await order('_sort=_id'), [PERSON_ID, adams, young, brown].sort());
      assert.deepEqual(await order('_sort=-_id'), [PERSON_ID, adams, young, brown].sort().reverse());
      // Paging keeps the order, and the next link keeps the sort.
      const first = (await api.get('/fhir/Patient?general-practitioner=P91001&_sort=family&_count=2', gp)).json() as Bundle;
      assert.deepEqual(first.entry!.map((e) => e.resource!.id), [adams, brown]);
      const next = first.link!.find((l) => l.relation === 'next')!.url;
      assert.match(next, /_sort=family/);
      assert.deepEqual(await order(`${new URL(next).search.slice(1).replace('general-practitioner=P91001&', '')}`), [PERSON_ID, young]);
      // A sort the server does not offer, or an injection, is a 400 naming _sort.
      for (const q of ['_sort=colour', '_sort=name%3BDROP%20TABLE%20person', '_sort=--family']) {
        const r = await api.get(`/fhir/Patient?${q}`, gp);
        assert.equal(r.statusCode, 400, q);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /_sort/);
      }
      // Type-level $everything: a clear 400 pointing at Bulk Data, not a complaint about the id's pattern.
      const everyone = await api.get('/fhir/Patient/$everything', gp);
      assert.equal(everyone.statusCode, 400);
      assert.match((everyone.json() as OperationOutcome).issue[0]!.diagnostics!, /\$export/);
      assert.equal((await api.get('/fhir/Patient/$everything')).statusCode, 401);
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person')).rows[0]!.n, 4);
      await api.app.close();
    } finally {
      await db.close();
    }
  });
}
