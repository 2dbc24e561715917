import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fhirLogicalId, presentResource } from '../../record/fhir-bundle.ts';
import { identities, NOW, person, practices, rows } from '../../record/test-fixtures.ts';
import { addSubjectKey, ChunkWriter, exportedPatient, patientKeysOf } from './present.ts';

test('the merged Patient as the record shows it, linked to the source Patients shown, lastUpdated from the demographics', () => {
  const p = exportedPatient(person, identities, practices, [{ source_system: 'gp:P91001', source_id: 'gp-pat-1' }], NOW);
  assert.equal(p.id, person.person_id);
  assert.equal(p.identifier![0]!.value, person.nhs_number);
  assert.equal(p.identifier!.filter((i) => i.use === 'secondary').length, identities.length, 'every source identifier');
  assert.deepEqual(p.link, [{ other: { reference: `Patient/${fhirLogicalId('gp:P91001', 'Patient', 'gp-pat-1')}` }, type: 'seealso' }]);
  assert.equal(p.meta?.lastUpdated, '2025-09-01T09:00:00.000Z');
  assert.equal(p.generalPractitioner?.[0]?.display, 'Sale Moor Medical Centre');
});

test('references to any of the person\'s source patients point at the merged Patient', () => {
  const keys = patientKeysOf(identities, []);
  const hosp = rows.find((r) => r.source_id === 'V1001')!;
  addSubjectKey(keys, hosp.source_system, hosp.subject_id);
  const r = presentResource(hosp, person.person_id, keys) as { subject: { reference: string }; meta: { source: string } };
  assert.equal(r.subject.reference, `Patient/${person.person_id}`);
  assert.equal(r.meta.source, 'hl7:RM2');
});

test('chunk writer: chunks of about chunkBytes, a file per type closed at maxFileResources, numbering after the open files', () => {
  const w = new ChunkWriter([{ fileNo: 2, resourceType: 'Encounter', resources: 3, lastSeq: 1 }], 2, { chunkBytes: 25, maxFileResources: 4 });
  for (let i = 0; i < 6; i++) w.add('Encounter', `p${i}`, `{"n":${i}}`);
  w.add('Patient', 'p0', '{"id":"p0"}');
  w.flush();
  const { files, chunks } = w.take();
  // The open Encounter file 2 takes one more (3 + 1 = 4, closed); then file 3 starts.
  assert.deepEqual(chunks[0], { fileNo: 2, seq: 2, resources: 1, ndjson: '{"n":0}\n', lastPerson: 'p0', close: true });
  assert.deepEqual(files.map((f) => [f.fileNo, f.resourceType, f.firstPerson]), [[3, 'Encounter', 'p1'], [4, 'Encounter', 'p5'], [5, 'Patient', 'p0']]);
  const enc3 = chunks.filter((c) => c.fileNo === 3);
  assert.equal(enc3.reduce((n, c) => n + c.resources, 0), 4);
  assert.ok(enc3.every((c) => c.ndjson.length <= 25 + 10), 'chunks stay near chunkBytes');
  assert.deepEqual(enc3.map((c) => c.seq), enc3.map((_, i) => i + 1));
  assert.equal(enc3.at(-1)!.close, true);
  assert.deepEqual(chunks.filter((c) => c.fileNo === 4).map((c) => c.ndjson), ['{"n":5}\n'], 'the sixth Encounter opens file 4');
  assert.equal(w.counts.get('Encounter'), 6);
  for (const c of chunks) for (const line of c.ndjson.trimEnd().split('\n')) JSON.parse(line);
  assert.deepEqual(w.take(), { files: [], chunks: [] });
});
