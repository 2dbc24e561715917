import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { toMergedPatient } from '../record/fhir-bundle.ts';
import { buildIntegratedRecord } from '../record/integrated-record.ts';
import { identities, NOW, person, practices, rows } from '../record/test-fixtures.ts';
import { etag, historyBundle, historyEntry, mergedPatientMeta } from './history.ts';

const record = (ids = identities) => buildIntegratedRecord(person, ids, rows, practices, { now: NOW });

test('the merged Patient: versionId is a digest of what it says; lastUpdated the newest change of its sources', () => {
  const r = record();
  const meta = mergedPatientMeta(toMergedPatient(r), r, rows);
  assert.match(meta.versionId!, /^[0-9a-f]{16}$/);
  // The social care identity (2025-09-01) is newer than every source Patient row (2025-10-01 is a row, but not a Patient).
  const patientRows = rows.filter((x) => x.resource_type === 'Patient').map((x) => x.received_at);
  assert.equal(meta.lastUpdated, [...patientRows, '2025-09-01T09:00:00.000Z'].sort().at(-1));
  // The same content gives the same version, whether or not it links its source Patients.
  assert.equal(mergedPatientMeta(toMergedPatient(r, ['abc']), r, rows).versionId, meta.versionId);
  assert.equal(mergedPatientMeta(toMergedPatient(record()), record(), rows).versionId, meta.versionId);
  // A change in a source's demographics is a new version.
  const moved = record(identities.map((i) => (i.source_system === 'hl7:RM2' ? { ...i, postcode: 'M33 9ZZ', updated_at: '2025-10-02T09:00:00.000Z' } : i)));
  const after = mergedPatientMeta(toMergedPatient(moved), moved, rows);
  assert.notEqual(after.versionId, meta.versionId);
  assert.equal(after.lastUpdated, '2025-10-02T09:00:00.000Z');
});

test('history entries: a create for version 1, an update after, each with its response (FHIR R4 http.html#history)', () => {
  const v1: Observation = { resourceType: 'Observation', id: 'abc', status: 'final', code: { text: 'x' }, meta: { versionId: '1', lastUpdated: '2025-10-01T09:00:00.000Z' } };
  const v2: Observation = { ...v1, status: 'amended', meta: { versionId: '2', lastUpdated: '2025-10-02T09:00:00.000Z' } };
  assert.deepEqual(historyEntry(v1, { created: true }), {
    resource: v1,
    request: { method: 'POST', url: 'Observation' },
    response: { status: '201 Created', location: 'Observation/abc/_history/1', etag: 'W/"1"', lastModified: '2025-10-01T09:00:00.000Z' },
  });
  const e2 = historyEntry(v2, { created: false });
  assert.deepEqual(e2.request, { method: 'PUT', url: 'Observation/abc' });
  assert.equal(e2.response!.status, '200 OK');
  const b = historyBundle([e2], 2, { now: new Date('2025-10-03T00:00:00Z'), redacted: true });
  assert.equal(b.type, 'history');
  assert.equal(b.total, 2);
  assert.equal(b.meta!.security![0]!.code, 'REDACTED');
  assert.equal(historyBundle([], 0, { now: NOW }).entry, undefined, 'no empty entry array');
  assert.equal(etag('7'), 'W/"7"');
});
