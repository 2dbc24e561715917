import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, Patient } from '@medplum/fhirtypes';
import { BevanError, type Principal, type PurposeOfUse } from '../access/context.ts';
import { loadPolicy } from '../access/policy.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { GP, HOSPITAL, identities, NHS, NOW, PERSON_ID, person, practices, rows } from '../record/test-fixtures.ts';
import type { ResourceRow } from '../record/rows.ts';
import { MemoryFhirStore } from './memory-store.ts';
import { FhirRepository } from './repository.ts';

const policy = (() => {
  const r = loadPolicy();
  if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
  return r.policy;
})();

const chlamydia: ResourceRow = {
  ...rows[1]!,
  source_id: 'sh1',
  content: { resourceType: 'Condition', id: 'sh1', subject: { reference: 'Patient/gp-pat-1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '105629000', display: 'Chlamydial infection' }] } } as Condition,
};

function setup(facts: Record<string, unknown> = {}) {
  return new MemoryFhirStore({ persons: [person], identities, resources: [...rows, chlamydia], practices, facts: { [PERSON_ID]: { registeredPractices: ['P91001'], ...facts } } });
}
const GP_USER: Principal = { user: 'dr.jones', role: 'gp', organisation: 'P91001' };
const repo = (store: MemoryFhirStore, principal: Principal = GP_USER, purpose: PurposeOfUse = 'direct-care', breakGlassReason?: string) =>
  new FhirRepository({ principal, purpose, from: '127.0.0.1', breakGlassReason }, store, policy, () => NOW);

async function rejectsWith(p: Promise<unknown>, kind: string, re?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BevanError, String(err));
    assert.equal(err.kind, kind);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('the registered GP reads the record; the read is audited with the decision and its reason', async () => {
  const store = setup();
  const r = await repo(store).readRecord({ nhsNumber: NHS }, { action: 'record.read' });
  assert.equal(r.decision.basis, 'registered-practice');
  assert.equal(r.withheld, 0, 'the registered GP sees sexual health');
  assert.equal(store.audit.length, 1);
  assert.deepEqual([store.audit[0]!.actor, store.audit[0]!.role, store.audit[0]!.organisation, store.audit[0]!.decision, store.audit[0]!.personId, store.audit[0]!.from], ['dr.jones', 'gp', 'P91001', 'permit', PERSON_ID, '127.0.0.1']);
});

test('a GP at another practice with no relationship is refused, and the refusal is audited', async () => {
  const store = setup();
  await rejectsWith(repo(store, { user: 'dr.other', role: 'gp', organisation: 'P91999' }).everything(PERSON_ID), 'forbidden', /no legitimate relationship/);
  assert.equal(store.audit.length, 1);
  assert.equal(store.audit[0]!.decision, 'deny');
  assert.equal(store.audit[0]!.action, 'record.everything');
});

test('nobody found is audited too, then not-found', async () => {
  const store = setup();
  await rejectsWith(repo(store).readRecord({ nhsNumber: '4010232137' }, { action: 'record.read' }), 'not-found');
  assert.equal(store.audit.length, 1);
  assert.equal(store.audit[0]!.personId, undefined);
});

test('obligations: a consultant with an open episode does not see sexual health; the bundle says something was withheld', async () => {
  const store = setup({ openEpisodeOrganisations: ['RM2'] });
  const b = await repo(store, { user: 'dr.house', role: 'consultant', organisation: 'RM2' }).everything(PERSON_ID);
  const ids = b.entry!.map((e) => e.resource!.id);
  assert.ok(!ids.includes(fhirLogicalId(GP, 'Condition', 'sh1')));
  assert.ok(ids.includes(fhirLogicalId(GP, 'Condition', 'c1')));
  assert.equal(b.meta?.security?.[0]?.code, 'REDACTED');
  assert.equal(b.entry!.filter((e) => e.resource!.resourceType === 'Patient').length, 1, 'one Patient for the person');
  for (const e of b.entry!.slice(1).filter((x) => x.search?.mode !== 'outcome')) assert.ok(e.resource!.meta!.source, 'each entry names its source');
  // Counted, not shown: one outcome entry says how many (after the total, which counts matches).
  const outcome = b.entry!.filter((e) => e.search?.mode === 'outcome');
  assert.equal(outcome.length, 1);
  assert.deepEqual(outcome[0]!.resource, { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'suppressed', diagnostics: '1 item withheld by the access policy (sensitive)' }] });
  assert.equal(b.total, b.entry!.length - 1);
  await rejectsWith(repo(store, { user: 'dr.house', role: 'consultant', organisation: 'RM2' }).readResource('Condition', fhirLogicalId(GP, 'Condition', 'sh1')), 'forbidden', /withheld/);
  const c1 = (await repo(store, { user: 'dr.house', role: 'consultant', organisation: 'RM2' }).readResource('Condition', fhirLogicalId(GP, 'Condition', 'c1'))) as Condition;
  assert.equal(c1.subject!.reference, `Patient/${PERSON_ID}`);
});

test('dissent from sharing: only the user organisation’s own items', async () => {
  const store = setup({ dissentSharing: true });
  const r = await repo(store).readRecord({ personId: PERSON_ID }, { action: 'record.read' });
  assert.ok(r.rows.length > 0);
  assert.ok(r.rows.every((x) => x.source_system === GP));
});

test('a patient reads their own record, not anyone else’s', async () => {
  const store = setup();
  const me = { user: 'jon', role: 'patient' as const, organisation: null, nhsNumber: NHS };
  const p = await repo(store, me, 'patient-access').readPatient(PERSON_ID);
  assert.equal((p as Patient).id, PERSON_ID);
  await rejectsWith(repo(store, { ...me, nhsNumber: '4010232137' }, 'patient-access').readPatient(PERSON_ID), 'forbidden', /only their own/);
});

test('break-glass: declared with a reason, starts a time-limited session and an alert entry, then the session carries on', async () => {
  const store = setup();
  const ed = { user: 'dr.ed', role: 'consultant' as const, organisation: 'RM9' };
  await rejectsWith(repo(store, ed).readRecord({ personId: PERSON_ID }, { action: 'record.read' }), 'forbidden', /break-glass/);
  const r = await repo(store, ed, 'direct-care', 'Unconscious in ED, no history').readRecord({ personId: PERSON_ID }, { action: 'record.read' });
  assert.equal(r.decision.basis, 'break-glass');
  assert.ok(r.withheld >= 1, 'sensitive items stay withheld under break-glass');
  assert.equal(store.breakGlass.length, 1);
  const start = store.audit.find((a) => a.action === 'break-glass.start')!;
  assert.deepEqual((start.detail as { alert: boolean }).alert, true);
  const again = await repo(store, ed).readRecord({ personId: PERSON_ID }, { action: 'record.read' });
  assert.equal(again.decision.basis, 'break-glass');
  assert.equal(store.breakGlass.length, 1, 'no second session');
});

test('search: only people the user may see; one audit entry per person returned', async () => {
  const store = setup();
  const found = await repo(store).searchPatients({ family: [['smi']] }, { count: 10, offset: 0 });
  assert.equal(found.total, 1);
  assert.equal(found.patients[0]!.id, PERSON_ID);
  assert.deepEqual(store.audit.map((a) => [a.action, a.personId]), [['patient.search', PERSON_ID]]);
  const other = await repo(store, { user: 'dr.other', role: 'gp', organisation: 'P91999' }).searchPatients({ family: [['smi']] }, { count: 10, offset: 0 });
  assert.equal(other.total, 0);
  await rejectsWith(repo(store, { user: 'ann', role: 'analyst', organisation: null }).searchPatients({}, { count: 10, offset: 0 }), 'forbidden');
  assert.equal(store.audit.at(-1)!.decision, 'deny');
});

test('no policy loaded: everything is denied (fails closed)', async () => {
  const store = setup();
  const r = new FhirRepository({ principal: GP_USER, purpose: 'direct-care', from: 'x' }, store, null, () => NOW);
  await rejectsWith(r.readRecord({ personId: PERSON_ID }, { action: 'record.read' }), 'forbidden', /no access policy/);
  await rejectsWith(r.readResource('Encounter', fhirLogicalId(HOSPITAL, 'Encounter', 'V1001')), 'forbidden');
});
