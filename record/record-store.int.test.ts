import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { buildIntegratedRecord, toFhirBundle } from './integrated-record.ts';
import { findPerson, findPersonWithMembers, loadIdentities, loadPersonResources, loadPractices, loadRecordData, loadSummaryData, practiceCodes, readPersonRecordRows, recordPersonIds } from './record-store.ts';
import { GP, HOSPITAL, identities, insertFixtures, insertIdentity, insertResource, NHS, NOW, PERSON_ID, rows, SOCIAL } from './test-fixtures.ts';

const NO_OWN_NHS = '5e6d7c8b-0000-4000-8000-000000000002';
const MERGED = '5e6d7c8b-0000-4000-8000-000000000003';
const OTHER_NHS = '4010232137';

async function seed(db: Queryable) {
  await insertFixtures(db);
  await db.query(`UPDATE resource SET source_time = '2025-07-05T11:00:00Z' WHERE source_id = 'V1001'`);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood) VALUES ('P91002', 'Elsewhere Surgery', 'SALE')`);
  await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, NULL)`, [NO_OWN_NHS]);
  // A duplicate that the MPI merged into PERSON_ID, whose identity and one result were left behind.
  await db.query(`INSERT INTO person (person_id, nhs_number, status, merged_into) VALUES ($1, NULL, 'merged', $2)`, [MERGED, PERSON_ID]);
  await insertIdentity(db, { ...identities[0]!, source_system: 'gp:P91002', source_id: 'old-1', person_id: MERGED, updated_at: '2010-01-01T00:00:00.000Z' });
  await insertIdentity(db, { ...identities[1]!, source_system: HOSPITAL, source_id: 'MRN200', person_id: NO_OWN_NHS, nhs_number: OTHER_NHS, nhs_number_valid: true });
  await insertResource(db, { ...rows.find((r) => r.source_id === 'o1')!, source_system: 'gp:P91002', source_id: 'old-obs', person_id: MERGED, subject_id: 'old-1' });
  // Someone else's item, which must not appear.
  await insertResource(db, { ...rows.find((r) => r.source_id === 'o2')!, source_system: HOSPITAL, source_id: 'not-mine', person_id: NO_OWN_NHS, subject_id: 'MRN200' });
}

for (const target of await testDatabases()) {
  test(`record store on ${target.name}: find the person, load and build the integrated record`, async () => {
    const db = await target.open();
    try {
      await seed(db);
      // By NHS number, with or without spaces; by person id; by source identity; merged redirects.
      assert.equal((await findPerson(db, { nhsNumber: '943 476 5919' }))?.person_id, PERSON_ID);
      assert.equal((await findPerson(db, { personId: PERSON_ID }))?.nhs_number, NHS);
      assert.equal((await findPerson(db, { source: { system: SOCIAL, id: 'SC-77' } }))?.person_id, PERSON_ID);
      assert.equal((await findPerson(db, { personId: MERGED }))?.person_id, PERSON_ID);
      assert.equal((await findPerson(db, { source: { system: 'gp:P91002', id: 'old-1' } }))?.person_id, PERSON_ID);
      // A person with no NHS number of their own is found through an identity that has one.
      assert.equal((await findPerson(db, { nhsNumber: OTHER_NHS }))?.person_id, NO_OWN_NHS);
      assert.equal(await findPerson(db, { nhsNumber: '4010232145' }), null);
      assert.equal(await findPerson(db, { personId: 'not-a-uuid' }), null);
      assert.equal(await findPerson(db, { source: { system: GP, id: 'nobody' } }), null);

      const resources = await loadPersonResources(db, PERSON_ID);
      assert.equal(resources.length, rows.length + 1);
      assert.ok(!resources.some((r) => r.source_id === 'not-mine'));
      const v1001 = resources.find((r) => r.source_id === 'V1001')!;
      assert.equal(v1001.source_time, '2025-07-05T11:00:00.000Z');
      assert.equal(v1001.version, 3);
      assert.equal(v1001.received_at, rows.find((r) => r.source_id === 'V1001')!.received_at);
      assert.deepEqual(v1001.content, rows.find((r) => r.source_id === 'V1001')!.content);
      const ids = await loadIdentities(db, PERSON_ID);
      assert.equal(ids.length, identities.length + 1);
      assert.equal(ids.find((i) => i.source_id === 'gp-pat-1')!.birth_date, '1950-03-12');
      assert.equal(ids.find((i) => i.source_id === 'gp-pat-1')!.updated_at, '2025-01-10T09:00:00.000Z');

      const loaded = (await readPersonRecordRows(db, { nhsNumber: NHS }))!;
      assert.deepEqual(loaded.practices.map((p) => [p.ods_code, p.neighbourhood_name]).sort(), [['P91001', 'Sale'], ['P91002', 'Sale']]);
      const record = buildIntegratedRecord(loaded.person, loaded.identities, loaded.rows, loaded.practices, { now: NOW });
      // The most recently updated GP registration wins; the left-behind old practice does not.
      assert.equal(record.registeredPractice?.name, 'Sale Moor Medical Centre');
      assert.equal(record.timeline.length, rows.length); // fixtures minus the Patient, plus the merged-in result
      assert.ok(record.timeline.some((t) => t.ref.sourceId === 'old-obs' && t.source.name === 'Elsewhere Surgery (gp:P91002)'));
      assert.equal(record.problems[0]!.sources.length, 2);
      const bundle = toFhirBundle(record, loaded.rows);
      assert.equal(bundle.entry!.length, loaded.rows.length + 1);
      assert.equal(await readPersonRecordRows(db, { nhsNumber: '4010232145' }), null);
    } finally {
      await db.drop();
    }
  });
}

for (const target of await testDatabases()) {
  test(`record store on ${target.name}: the one-statement reads give what the separate reads give`, async () => {
    const db = await target.open();
    try {
      await seed(db);
      // An organisation a feed names (reference data), and a resource that carries its ODS code.
      await insertResource(db, { source_system: HOSPITAL, resource_type: 'Organization', source_id: 'org-x', person_id: null, subject_id: null, version: 1, source_time: null, received_at: NOW.toISOString(), content: { resourceType: 'Organization', id: 'org-x', name: 'Feed-named clinic', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'ZZX01' }] } });
      await insertResource(db, { source_system: HOSPITAL, resource_type: 'Encounter', source_id: 'enc-x', person_id: PERSON_ID, subject_id: 'MRN100', version: 1, source_time: null, received_at: NOW.toISOString(), content: { resourceType: 'Encounter', id: 'enc-x', status: 'finished', class: { code: 'AMB' }, serviceProvider: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'ZZX01' } } } });
      for (const id of [PERSON_ID, MERGED, NO_OWN_NHS, '5e6d7c8b-0000-4000-8000-00000000ffff']) {
        const person = await findPerson(db, { personId: id });
        const both = await findPersonWithMembers(db, id);
        assert.deepEqual(both?.person ?? null, person);
        if (!person) continue;
        const ids = await recordPersonIds(db, person.person_id);
        assert.deepEqual([...both!.memberIds].sort(), [...ids].sort());
        const identitiesApart = await loadIdentities(db, person.person_id, ids);
        const rowsApart = await loadPersonResources(db, person.person_id, ids);
        const practicesApart = await loadPractices(db, practiceCodes(identitiesApart, rowsApart));
        const together = await loadRecordData(db, ids);
        assert.deepEqual(together.identities, identitiesApart);
        assert.deepEqual(together.rows, rowsApart);
        const byCode = (p: { ods_code: string }[]) => [...p].sort((a, b) => (a.ods_code < b.ods_code ? -1 : 1));
        // The server may find a few more codes (it walks deeper); every practice found apart is found together, the same.
        const apart = byCode(practicesApart);
        assert.deepEqual(byCode(together.practices).filter((p) => apart.some((q) => q.ods_code === p.ods_code)), apart);
        if (person.person_id === PERSON_ID) assert.ok(together.practices.some((p) => p.ods_code === 'ZZX01' && p.name === 'Feed-named clinic' && p.origin === 'feed'));
        // A summary (a search result's page): the identities as loadIdentities gives them, the practices their codes name.
        const summary = await loadSummaryData(db, ids);
        assert.deepEqual(summary.identities, identitiesApart);
        assert.deepEqual(byCode(summary.practices), byCode(await loadPractices(db, practiceCodes(identitiesApart, []))));
      }
    } finally {
      await db.close();
    }
  });
}
