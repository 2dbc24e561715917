/**
 * Files that name no sender (no `--source`, no feeds file, no meta.source), through the real
 * writer on PGlite and PostgreSQL: a Bulk Data export whose Patients carry a record number and a
 * practice, and an NRL-style pointer naming its Patient only by NHS number (synthetic data).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../../test/databases.ts';
import type { IngestItem } from '../model.ts';
import { readFeedFile } from '../detect.ts';
import { writeBatch } from '../writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'bevan-unnamed-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const NHS = '9434765919';
const patient = {
  resourceType: 'Patient',
  id: 'u-p1',
  identifier: [
    { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' },
    { system: 'http://fhir.nhs.net/Id/nhs-number', value: '943 476 5919' },
  ],
  name: [{ family: 'Testunnamed', given: ['Una'] }],
  birthDate: '1950-03-14',
  generalPractitioner: [{ identifier: { system: 'https://digital.nhs.uk/services/organisation-data-service', value: 'P91001' } }],
};
const obs = (id: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'Weight' }, subject: { reference: 'Patient/u-p1' }, valueQuantity: { value: 84, unit: 'kg' } });
// As $export writes them: one type per file, the Observations first here, CRLF and blank lines at the end.
writeFileSync(join(dir, 'Observation.ndjson'), `${JSON.stringify(obs('u-o1'))}\r\n${JSON.stringify(obs('u-o2'))}\r\n\r\n`);
writeFileSync(join(dir, 'Patient.ndjson'), `${JSON.stringify(patient)}\n\n\n`);
writeFileSync(
  join(dir, 'pointer.json'),
  JSON.stringify({
    resourceType: 'DocumentReference',
    id: 'u-d1',
    status: 'current',
    subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS } },
    content: [{ attachment: { contentType: 'application/pdf', url: 'https://example.org/plan.pdf' } }],
  }),
);

async function load(db: Parameters<typeof writeBatch>[0], file: string) {
  const items: IngestItem[] = [];
  for await (const i of readFeedFile(join(dir, file), {})) items.push(i);
  return writeBatch(db, items);
}

for (const target of await testDatabases()) {
  test(`files naming no sender on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const row = async (type: string, id: string) =>
      (await db.query<{ source_system: string; person_id: string | null; subject_id: string | null }>('SELECT source_system, person_id, subject_id FROM resource WHERE resource_type = $1 AND source_id = $2', [type, id])).rows[0];

    await t.test('a Bulk export: the Observations, read before their Patient, are linked to it when it comes, in one namespace', async () => {
      assert.deepEqual((await load(db, 'Observation.ndjson')).outcomes, ['committed', 'committed']);
      assert.equal((await row('Observation', 'u-o1'))!.person_id, null);
      assert.deepEqual((await load(db, 'Patient.ndjson')).outcomes, ['committed']);
      const p = (await row('Patient', 'u-p1'))!;
      assert.equal(p.source_system, 'fhir:unknown');
      assert.ok(p.person_id);
      for (const id of ['u-o1', 'u-o2']) assert.deepEqual(await row('Observation', id), { source_system: 'fhir:unknown', person_id: p.person_id, subject_id: 'u-p1' });
      const identity = (await db.query<{ nhs_number: string; practice: string }>(`SELECT nhs_number, practice FROM source_identity WHERE source_id = 'u-p1'`)).rows[0];
      assert.deepEqual(identity, { nhs_number: NHS, practice: 'P91001' }, 'the NHS number under the old system and the practice under the PDS system are read');
    });

    await t.test('a pointer naming its Patient only by NHS number joins that person', async () => {
      assert.deepEqual((await load(db, 'pointer.json')).outcomes, ['committed']);
      const d = (await row('DocumentReference', 'u-d1'))!;
      assert.equal(d.subject_id, `nhs-number:${NHS}`);
      assert.equal(d.person_id, (await row('Patient', 'u-p1'))!.person_id);
    });
  });
}
