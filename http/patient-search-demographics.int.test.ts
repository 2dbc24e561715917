import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { identities, insertFixtures, insertIdentity, insertResource, PERSON_ID, row } from '../record/test-fixtures.ts';
import { apiWithUsers } from '../test/api-app.ts';
import { testDatabases } from '../test/databases.ts';

// Synthetic people at the fixture's practice: their home address, phones and emails as the MPI keeps
// them (normalised, space-separated), and what their sources' Patients say of a death.
const ADAMS = '1b000000-0000-4000-8000-000000000001';
const YOUNG = '1b000000-0000-4000-8000-000000000002';
const BROWN = '1b000000-0000-4000-8000-000000000003';
const HIDDEN = '1b000000-0000-4000-8000-000000000004';
const MERGED_AWAY = '1b000000-0000-4000-8000-000000000009';
const PEOPLE = [
  { id: ADAMS, src: 'gp-a', family: 'Adams', address: '12 High Street, Flat 2', town: 'Altrincham', postcode: 'WA14 1AA', email: 'zoe.adams@example.org', phone: '07700900123', patient: { deceasedDateTime: '2024-03-05T10:00:00Z' } },
  { id: YOUNG, src: 'gp-y', family: 'Young', address: '3 Mill Lane', town: 'Sale', postcode: 'M33 7XY', email: null, phone: '01619460000 07700900999', patient: { deceasedBoolean: true } },
  { id: BROWN, src: 'gp-b', family: 'Brown', address: null, town: null, postcode: null, email: 'sam@example.net', phone: null, patient: { deceasedBoolean: false } },
  // Restricted (a protected record): never found, whatever matches.
  { id: HIDDEN, src: 'gp-h', family: 'Hidden', address: '12 High Street', town: 'Altrincham', postcode: 'WA14 1AA', email: 'zoe.adams@example.org', phone: '07700900123', patient: { deceasedDateTime: '2024-03-05' } },
];

for (const target of await testDatabases()) {
  test(`Patient search by death, address and telecom on ${target.name}: as the sources hold them, merges followed, restricted people never found, every search audited, bad values refused`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      for (const p of PEOPLE) {
        await db.query(`INSERT INTO person (person_id) VALUES ($1)`, [p.id]);
        await insertIdentity(db, { ...identities[0]!, source_id: p.src, person_id: p.id, nhs_number: null, nhs_number_valid: false, family: p.family, given: 'Sam', postcode: p.postcode });
        await db.query(`UPDATE source_identity SET address = $2, town = $3, email = $4, phone = $5 WHERE source_id = $1`, [p.src, p.address, p.town, p.email, p.phone]);
        await insertResource(db, { ...row('gp:P91001', p.src, { resourceType: 'Patient', id: p.src, name: [{ family: p.family }], ...p.patient }), person_id: p.id });
      }
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'test: protected record')`, [HIDDEN]);
      // Brown's hospital record, merged into him, says he died in 2019.
      await db.query(`INSERT INTO person (person_id, status, merged_into) VALUES ($1, 'merged', $2)`, [MERGED_AWAY, BROWN]);
      await insertResource(db, { ...row('hl7:RM2', 'MRN-B', { resourceType: 'Patient', id: 'MRN-B', deceasedDateTime: '2019-11-30' }), person_id: MERGED_AWAY });

      const api = await apiWithUsers(db, {}, [['dr.jones', 'gp', 'P91001']]);
      const gp = api.bearer['dr.jones']!;
      const audits = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = 'dr.jones' AND action = 'patient.search'`)).rows[0]!.n;
      const found = async (q: string) => {
        const before = await audits();
        const r = await api.get(`/fhir/Patient?${q}`, gp, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        assert.ok((await audits()) > before, `${q} is audited`);
        return ((r.json() as Bundle).entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id).sort();
      };
      const all = [PERSON_ID, ADAMS, YOUNG, BROWN].sort();

      // deceased and death-date, as the merged Patient shows deceased[x].
      assert.deepEqual(await found('deceased=true'), [ADAMS, YOUNG, BROWN].sort(), 'a date, deceasedBoolean true, and Brown through his merged-in hospital record');
      assert.deepEqual(await found('deceased=false'), [PERSON_ID]);
      assert.deepEqual(await found('deceased=true,false'), all);
      assert.deepEqual(await found('death-date=2024'), [ADAMS]);
      assert.deepEqual(await found('death-date=2024-03-05'), [ADAMS]);
      assert.deepEqual(await found('death-date=lt2020'), [BROWN]);
      assert.deepEqual(await found('death-date=ge2019-11-30'), [ADAMS, BROWN].sort());
      assert.deepEqual(await found('death-date=sa2024-03-04'), [ADAMS]);
      assert.deepEqual(await found('death-date=eb2024-03'), [BROWN]);
      assert.deepEqual(await found('death-date=gt2019&death-date=lt2025'), [ADAMS]);
      const merged = (await api.get(`/fhir/Patient/${ADAMS}`, gp)).json() as Patient;
      assert.equal(merged.deceasedDateTime, '2024-03-05T10:00:00Z', 'what the search matched is what the merged Patient shows');
      assert.equal(((await api.get(`/fhir/Patient/${BROWN}`, gp)).json() as Patient).deceasedDateTime, '2019-11-30');

      // address: any part (a street line, the town, the postcode) starts with; :contains, :exact.
      assert.deepEqual(await found('address=12'), [ADAMS]);
      assert.deepEqual(await found('address=flat'), [ADAMS], 'the second line');
      assert.deepEqual(await found('address=high'), [], 'starts with: not a word inside a line');
      assert.deepEqual(await found('address=ALTR'), [ADAMS]);
      assert.deepEqual(await found('address=wa141'), [ADAMS], 'postcodes ignore spaces');
      assert.deepEqual(await found('address=sale,m33'), [PERSON_ID, YOUNG].sort());
      assert.deepEqual(await found('address:contains=street'), [ADAMS]);
      assert.deepEqual(await found('address:exact=Flat 2'), [ADAMS]);
      assert.deepEqual(await found('address:exact=flat 2'), []);
      assert.deepEqual(await found('address=3&address=sale'), [YOUNG]);
      assert.deepEqual(await found('address-use=home&address=12'), [ADAMS]);
      assert.deepEqual(await found('address-use=work'), []);
      assert.deepEqual(await found('address=100%25'), [], 'a % is literal');

      // phone, email, telecom: compared as the MPI normalises them.
      assert.deepEqual(await found('phone=07700 900123'), [ADAMS]);
      assert.deepEqual(await found('phone=%2B44 (0)7700 900-123'), [ADAMS]);
      assert.deepEqual(await found('phone=07700900999'), [YOUNG], 'the second number');
      assert.deepEqual(await found('telecom=phone|0161 946 0000'), [YOUNG]);
      assert.deepEqual(await found('telecom=email|ZOE.ADAMS@example.org'), [ADAMS]);
      assert.deepEqual(await found('telecom=fax|07700900123'), []);
      assert.deepEqual(await found('telecom=sam@example.net,07700900123'), [ADAMS, BROWN].sort());
      assert.deepEqual(await found('email=zoe.adams@example.org'), [ADAMS], 'the restricted person with the same email is never found');
      assert.deepEqual(await found('email=nobody@example.org'), []);
      assert.deepEqual(await found('phone=12'), [], 'too short to be a number');

      // active: the merged Patient of everyone search finds is active.
      assert.deepEqual(await found('active=true'), all);
      assert.deepEqual(await found('active=false'), []);

      // Bad values are clear 400s; parameters still not supported are named.
      for (const [q, pattern] of [
        ['deceased=maybe', /deceased: "maybe" is not true or false/],
        ['death-date=ap2024', /ap \(approximately\) is not supported/],
        ['death-date=yesterday', /death-date: "yesterday" is not a date/],
        ['active=yes', /active/],
        ['address:missing=x', /address:missing/],
        ['_lastUpdated=gt2020-01-01', /_lastUpdated/],
      ] as const) {
        const r = await api.get(`/fhir/Patient?${q}`, gp, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
        assert.equal((r.json() as OperationOutcome).resourceType, 'OperationOutcome');
        assert.match((r.json() as OperationOutcome).issue.map((i) => i.diagnostics).join(' '), pattern, q);
      }
    } finally {
      await db.close();
    }
  });
}
