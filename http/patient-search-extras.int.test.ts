import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, OperationOutcome, Organization, Patient } from '@medplum/fhirtypes';
import { identities, insertFixtures, insertIdentity, insertResource, PERSON_ID, row } from '../record/test-fixtures.ts';
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
  test(`Patient search _sort and _has on ${target.name}: by name, birth date and id, each direction, paged; reverse chains decided on what the user may see; bad ones refused`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      for (const p of PEOPLE) {
        await db.query(`INSERT INTO person (person_id) VALUES ($1)`, [p.id]);
        for (const i of p.ids) await insertIdentity(db, { ...identities[0]!, source_system: i.sys, source_id: i.src, person_id: p.id, nhs_number: null, nhs_number_valid: false, family: i.family, given: i.given, birth_date: i.birth, sex: i.sex });
      }
      // Clinical items for _has: Adams has diabetes and a local-coded HbA1c from the hospital (mapped
      // to LOINC 59261-8 by the lab code table); Young an HIV infection (sexual health: withheld from
      // a practice nurse); Brown's diabetes sits on his hospital identity, which a merge moved under
      // a person merged into him.
      const [adamsId, youngId, brownId] = PEOPLE.map((p) => p.id);
      const SCT = 'http://snomed.info/sct';
      const on = (personId: string, r: ReturnType<typeof row>) => ({ ...r, person_id: personId });
      await insertResource(db, on(adamsId!, row('gp:P91001', 'gp-a', { resourceType: 'Condition', id: 'c-a1', subject: { reference: 'Patient/gp-a' }, code: { coding: [{ system: SCT, code: '44054006' }] }, recordedDate: '2024-02-01' })));
      await insertResource(db, on(adamsId!, row('hl7:RM2', 'MRN-A', { resourceType: 'Observation', id: 'o-a1', status: 'final', subject: { reference: 'Patient/MRN-A' }, code: { coding: [{ code: 'HBA1C', display: 'HbA1c' }] }, valueQuantity: { value: 82, unit: 'mmol/mol' }, effectiveDateTime: '2025-03-01' })));
      await insertResource(db, on(youngId!, row('gp:P91001', 'gp-y', { resourceType: 'Condition', id: 'c-y1', subject: { reference: 'Patient/gp-y' }, code: { coding: [{ system: SCT, code: '86406008' }] }, recordedDate: '2020-01-01' })));
      const mergedAway = '1a000000-0000-4000-8000-000000000009';
      await db.query(`INSERT INTO person (person_id, status, merged_into) VALUES ($1, 'merged', $2)`, [mergedAway, brownId]);
      await insertResource(db, on(mergedAway, row('hl7:RM2', 'MRN-B', { resourceType: 'Condition', id: 'c-b1', subject: { reference: 'Patient/MRN-B' }, code: { coding: [{ system: SCT, code: '44054006' }] }, recordedDate: '2023-05-01' })));
      const api = await apiWithUsers(db, {}, [
        ['dr.jones', 'gp', 'P91001'],
        ['nurse.lee', 'practice-nurse', 'P91001'],
      ]);
      const gp = api.bearer['dr.jones']!;
      const order = async (q: string) => {
        const r = await api.get(`/fhir/Patient?general-practitioner=P91001&${q}`, gp, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        const b = r.json() as Bundle<Patient>;
        return (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id);
      };
      const [adams, young, brown] = [adamsId, youngId, brownId];
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
      // _has: reverse chains, AND across parameters, OR within a list, merges followed, local codes as their national code.
      const found = async (q: string, who = gp) => {
        const r = await api.get(`/fhir/Patient?${q}&_sort=_id`, who, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        return ((r.json() as Bundle).entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id).sort();
      };
      assert.deepEqual(await found('_has:Condition:patient:code=44054006'), [PERSON_ID, adams, brown].sort(), 'the fixture person, Adams, and Brown through his merged-in identity');
      assert.deepEqual(await found('_has:Condition:patient:code=http://snomed.info/sct|44054006&family=ad'), [adams]);
      assert.deepEqual(await found('_has:Condition:subject:code=86406008,44054006&birthdate=lt1960'), [PERSON_ID, young].sort());
      assert.deepEqual(await found('_has:Observation:patient:code=http://loinc.org|59261-8'), [adams], 'the hospital sent HBA1C; the lab code table maps it');
      assert.deepEqual(await found('_has:Observation:patient:code=http://loinc.org|59261-8&_has:Observation:patient:value-quantity=gt80'), [adams]);
      assert.deepEqual(await found('_has:Observation:patient:value-quantity=gt200'), [], 'nobody has a value over 200');
      assert.deepEqual(await found('_has:Condition:patient:code=86406008'), [young], 'the registered GP sees sexual health');
      assert.deepEqual(await found('_has:Condition:patient:code=86406008', api.bearer['nurse.lee']), [], 'a withheld item never makes a match');
      assert.deepEqual(await found('_has:Condition:patient:code=44054006', api.bearer['nurse.lee']), [PERSON_ID, adams, brown].sort());
      const summary = (await api.get('/fhir/Patient?_has:Condition:patient:code=44054006&_summary=count', gp)).json() as Bundle;
      assert.equal(summary.total, 3);
      for (const q of ['_has:Condition:patient=x', '_has:Condition:recorder:code=1', '_has:Flag:patient:code=1', '_has:Condition:patient:colour=1', '_has:Condition:patient:_has:Observation:patient:code=1', '_has:Condition:patient:onset-date=notadate']) {
        const r = await api.get(`/fhir/Patient?${q}`, gp);
        assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /_has/, q);
      }

      // The registered practice: generalPractitioner is a literal reference the server resolves, and _include brings it.
      const withGp = (await api.get(`/fhir/Patient?_id=${PERSON_ID}&_include=Patient:general-practitioner`, gp, { prefer: 'handling=strict' })).json() as Bundle;
      const patient = withGp.entry!.find((e) => e.search?.mode === 'match')!.resource as Patient;
      assert.equal(patient.generalPractitioner![0]!.reference, 'Organization/P91001');
      const included = withGp.entry!.filter((e) => e.search?.mode === 'include').map((e) => e.resource as Organization);
      assert.deepEqual(included.map((o) => [o.id, o.name, o.identifier![0]!.value]), [['P91001', 'Sale Moor Medical Centre', 'P91001']]);
      const read = await api.get('/fhir/Organization/P91001', gp);
      assert.equal(read.statusCode, 200, read.body);
      assert.equal((read.json() as Organization).name, 'Sale Moor Medical Centre');
      assert.equal((read.json() as Organization).type![0]!.text, 'GP practice');
      const trust = await api.get('/fhir/Organization/RM2', gp);
      assert.equal(trust.statusCode, 200, 'a trust from the reference data');
      assert.equal((await api.get('/fhir/Organization/ZZZ99', gp)).statusCode, 404);
      assert.equal((await api.get('/fhir/Organization/P91001')).statusCode, 401);
      const orgSearch = async (q: string) => (((await api.get(`/fhir/Organization?${q}`, gp, { prefer: 'handling=strict' })).json() as Bundle).entry ?? []).map((e) => e.resource!.id);
      assert.deepEqual(await orgSearch('identifier=https://fhir.nhs.uk/Id/ods-organization-code|p91001'), ['P91001']);
      assert.deepEqual(await orgSearch('name=moor'), ['P91001']);
      assert.deepEqual(await orgSearch('identifier=http://other.example|P91001'), []);
      assert.ok((await orgSearch('_count=100')).includes('RM2'));
      assert.equal((await api.get('/fhir/Organization?colour=1', gp, { prefer: 'handling=strict' })).statusCode, 400);
      assert.equal((await api.get('/fhir/Patient?_include=Patient:link', gp)).statusCode, 400);

      // Type-level $everything: a clear 400 pointing at Bulk Data, not a complaint about the id's pattern.
      const everyone = await api.get('/fhir/Patient/$everything', gp);
      assert.equal(everyone.statusCode, 400);
      assert.match((everyone.json() as OperationOutcome).issue[0]!.diagnostics!, /\$export/);
      assert.equal((await api.get('/fhir/Patient/$everything')).statusCode, 401);
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person')).rows[0]!.n, 5);
      await api.app.close();
    } finally {
      await db.close();
    }
  });
}
