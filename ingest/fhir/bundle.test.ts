import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem, IngestItem, ReadContext, RejectedItem } from '../model.ts';
import { itemsFromFhirJson } from './bundle.ts';
import { SYNTHEA_TYPES, searchsetOfPatients, syntheaBundle } from './fixtures/synthea.ts';
import { NON_PERSONAL_TYPES } from './r4.ts';

type Json = Record<string, unknown>;

function read(value: unknown, context: ReadContext = {}): IngestItem[] {
  const raw = JSON.stringify(value);
  return itemsFromFhirJson(JSON.parse(raw), { contentHash: 'hash-1', raw, origin: 'test.json' }, context);
}
const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

const patient = (id: string, extra: Json = {}): Json => ({ resourceType: 'Patient', id, name: [{ family: `F${id}`, given: ['G'] }], birthDate: '1980-01-01', ...extra });
const obs = (id: string, subject: string, extra: Json = {}): Json => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: subject }, ...extra });
const bundle = (type: string, entry: Json[], extra: Json = {}): Json => ({ resourceType: 'Bundle', id: 'b1', type, meta: { source: 'test:src' }, entry, ...extra });

test('Synthea-shaped transaction bundles: all accepted with --source, every entry stored, one person each', () => {
  let entries = 0;
  let stored = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const b = syntheaBundle({ seed, encounters: 20 });
    const items = read(b, { source: 'synthea' });
    const [item] = accepted(items);
    assert.ok(item, `bundle ${seed} accepted`);
    assert.equal(item.sourceSystem, 'synthea');
    assert.equal(item.identities.length, 1);
    const pid = item.identities[0]!.id;
    entries += (b.entry as unknown[]).length;
    stored += item.resources.length;
    const types = new Set(item.resources.map((r) => r.resource.resourceType));
    if (seed === 1) assert.deepEqual([...types].sort(), [...SYNTHEA_TYPES].sort());
    for (const r of item.resources) {
      // Every personal resource names the one Patient; directory resources name no one.
      if (NON_PERSONAL_TYPES.has(r.resource.resourceType)) assert.equal(r.subject, undefined, r.resource.resourceType);
      else assert.equal(r.subject, pid, r.resource.resourceType);
      assert.doesNotMatch(JSON.stringify(r.resource), /"reference":"urn:uuid:/, 'bundle-local references rewritten');
    }
    assert.deepEqual(rejected(items), []);
  }
  assert.ok(stored / entries >= 0.95, `${stored}/${entries}`);
  assert.equal(stored, entries);
});

test('Synthea-shaped bundle without --source: keyed by the system of its Patient’s medical record number', () => {
  const [item] = accepted(read(syntheaBundle({ seed: 2, encounters: 2 })));
  assert.equal(item?.sourceSystem, 'fhir:http://hospital.smarthealthit.org');
});

test('a bundle with no source, no practice and no record-number system: accepted as from fhir:unknown (meta.source is optional)', () => {
  const items = read({ resourceType: 'Bundle', id: 'b9', type: 'collection', entry: [{ resource: patient('p9', { identifier: [{ system: 'urn:x', value: '1' }] }) }] });
  assert.equal(items.length, 1);
  assert.equal((items[0] as AcceptedItem).sourceSystem, 'fhir:unknown');
  assert.deepEqual((items[0] as AcceptedItem).identities.map((i) => [i.system, i.id]), [['fhir:unknown', 'p9']]);
});

test('conditional references: resolved against bundle entries; directory ones kept as logical references', () => {
  const b = syntheaBundle({ seed: 4, encounters: 1 });
  const [item] = accepted(read(b, { source: 's' }));
  const enc = item!.resources.find((r) => r.resource.resourceType === 'Encounter')!.resource as unknown as Json;
  const org = item!.resources.find((r) => r.resource.resourceType === 'Organization')!.resource;
  assert.equal((enc.serviceProvider as Json).reference, `Organization/${org.id}`);
  // Without the directory entries, the reference stays conditional and gains its identifier.
  const lone = syntheaBundle({ seed: 4, encounters: 1, inlineDirectory: false });
  const [item2] = accepted(read(lone, { source: 's' }));
  const enc2 = item2!.resources.find((r) => r.resource.resourceType === 'Encounter')!.resource as unknown as Json;
  const sp = enc2.serviceProvider as Json;
  assert.match(sp.reference as string, /^Organization\?identifier=https:\/\/github.com\/synthetichealth\/synthea\|/);
  assert.deepEqual(sp.identifier, { system: 'https://github.com/synthetichealth/synthea', value: (sp.reference as string).split('|')[1] });
  assert.equal(sp.type, 'Organization');
  const who = ((enc2.participant as Json[])[0]!.individual as Json).identifier as Json;
  assert.equal(who.system, 'http://hl7.org/fhir/sid/us-npi');
});

test('Patient?identifier= conditional references: one match resolves; none or two reject that entry only', () => {
  const nhs = (v: string) => ({ identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: v }] });
  const b = bundle('transaction', [
    { fullUrl: 'urn:uuid:p-a', resource: patient('a', nhs('9434765919')), request: { method: 'PUT', url: 'Patient/a' } },
    { fullUrl: 'urn:uuid:p-b', resource: patient('b', nhs('9434765870')), request: { method: 'PUT', url: 'Patient/b' } },
    { fullUrl: 'urn:uuid:p-c', resource: patient('c', nhs('9434765870')), request: { method: 'PUT', url: 'Patient/c' } },
    { resource: obs('o1', 'Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919'), request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=x|1' } },
    { resource: obs('o2', 'Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999'), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('o3', 'Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765870'), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('o4', 'Patient?name=smith'), request: { method: 'POST', url: 'Observation' } },
  ]);
  const items = read(b);
  const [item] = accepted(items);
  assert.deepEqual(item!.identities.map((i) => i.id), ['a', 'b', 'c']);
  const o1 = item!.resources.find((r) => r.resource.id === 'o1')!;
  assert.equal(o1.subject, 'a');
  assert.equal((o1.resource as unknown as { subject: { reference: string } }).subject.reference, 'Patient/a');
  assert.deepEqual(
    rejected(items).map((r) => r.reason),
    [
      'entry 5 (Observation/o2): conditional reference "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999" matches no Patient in this bundle',
      'entry 6 (Observation/o3): conditional reference "Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765870" matches 2 Patients in this bundle (b, c), so whose it is cannot be told',
      'entry 7 (Observation/o4): conditional reference "Patient?name=smith" cannot be resolved: Bevan resolves them by identifier or _id',
    ],
  );
  // The rejected entry is kept as it came, for repair and replay.
  assert.deepEqual(JSON.parse(rejected(items)[0]!.raw).resource.subject, { reference: 'Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999' });
});

test('transaction requests: ids from urn:uuid, PUT url and content; DELETE and PATCH get reasons; GET is skipped', () => {
  const b = bundle('transaction', [
    { fullUrl: 'urn:uuid:6f1c1d2e-0000-4000-8000-000000000001', resource: patient(undefined as unknown as string), request: { method: 'POST', url: 'Patient' } },
    { fullUrl: 'urn:uuid:x-2', resource: obs(undefined as unknown as string, 'urn:uuid:6f1c1d2e-0000-4000-8000-000000000001'), request: { method: 'POST', url: 'Observation' } },
    { resource: { resourceType: 'Condition', subject: { reference: 'urn:uuid:6f1c1d2e-0000-4000-8000-000000000001' } }, request: { method: 'PUT', url: 'Condition/c-77' } },
    { resource: { resourceType: 'Flag', status: 'active', code: { text: 'x' }, subject: { reference: 'urn:uuid:6f1c1d2e-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'Flag' } },
    { request: { method: 'DELETE', url: 'Observation/old-1' } },
    { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: 'W10=' }, request: { method: 'PATCH', url: 'Observation/o-9' } },
    { request: { method: 'GET', url: 'Patient?identifier=x|1' } },
  ]);
  const items = read(b);
  const [item] = accepted(items);
  assert.deepEqual(item!.identities.map((i) => i.id), ['6f1c1d2e-0000-4000-8000-000000000001']);
  const ids = item!.resources.map((r) => `${r.resource.resourceType}/${r.resource.id}`);
  assert.equal(ids[0], 'Patient/6f1c1d2e-0000-4000-8000-000000000001');
  assert.equal(ids[1], 'Observation/x-2');
  assert.equal(ids[2], 'Condition/c-77');
  assert.match(ids[3]!, /^Flag\/[0-9a-f]{64}$/);
  assert.deepEqual(read(b)[0]!.kind === 'accepted' && (read(b)[0] as AcceptedItem).resources[3]!.resource.id, item!.resources[3]!.resource.id, 'content ids are stable');
  assert.deepEqual(item!.resources.map((r) => r.subject), Array(4).fill('6f1c1d2e-0000-4000-8000-000000000001'));
  const reasons = rejected(items).map((r) => r.reason);
  assert.equal(reasons.length, 2);
  assert.match(reasons[0]!, /^entry 5 asks to DELETE "Observation\/old-1": Bevan does not apply deletions/);
  assert.match(reasons[1]!, /^entry 6 asks to PATCH/);
});

test('several Patients (collection): each resource to the Patient of its compartment', () => {
  const b = bundle('collection', [
    { fullUrl: 'urn:uuid:pa', resource: patient('pa') },
    { fullUrl: 'urn:uuid:pb', resource: patient('pb') },
    { resource: obs('o-a', 'urn:uuid:pa') },
    { resource: obs('o-b', 'Patient/pb', { performer: [{ reference: 'Patient/pa' }] }) },
    { resource: { resourceType: 'Claim', id: 'cl', status: 'active', patient: { reference: 'urn:uuid:pb' } } },
    { resource: { resourceType: 'ExplanationOfBenefit', id: 'eob', patient: { reference: 'Patient/pa' } } },
    { resource: { resourceType: 'Coverage', id: 'cov', beneficiary: { reference: 'Patient/pb' }, payor: [{ reference: 'Patient/pa' }] } },
    { resource: { resourceType: 'Provenance', id: 'prov', target: [{ reference: 'Observation/o-a' }, { reference: 'Patient/pa' }] } },
    { resource: { resourceType: 'Device', id: 'dev', patient: { reference: 'Patient/pb' } } },
    { resource: { resourceType: 'Observation', id: 'o-nhs', status: 'final', code: { text: 'x' }, subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } } } },
    { resource: { resourceType: 'MessageHeader', id: 'mh', eventCoding: { code: 'x' }, source: { endpoint: 'x' } } },
    { resource: { resourceType: 'Organization', id: 'org' } },
    { resource: obs('o-elsewhere', 'Patient/not-here') },
  ]);
  ((b.entry as Json[])[1]!.resource as Json).identifier = [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }];
  const [item, ...more] = read(b);
  assert.deepEqual(more, []);
  assert.deepEqual(item!.kind === 'accepted' && item.identities.map((i) => i.id), ['pa', 'pb']);
  const subjects = Object.fromEntries((item as AcceptedItem).resources.map((r) => [r.resource.id, r.subject ?? null]));
  assert.deepEqual(subjects, { pa: 'pa', pb: 'pb', 'o-a': 'pa', 'o-b': 'pb', cl: 'pb', eob: 'pa', cov: 'pb', prov: 'pa', dev: 'pb', 'o-nhs': 'pb', mh: null, org: null, 'o-elsewhere': 'not-here' });
});

test('a searchset of 1,000 Patients is one item with 1,000 identities (address, town, postcode)', () => {
  const items = read(searchsetOfPatients(1000), { source: 'pds' });
  assert.equal(items.length, 1);
  const item = items[0] as AcceptedItem;
  assert.equal(item.event, 'searchset');
  assert.equal(item.identities.length, 1000);
  assert.deepEqual(item.identities[5], { system: 'pds', id: 'pds-5', nhsNumber: item.identities[5]!.nhsNumber, family: 'Testfamily5', given: 'Testgiven', birthDate: '1915-01-06', sex: 'female', postcode: 'ZZ99 9ZZ', address: '5 Test Road', town: 'Testborough' });
  assert.ok(item.resources.every((r) => r.subject === r.resource.id));
});

test('searchset OperationOutcome (mode outcome) is skipped; history versions give one identity, the newest', () => {
  const s = bundle('searchset', [{ resource: patient('p1') }, { resource: { resourceType: 'OperationOutcome', issue: [] }, search: { mode: 'outcome' } }]);
  const [item, ...more] = read(s);
  assert.deepEqual(more, []);
  assert.equal((item as AcceptedItem).resources.length, 1);
  const h = bundle('history', [
    { resource: patient('p1', { meta: { lastUpdated: '2024-02-01T00:00:00Z' }, name: [{ family: 'New' }] }), request: { method: 'PUT', url: 'Patient/p1' }, response: { status: '200' } },
    { resource: patient('p1', { meta: { lastUpdated: '2023-01-01T00:00:00Z' }, name: [{ family: 'Old' }] }), request: { method: 'POST', url: 'Patient' }, response: { status: '201' } },
  ]);
  const [hi] = read(h);
  assert.deepEqual((hi as AcceptedItem).identities.map((i) => i.family), ['New']);
});

test('in a one-Patient bundle a bad Patient rejects the bundle; among several, only that Patient', () => {
  const one = bundle('collection', [{ resource: patient('p1', { birthDate: '1980-02-30' }) }, { resource: obs('o1', 'Patient/p1') }]);
  const items = read(one);
  assert.equal(items.length, 1);
  assert.match((items[0] as RejectedItem).reason, /^the Patient is not valid: entry 1: Patient.birthDate "1980-02-30" is not a valid date/);
  const two = bundle('collection', [{ resource: patient('p1', { birthDate: '1980-02-30' }) }, { resource: patient('p2') }, { resource: obs('o1', 'Patient/p1') }]);
  const items2 = read(two);
  const [item] = accepted(items2);
  assert.deepEqual(item!.identities.map((i) => i.id), ['p2']);
  // The bad Patient's resources are kept under its id: they link once the repaired Patient is replayed.
  assert.equal(item!.resources.find((r) => r.resource.id === 'o1')!.subject, 'p1');
  assert.equal(rejected(items2).length, 1);
});

test('Patient.link: replaced-by and replaces are merges, seealso a link; each once', () => {
  const b = bundle('collection', [
    { resource: patient('p1', { link: [{ type: 'replaced-by', other: { reference: 'Patient/p0' } }, { type: 'seealso', other: { reference: 'Patient/p7' } }] }) },
    { resource: patient('p0', { link: [{ type: 'replaces', other: { reference: 'Patient/p1' } }, { type: 'refer', other: { reference: 'RelatedPerson/r1' } }] }) },
  ]);
  const [item] = read(b);
  assert.deepEqual((item as AcceptedItem).merges, [
    { kind: 'merge', system: 'test:src', survivorId: 'p0', retiredId: 'p1', event: 'Patient.link replaced-by' },
    { kind: 'link', system: 'test:src', survivorId: 'p1', retiredId: 'p7', event: 'Patient.link seealso' },
  ]);
});

test('identity: NHS number, official name first, home address lines and town, practice from a conditional ODS reference', () => {
  const p = patient('p1', {
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '943 476 5919' }],
    name: [{ use: 'nickname', family: 'Nick', given: ['N'] }, { use: 'official', family: 'Testperson', given: ['', 'Alex'] }],
    address: [{ use: 'old', line: ['9 Old Road'], city: 'Oldtown', postalCode: 'ZZ1 1ZZ' }, { use: 'home', line: ['Flat 2', ' 1 Test Street '], city: 'Sale', postalCode: 'ZZ9 9ZZ' }],
    generalPractitioner: [{ reference: 'Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|P91001' }],
  });
  const [item] = read({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: p, request: { method: 'PUT', url: 'Patient/p1' } }] });
  assert.equal((item as AcceptedItem).sourceSystem, 'gp:P91001');
  assert.deepEqual((item as AcceptedItem).identities[0], {
    system: 'gp:P91001', id: 'p1', nhsNumber: '9434765919', family: 'Testperson', given: 'Alex', birthDate: '1980-01-01', postcode: 'ZZ9 9ZZ', address: 'Flat 2, 1 Test Street', town: 'Sale', practice: 'P91001',
  });
});

test('source: --source, else meta.source without its #request fragment, else one shared GP practice', () => {
  const gp = (id: string, ods: string) => patient(id, { generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: ods } }] });
  assert.equal((read(bundle('collection', [{ resource: patient('p') }], { meta: { source: 'http://gp.example/fhir#req-42' } }))[0] as AcceptedItem).sourceSystem, 'http://gp.example/fhir');
  assert.equal((read({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: gp('a', 'Y1') }, { resource: gp('b', 'Y1') }] })[0] as AcceptedItem).sourceSystem, 'gp:Y1');
  const mixed = read({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: gp('a', 'Y1') }, { resource: gp('b', 'Y2') }] });
  // Patients of several practices (a demographics search): no one practice is the sender.
  assert.equal((mixed[0] as AcceptedItem).sourceSystem, 'fhir:unknown');
});

test('every R4 resource type is kept; a name that is not one is rejected', () => {
  const b = bundle('collection', [
    { resource: patient('p') },
    { resource: { resourceType: 'ResearchSubject', id: 'rs', individual: { reference: 'Patient/p' } } },
    { resource: { resourceType: 'VisionPrescription', id: 'vp', patient: { reference: 'Patient/p' } } },
    { resource: { resourceType: 'Observations', id: 'typo' } },
  ]);
  const items = read(b);
  assert.deepEqual(accepted(items)[0]!.resources.map((r) => r.resource.resourceType), ['Patient', 'ResearchSubject', 'VisionPrescription']);
  assert.deepEqual(rejected(items).map((r) => r.reason), ['entry 4: unknown resource type Observations: not a FHIR R4 resource type']);
});

test('a message Bundle: the MessageHeader sender (ODS code, else source name, else endpoint) is the source system, before the Patient’s practice', () => {
  const gp = { generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P84001' } }] };
  const header = (extra: Json): Json => ({ resourceType: 'MessageHeader', id: 'mh', eventCoding: { system: 'http://example.org/events', code: 'discharge' }, ...extra });
  const message = (h: Json, more: Json[] = []) => ({ resourceType: 'Bundle', id: 'm1', type: 'message', entry: [{ resource: h }, { resource: patient('p1', gp) }, ...more.map((resource) => ({ resource }))] });
  const sourceOf = (b: Json) => accepted(read(b))[0]?.sourceSystem;
  const org = { resourceType: 'Organization', id: 'o1', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RM2' }], name: 'Wythenshawe' };
  assert.equal(sourceOf(message(header({ sender: { reference: 'Organization/o1' }, source: { name: 'PAS', endpoint: 'https://pas.example' } }), [org])), 'fhir:RM2');
  assert.equal(sourceOf(message(header({ source: { name: 'SISGDSP', endpoint: 'https://lab.example' } }))), 'fhir:SISGDSP');
  assert.equal(sourceOf(message(header({ source: { endpoint: 'https://lab.example/fhir' } }))), 'fhir:https://lab.example/fhir');
  // A header that names no one falls back to the Patient's practice, as a collection does.
  assert.equal(sourceOf(message(header({ source: { _endpoint: { extension: [] } } }))), 'gp:P84001');
  // meta.source and --source still come first.
  assert.equal(sourceOf({ ...message(header({ source: { name: 'PAS' } })), meta: { source: 'hl7:RM2' } }), 'hl7:RM2');
  assert.equal(accepted(read(message(header({ source: { name: 'PAS' } })), { source: 'configured' }))[0]?.sourceSystem, 'configured');
});

test('a document Bundle (a discharge summary): the Composition custodian’s ODS code is the source system', () => {
  const ods = (value: string) => ({ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value });
  const doc = (composition: Json, more: Json[] = []) => ({
    resourceType: 'Bundle',
    id: 'd1',
    type: 'document',
    entry: [{ resource: { resourceType: 'Composition', id: 'c1', status: 'final', type: { text: 'Discharge summary' }, date: '2025-03-01', title: 'Discharge summary', subject: { reference: 'Patient/p1' }, ...composition } }, { resource: patient('p1') }, ...more.map((resource) => ({ resource }))],
  });
  const sourceOf = (b: Json) => accepted(read(b))[0]?.sourceSystem;
  assert.equal(sourceOf(doc({ custodian: { identifier: ods('RM2') }, author: [{ reference: 'Practitioner/x', display: 'Dr X' }] })), 'fhir:RM2');
  const org = { resourceType: 'Organization', id: 'o2', identifier: [ods('RBV')], name: 'The Christie' };
  assert.equal(sourceOf(doc({ author: [{ reference: 'Organization/o2' }] }, [org])), 'fhir:RBV');
});

test('identity: telecom (email, phone; not old ones), identifiers other than the NHS number and the record number, every given name', () => {
  const p = patient('p2', {
    identifier: [
      { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' },
      { system: 'http://hospital.example/mrn', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, value: 'MRN-1' },
      { system: 'http://hl7.org/fhir/sid/us-ssn', type: { coding: [{ code: 'SS' }] }, value: '999-12-3456' },
      { system: 'urn:oid:2.16.840.1.113883.4.3.25', type: { coding: [{ code: 'DL' }] }, value: 'S99912345' },
      { system: 'urn:febrl:soc_sec_id', value: '1234567' },
    ],
    name: [{ use: 'official', family: 'Doyle', given: ['Mary', 'Ann'] }],
    telecom: [
      { system: 'phone', use: 'home', value: '0161 496 0000' },
      { system: 'email', value: 'Mary.Doyle@Example.org' },
      { system: 'phone', use: 'old', value: '0161 496 0999' },
      { system: 'sms', use: 'mobile', value: '+44 7700 900123' },
    ],
  });
  const [item] = read({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: p }] }, { source: 'test:src' });
  const identity = (item as AcceptedItem).identities[0]!;
  assert.equal(identity.given, 'Mary Ann');
  assert.deepEqual(identity.emails, ['Mary.Doyle@Example.org']);
  assert.deepEqual(identity.phones, ['0161 496 0000', '+44 7700 900123']);
  assert.deepEqual(identity.identifiers, [
    { system: 'SS', value: '999-12-3456' },
    { system: 'DL', value: 'S99912345' },
    { system: 'urn:febrl:soc_sec_id', value: '1234567' },
  ]);
});

test('a transaction entry that invokes an operation (POST ValueSet/$lookup with Parameters) is a call, not a record: skipped', () => {
  const items = read({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:0b1f0d5e-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', name: [{ family: 'Op' }] }, request: { method: 'POST', url: 'Patient' } },
      { fullUrl: 'urn:uuid:0b1f0d5e-0000-4000-8000-000000000002', resource: { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { system: 'http://loinc.org', code: '1963-8' } }] }, request: { method: 'POST', url: 'ValueSet/$lookup' } },
    ],
  });
  assert.deepEqual(items.map((i) => i.kind), ['accepted']);
  assert.deepEqual((items[0] as AcceptedItem).resources.map((r) => r.resource.resourceType), ['Patient']);
});
