import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { BevanError, type Principal } from '../access/context.ts';
import { loadPolicy } from '../access/policy.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import type { ResourceRow } from '../record/rows.ts';
import { GP, identities, NOW, PERSON_ID, person, practices, rows } from '../record/test-fixtures.ts';
import { MemoryFhirStore } from './memory-store.ts';
import { FhirRepository } from './repository.ts';

const policy = (() => {
  const r = loadPolicy();
  if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
  return r.policy;
})();

const GP_USER: Principal = { user: 'dr.jones', role: 'gp', organisation: 'P91001' };
const FAR: Principal = { user: 'dr.far', role: 'gp', organisation: 'P91999' };
const CONSULTANT: Principal = { user: 'dr.house', role: 'consultant', organisation: 'RM2' };

// o1 (an HbA1c) is at version 3; versions 1 and 2 are kept. Version 1 was first sent with a
// sexual health code by mistake (corrected in version 2): withheld from those who may not see it.
const o1 = rows.find((r) => r.source_id === 'o1')!;
const current: ResourceRow = { ...o1, version: 3, received_at: '2025-10-03T09:00:00.000Z' };
const v = (version: number, received: string, content: Partial<Observation>): ResourceRow => ({ ...o1, version, received_at: received, content: { ...(o1.content as Observation), ...content } });
const history = [
  v(1, '2025-10-01T09:00:00.000Z', { code: { coding: [{ system: 'http://snomed.info/sct', code: '105629000', display: 'Chlamydial infection' }] } }),
  v(2, '2025-10-02T09:00:00.000Z', { valueQuantity: { value: 57, unit: 'mmol/mol' } }),
];
const org: ResourceRow = { source_system: GP, resource_type: 'Organization', source_id: 'org-1', person_id: null, subject_id: null, version: 1, source_time: null, received_at: '2025-10-01T09:00:00.000Z', content: { resourceType: 'Organization', id: 'org-1', name: 'Sale Moor Medical Centre' } };

function setup() {
  return new MemoryFhirStore({
    persons: [person],
    identities,
    resources: [...rows.filter((r) => r !== o1), current, org],
    history,
    practices,
    facts: { [PERSON_ID]: { registeredPractices: ['P91001'], openEpisodeOrganisations: ['RM2'] } },
  });
}
const repo = (store: MemoryFhirStore, principal: Principal = GP_USER) => new FhirRepository({ principal, purpose: 'direct-care', from: '127.0.0.1' }, store, policy, () => NOW);
const O1 = fhirLogicalId(GP, 'Observation', 'o1');

async function rejectsWith(p: Promise<unknown>, kind: string, re?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BevanError, String(err));
    assert.equal(err.kind, kind);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('vread: each kept version with its versionId and lastUpdated; references still point at the merged Patient', async () => {
  const store = setup();
  const v2 = (await repo(store).vread('Observation', O1, '2')) as Observation;
  assert.equal(v2.id, O1);
  assert.deepEqual([v2.meta!.versionId, v2.meta!.lastUpdated], ['2', '2025-10-02T09:00:00.000Z']);
  assert.equal(v2.valueQuantity!.value, 57);
  assert.equal(v2.subject!.reference, `Patient/${PERSON_ID}`);
  const v3 = (await repo(store).vread('Observation', O1, '3')) as Observation;
  assert.equal(v3.meta!.versionId, '3');
  assert.equal(((await repo(store).readResource('Observation', O1)) as Observation).meta!.versionId, '3', 'read carries the version too');
  assert.deepEqual(store.audit.map((a) => [a.action, a.decision, a.personId]), [
    ['resource.vread', 'permit', PERSON_ID],
    ['resource.vread', 'permit', PERSON_ID],
    ['resource.read', 'permit', PERSON_ID],
  ]);
});

test('vread: an unknown version or resource is not found, and audited', async () => {
  const store = setup();
  for (const vid of ['4', '0', 'x1', '99999999999']) await rejectsWith(repo(store).vread('Observation', O1, vid), 'not-found', /no version/);
  await rejectsWith(repo(store).vread('Observation', fhirLogicalId(GP, 'Observation', 'nope'), '1'), 'not-found', /is not known/);
  assert.equal(store.audit.length, 5);
  assert.ok(store.audit.every((a) => a.action === 'resource.vread'));
});

test('a user with no relationship is refused vread and history, and each refusal is audited', async () => {
  const store = setup();
  await rejectsWith(repo(store, FAR).vread('Observation', O1, '1'), 'forbidden', /no legitimate relationship/);
  await rejectsWith(repo(store, FAR).history('Observation', O1, { count: 10, offset: 0 }), 'forbidden', /no legitimate relationship/);
  // Even an unknown version answers forbidden: a refused user learns nothing about versions.
  await rejectsWith(repo(store, FAR).vread('Observation', O1, '77'), 'forbidden');
  assert.deepEqual(store.audit.map((a) => [a.action, a.decision]), [
    ['resource.vread', 'deny'],
    ['resource.history-instance', 'deny'],
    ['resource.vread', 'deny'],
  ]);
});

test('history: newest first, paged, _since; one audit entry per page', async () => {
  const store = setup();
  const all = await repo(store).history('Observation', O1, { count: 10, offset: 0 });
  assert.equal(all.type, 'history');
  assert.equal(all.total, 3);
  assert.deepEqual(all.entry!.map((e) => e.resource!.meta!.versionId), ['3', '2', '1']);
  assert.deepEqual(all.entry!.map((e) => e.request!.method), ['PUT', 'PUT', 'POST']);
  assert.deepEqual(all.entry![0]!.response, { status: '200 OK', location: `Observation/${O1}/_history/3`, etag: 'W/"3"', lastModified: '2025-10-03T09:00:00.000Z' });
  const pages: string[][] = [];
  for (let offset = 0; offset < 4; offset += 2) pages.push(((await repo(store).history('Observation', O1, { count: 2, offset })).entry ?? []).map((e) => e.resource!.meta!.versionId!));
  assert.deepEqual(pages, [['3', '2'], ['1']]);
  const since = await repo(store).history('Observation', O1, { count: 10, offset: 0, since: '2025-10-02T09:00:00.000Z' });
  assert.equal(since.total, 2);
  assert.deepEqual(since.entry!.map((e) => e.resource!.meta!.versionId), ['3', '2']);
  const past = await repo(store).history('Observation', O1, { count: 10, offset: 10 });
  assert.equal(past.entry, undefined);
  assert.equal(past.total, 3);
  assert.equal(store.audit.length, 5);
  assert.deepEqual((store.audit[1]!.detail as { versions: number[] }).versions, [3, 2]);
});

test('obligations: a version withheld by its content is left out of the history (marked REDACTED) and refused to vread', async () => {
  const store = setup();
  const h = await repo(store, CONSULTANT).history('Observation', O1, { count: 10, offset: 0 });
  assert.deepEqual(h.entry!.map((e) => e.resource!.meta!.versionId), ['3', '2']);
  assert.equal(h.meta!.security![0]!.code, 'REDACTED');
  assert.equal((store.audit.at(-1)!.detail as { withheld: number }).withheld, 1);
  await rejectsWith(repo(store, CONSULTANT).vread('Observation', O1, '1'), 'forbidden', /withheld/);
  assert.equal(store.audit.at(-1)!.decision, 'deny');
  // The registered GP sees it.
  assert.equal(((await repo(store).vread('Observation', O1, '1')) as Observation).code!.coding![0]!.code, '105629000');
});

test('reference data: any signed-in user reads its versions, audited', async () => {
  const store = setup();
  const id = fhirLogicalId(GP, 'Organization', 'org-1');
  assert.equal((await repo(store, FAR).vread('Organization', id, '1')).meta!.versionId, '1');
  assert.equal((await repo(store, FAR).history('Organization', id, { count: 5, offset: 0 })).total, 1);
  assert.deepEqual(store.audit.map((a) => [a.decision, a.reason]), [
    ['permit', 'reference data (no person)'],
    ['permit', 'reference data (no person)'],
  ]);
});

test('the merged Patient: a computed version, readable as itself only; its history is its current version', async () => {
  const store = setup();
  const p = (await repo(store).readPatient(PERSON_ID)) as Patient;
  const vid = p.meta!.versionId!;
  assert.match(vid, /^[0-9a-f]{16}$/);
  assert.ok(p.meta!.lastUpdated);
  assert.deepEqual(await repo(store).vread('Patient', PERSON_ID, vid), p);
  await rejectsWith(repo(store).vread('Patient', PERSON_ID, '1'), 'not-found', /only its current version/);
  const h: Bundle = await repo(store).history('Patient', PERSON_ID, { count: 10, offset: 0 });
  assert.equal(h.total, 1);
  assert.equal(h.entry![0]!.resource!.meta!.versionId, vid);
  assert.equal((await repo(store).history('Patient', PERSON_ID, { count: 10, offset: 0, since: '2030-01-01T00:00:00.000Z' })).total, 0);
  const e = await repo(store).everything(PERSON_ID);
  assert.equal(e.entry![0]!.resource!.meta!.versionId, vid, '$everything shows the same version');
  await rejectsWith(repo(store, FAR).history('Patient', PERSON_ID, { count: 10, offset: 0 }), 'forbidden');
  assert.deepEqual(store.audit.map((a) => a.action), ['patient.read', 'patient.vread', 'patient.vread', 'patient.history-instance', 'patient.history-instance', 'record.everything', 'patient.history-instance']);
});
