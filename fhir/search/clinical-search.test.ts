import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { BevanError, type Principal, type PurposeOfUse } from '../../access/context.ts';
import { loadPolicy } from '../../access/policy.ts';
import { fhirLogicalId, personPatientKeys, presentResource } from '../../record/fhir-bundle.ts';
import { GP, HOSPITAL, identities, NHS, NOW, PERSON_ID, person, practices } from '../../record/test-fixtures.ts';
import { MemoryFhirStore } from '../memory-store.ts';
import { FhirRepository } from '../repository.ts';
import { searchView } from './clinical-search.ts';
import { parseIncludeSpec, parseClinicalSearch, type ClinicalSearch, type ClinicalType, type IncludeSpec } from './params.ts';
import { allRows, OTHER_GP, OTHER_PERSON_ID, otherIdentity, otherPerson } from './search-fixtures.ts';

const policy = (() => {
  const r = loadPolicy();
  if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
  return r.policy;
})();

const GP_USER: Principal = { user: 'dr.jones', role: 'gp', organisation: 'P91001' };
const CONSULTANT: Principal = { user: 'dr.house', role: 'consultant', organisation: 'RM2' };
const id = (system: string, type: string, sourceId: string) => fhirLogicalId(system, type, sourceId);

function setup(facts: Record<string, unknown> = {}) {
  return new MemoryFhirStore({
    persons: [person, otherPerson],
    identities: [...identities, otherIdentity],
    resources: allRows,
    practices,
    facts: { [PERSON_ID]: { registeredPractices: ['P91001'], openEpisodeOrganisations: ['RM2'], ...facts }, [OTHER_PERSON_ID]: { registeredPractices: ['P91999'] } },
  });
}
const repo = (store: MemoryFhirStore, principal: Principal = GP_USER, purpose: PurposeOfUse = 'direct-care', breakGlassReason?: string) =>
  new FhirRepository({ principal, purpose, from: '127.0.0.1', breakGlassReason }, store, policy, () => NOW);

function q(type: ClinicalType, query: Record<string, string | string[]>): ClinicalSearch {
  const p = parseClinicalSearch(type, query);
  if (p.kind !== 'ok') throw new Error(p.problems.join('; '));
  return p.search;
}
const ids = (rs: Resource[]) => rs.map((r) => `${r.resourceType}/${r.id}`);

async function rejectsWith(p: Promise<unknown>, kind: string, re?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BevanError, String(err));
    assert.equal(err.kind, kind);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('the registered GP: HbA1c since 2025, newest first, paged; presented as read presents them; one audit entry', async () => {
  const store = setup();
  const s = q('Observation', { patient: `Patient/${PERSON_ID}`, code: 'http://snomed.info/sct|1107481000000106', date: 'ge2025-01-01', _sort: '-date', _count: '1' });
  const first = await repo(store).searchResources(s, { query: 'x' });
  assert.equal(first.total, 2);
  // A date-only value is the whole day, so 1 March (o2) ends after 10:20 that morning (o4).
  assert.deepEqual(ids(first.matches), [`Observation/${id(GP, 'Observation', 'o2')}`]);
  const m = first.matches[0] as Resource & { subject: { reference: string } };
  assert.equal(m.subject.reference, `Patient/${PERSON_ID}`, 'the subject is the merged Patient');
  assert.equal(m.meta!.source, GP);
  const second = await repo(store).searchResources({ ...s, offset: 1 });
  assert.deepEqual(ids(second.matches), [`Observation/${id(GP, 'Observation', 'o4')}`]);
  const past = await repo(store).searchResources({ ...s, offset: 50 });
  assert.equal(past.total, 2);
  assert.deepEqual(past.matches, []);
  const a = store.audit[0]!;
  assert.deepEqual([a.action, a.personId, a.decision, a.actor], ['resource.search', PERSON_ID, 'permit', 'dr.jones']);
  assert.deepEqual((a.detail as { matched: number; returned: number; resourceType: string; query: string }).matched, 2);
  assert.equal((a.detail as { returned: number }).returned, 1);
  assert.equal((a.detail as { resourceType: string }).resourceType, 'Observation');
  assert.equal(store.audit.length, 3, 'one entry per search');
});

test('the patient may be named by a source Patient’s stable id; results are the whole person’s', async () => {
  const store = setup();
  const r = await repo(store).searchResources(q('Observation', { patient: `Patient/${id(GP, 'Patient', 'gp-pat-1')}` }));
  assert.equal(r.total, 6, 'GP and hospital observations alike');
});

test('no patient named: refused, and the refusal audited', async () => {
  const store = setup();
  await rejectsWith(repo(store).searchResources(q('Observation', { code: '1107481000000106' })), 'forbidden', /names the patient/);
  assert.deepEqual([store.audit[0]!.action, store.audit[0]!.decision, store.audit[0]!.personId], ['resource.search', 'deny', undefined]);
});

test('a GP at another practice: refused, audited as a denial for that person', async () => {
  const store = setup();
  await rejectsWith(repo(store, { user: 'dr.far', role: 'gp', organisation: 'P99999' }).searchResources(q('Condition', { patient: PERSON_ID })), 'forbidden', /no legitimate relationship/);
  assert.deepEqual([store.audit[0]!.decision, store.audit[0]!.personId], ['deny', PERSON_ID]);
  // Naming two people, one of whom the user may not see: the whole search is refused.
  await rejectsWith(repo(store).searchResources(q('Observation', { patient: `${PERSON_ID},${OTHER_PERSON_ID}` })), 'forbidden');
  assert.deepEqual(store.audit.slice(1).map((e) => [e.decision, e.personId]), [['deny', OTHER_PERSON_ID]]);
});

test('nobody by that id: an empty result, audited as not found', async () => {
  const store = setup();
  const r = await repo(store).searchResources(q('Observation', { patient: '11111111-2222-4333-8444-555555555555' }));
  assert.equal(r.total, 0);
  assert.deepEqual([store.audit[0]!.reason, store.audit[0]!.personId], ['not found', undefined]);
});

test('sensitive items: withheld from a consultant in results, counts and _revinclude; shown to the registered GP', async () => {
  const store = setup();
  const gpSees = await repo(store).searchResources(q('Condition', { patient: PERSON_ID }));
  assert.ok(ids(gpSees.matches).includes(`Condition/${id(GP, 'Condition', 'sh2')}`));
  const c = await repo(store, CONSULTANT).searchResources(q('Condition', { patient: PERSON_ID }));
  assert.equal(c.total, gpSees.total - 1, 'the sexual health diagnosis withheld');
  assert.ok(!ids(c.matches).includes(`Condition/${id(GP, 'Condition', 'sh2')}`));
  assert.equal(c.redacted, true);
  const byCode = await repo(store, CONSULTANT).searchResources(q('Condition', { patient: PERSON_ID, code: '105629000' }));
  assert.equal(byCode.total, 0, 'not even counted');
  const enc = q('Encounter', { patient: PERSON_ID, _id: id(GP, 'Encounter', 'e1'), _revinclude: 'Condition:encounter,Observation:encounter' });
  const gpRev = await repo(store).searchResources(enc);
  assert.deepEqual(ids(gpRev.included).sort(), [`Condition/${id(GP, 'Condition', 'sh2')}`, `Observation/${id(GP, 'Observation', 'o4')}`].sort());
  const cRev = await repo(store, CONSULTANT).searchResources(enc);
  assert.deepEqual(ids(cRev.included), [`Observation/${id(GP, 'Observation', 'o4')}`]);
  const audit = store.audit.at(-1)!;
  assert.equal((audit.detail as { withheld: number }).withheld, 1, 'the audit says how much was withheld');
});

test('_include: the merged Patient once, the Encounter, a report’s results, a prescription’s Medication (reference data)', async () => {
  const store = setup();
  const r = await repo(store).searchResources(q('Observation', { patient: PERSON_ID, code: '1107481000000106', _include: ['Observation:patient', 'Observation:encounter'] }));
  assert.deepEqual(ids(r.included), [`Patient/${PERSON_ID}`, `Encounter/${id(GP, 'Encounter', 'e1')}`]);
  const dr = await repo(store).searchResources(q('DiagnosticReport', { patient: PERSON_ID, _include: 'DiagnosticReport:result' }));
  assert.deepEqual(ids(dr.included), [`Observation/${id(HOSPITAL, 'Observation', 'F500-1')}`]);
  const mr = await repo(store).searchResources(q('MedicationRequest', { patient: PERSON_ID, _include: 'MedicationRequest:medication' }));
  assert.deepEqual(ids(mr.included), [`Medication/${id(GP, 'Medication', 'med-1')}`]);
  assert.equal(mr.included[0]!.meta!.source, GP);
  const counted = await repo(store).searchResources(q('MedicationRequest', { patient: PERSON_ID, _include: 'MedicationRequest:medication', _summary: 'count' }));
  assert.deepEqual([counted.total, counted.matches.length, counted.included.length], [2, 0, 0]);
});

test('dissent from sharing: only the user organisation’s items; restricted people: refused', async () => {
  const dissent = setup({ dissentSharing: true });
  const r = await repo(dissent).searchResources(q('Observation', { patient: PERSON_ID }));
  assert.ok(r.total > 0);
  assert.ok(r.matches.every((x) => x.meta!.source === GP));
  const restricted = setup({ restricted: true });
  await rejectsWith(repo(restricted).searchResources(q('Observation', { patient: PERSON_ID })), 'forbidden', /restricted/);
});

test('break-glass with a reason opens a session (alert entry) and the search goes ahead; sensitive items stay withheld', async () => {
  const store = setup();
  const ed = { user: 'dr.ed', role: 'consultant' as const, organisation: 'RM9' };
  await rejectsWith(repo(store, ed).searchResources(q('Condition', { patient: PERSON_ID })), 'forbidden', /break-glass/);
  const r = await repo(store, ed, 'direct-care', 'Unconscious in ED, no history').searchResources(q('Condition', { patient: PERSON_ID }));
  assert.ok(r.total > 0 && r.redacted);
  assert.ok(store.audit.some((a) => a.action === 'break-glass.start' && (a.detail as { alert: boolean }).alert));
});

test('a patient searches their own record only', async () => {
  const store = setup();
  const me = { user: 'jon', role: 'patient' as const, organisation: null, nhsNumber: NHS };
  assert.ok((await repo(store, me, 'patient-access').searchResources(q('Observation', { patient: PERSON_ID }))).total > 0);
  await rejectsWith(repo(store, me, 'patient-access').searchResources(q('Observation', { patient: OTHER_PERSON_ID })), 'forbidden', /only their own/);
});

test('Patient search _revinclude: each person’s resources pointing at them, under the same obligations', async () => {
  const store = setup();
  const spec = parseIncludeSpec('Condition:patient') as IncludeSpec;
  const gp = await repo(store).searchPatients({ family: [['smi']] }, { count: 10, offset: 0, revinclude: [spec] });
  assert.equal(gp.patients.length, 1);
  assert.ok(ids(gp.included!).includes(`Condition/${id(GP, 'Condition', 'sh2')}`));
  const c = await repo(store, CONSULTANT).searchPatients({ family: [['smi']] }, { count: 10, offset: 0, revinclude: [spec] });
  assert.equal(c.included!.length, gp.included!.length - 1, 'sexual health withheld from the consultant');
  const other = await repo(store, { user: 'dr.other', role: 'gp', organisation: 'P91999' }).searchPatients({ family: [['jon']] }, { count: 10, offset: 0, revinclude: [parseIncludeSpec('Observation:patient') as IncludeSpec] });
  assert.deepEqual(ids(other.included!), [`Observation/${id(OTHER_GP, 'Observation', 'x1')}`], 'their own patient only');
});

test('a local laboratory code is found by the national code it is served with, and by its own', async () => {
  const store = setup();
  const national = await repo(store).searchResources(q('Observation', { patient: PERSON_ID, code: 'http://snomed.info/sct|1000651000000109' }));
  assert.deepEqual(ids(national.matches), [`Observation/${id(HOSPITAL, 'Observation', 'F500-2')}`]);
  assert.equal((national.matches[0] as { code: { coding: { system?: string }[] } }).code.coding[0]!.system, 'http://snomed.info/sct', 'served with the national coding first');
  const local = await repo(store).searchResources(q('Observation', { patient: PERSON_ID, code: '|K' }));
  assert.equal(local.total, 1);
});

test('the view searches match on is the served resource but for its references', () => {
  const keys = personPatientKeys(identities, allRows);
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== 'reference' && k !== 'source' && k !== 'versionId') out[k] = strip(v);
    return out;
  };
  for (const row of allRows) {
    const served = presentResource(row, row.person_id, keys);
    assert.deepEqual(strip(searchView(row, served.id!)), strip(served), `${row.resource_type}/${row.source_id}`);
  }
});
