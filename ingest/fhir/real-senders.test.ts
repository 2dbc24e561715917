/**
 * FHIR R4 as senders other than Bevan's generator write it (synthetic resources, written for these
 * tests in the shapes of UK Core, PDS, NRL, GP Connect and the R4 specification's examples): NHS
 * numbers and ODS codes under older or other systems, logical references by NHS number, Bulk Data
 * files that name no sender, and the R4 shapes a reader must keep (urn:uuid, relative and absolute
 * references, no fullUrl, Patient.link, deceased and multipleBirth, identifiers without a system,
 * partial dates, `_` primitive extensions, modifierExtension, contained resources).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { itemsFromFhirJson, NHS_NUMBER_SUBJECT_PREFIX, UNKNOWN_FHIR_SOURCE } from './bundle.ts';
import { fhirAdapter } from './adapter.ts';

type Json = Record<string, unknown>;
const read = (value: unknown): IngestItem[] => itemsFromFhirJson(value, { contentHash: 'h', raw: JSON.stringify(value), origin: 'test.json' });
const acceptedOf = (items: IngestItem[]): AcceptedItem => {
  const a = items.filter((i): i is AcceptedItem => i.kind === 'accepted');
  assert.equal(a.length, 1, JSON.stringify(items.filter((i) => i.kind === 'rejected').map((r) => (r as RejectedItem).reason)));
  return a[0]!;
};
const rejectedOf = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');
const collection = (...resources: Json[]) => ({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });
const subjects = (a: AcceptedItem) => Object.fromEntries(a.resources.map((r) => [`${r.resource.resourceType}/${r.resource.id}`, r.subject]));

async function readFile(text: string | Buffer): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  async function* one() {
    yield Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  }
  for await (const i of fhirAdapter.read(one(), 'file.json')) out.push(i);
  return out;
}

test('an NHS number under any system senders use: UK Core, http:, the old fhir.nhs.net, the NHS number OID; spaces and dashes dropped', () => {
  for (const system of ['https://fhir.nhs.uk/Id/nhs-number', 'http://fhir.nhs.uk/Id/nhs-number', 'http://fhir.nhs.net/Id/nhs-number', 'urn:oid:2.16.840.1.113883.2.1.4.1', 'https://fhir.nhs.uk/Id/nhs-number/']) {
    const a = acceptedOf(read({ resourceType: 'Patient', id: 'p1', identifier: [{ system, value: '943 476-5919' }] }));
    assert.equal(a.identities[0]!.nhsNumber, '9434765919', system);
    assert.equal(a.identities[0]!.identifiers, undefined, `${system} is not kept as another identifier`);
  }
  // Another system's number is not an NHS number (a local id, an identifier with no system).
  const other = acceptedOf(read({ resourceType: 'Patient', id: 'p2', identifier: [{ system: 'https://example.org/mrn', value: '9434765919' }, { value: 'LOCAL-77' }] }));
  assert.equal(other.identities[0]!.nhsNumber, undefined);
  assert.deepEqual(other.identities[0]!.identifiers, [{ system: 'https://example.org/mrn', value: '9434765919' }]);
  // The Patient is stored as it came: only the identity reads the variant.
  assert.deepEqual((other.resources[0]!.resource as unknown as Json).identifier, [{ system: 'https://example.org/mrn', value: '9434765919' }, { value: 'LOCAL-77' }]);
});

test('the registered practice as PDS sends it (organisation-data-service system, a directory reference), and as CareConnect did', () => {
  const gp = (generalPractitioner: Json[]) =>
    acceptedOf(read(collection({ resourceType: 'Patient', id: 'p1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }], generalPractitioner })));
  const pds = gp([{ type: 'Organization', reference: 'https://directory.spineservices.nhs.uk/STU3/Organization/Y12345', identifier: { system: 'https://digital.nhs.uk/services/organisation-data-service', value: 'Y12345' } }]);
  assert.equal(pds.identities[0]!.practice, 'Y12345');
  assert.equal(pds.sourceSystem, 'gp:Y12345');
  assert.equal(gp([{ reference: 'https://directory.spineservices.nhs.uk/STU3/Organization/y23456' }]).identities[0]!.practice, 'Y23456');
  assert.equal(gp([{ identifier: { system: 'http://fhir.nhs.net/Id/ods-organization-code', value: 'P91001' } }]).identities[0]!.practice, 'P91001');
  // Another directory's Organization id is not an ODS code.
  assert.equal(gp([{ reference: 'https://example.org/fhir/Organization/Y12345' }]).identities[0]!.practice, undefined);
});

test('a conditional reference by the old NHS number system finds the Patient sent under the UK Core one', () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:0b9f6c0e-1d8e-4f55-9b1d-4c1e0d3a0001', resource: { resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }] }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient?identifier=http://fhir.nhs.net/Id/nhs-number|9434765919' } }, request: { method: 'PUT', url: 'Condition/c1' } },
    ],
  };
  const a = acceptedOf(read(bundle));
  assert.deepEqual(subjects(a), { 'Patient/0b9f6c0e-1d8e-4f55-9b1d-4c1e0d3a0001': '0b9f6c0e-1d8e-4f55-9b1d-4c1e0d3a0001', 'Condition/c1': '0b9f6c0e-1d8e-4f55-9b1d-4c1e0d3a0001' });
  assert.deepEqual((a.resources[1]!.resource as unknown as Json).subject, { reference: 'Patient/0b9f6c0e-1d8e-4f55-9b1d-4c1e0d3a0001' });
});

test('Bulk Data lines that name no sender land in one namespace: a Patient with a record number and a practice, and its Observation', () => {
  const patient = {
    resourceType: 'Patient',
    id: 'bp1',
    identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' }],
    generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' } }],
  };
  const observation = { resourceType: 'Observation', id: 'bo1', status: 'final', code: { text: 'Weight' }, subject: { reference: 'Patient/bp1' }, valueQuantity: { value: 84, unit: 'kg' } };
  const p = acceptedOf(read(patient));
  const o = acceptedOf(read(observation));
  assert.equal(p.sourceSystem, UNKNOWN_FHIR_SOURCE);
  assert.equal(o.sourceSystem, p.sourceSystem);
  assert.equal(subjects(o)['Observation/bo1'], 'bp1');
  // A line that names its sender keeps it; a Bundle of the same Patient is still placed by its practice.
  assert.equal(acceptedOf(read({ ...patient, meta: { source: 'https://gp.example/fhir' } })).sourceSystem, 'https://gp.example/fhir');
  assert.equal(acceptedOf(read(collection(patient, observation))).sourceSystem, 'gp:P91001');
});

test('a resource naming its Patient only by NHS number (an NRL pointer) is that NHS number’s; within a bundle of Patients it is not', () => {
  const pointer = {
    resourceType: 'DocumentReference',
    id: 'Y05868-0001',
    status: 'current',
    subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '943 476 5919' } },
    custodian: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'Y05868' } },
    content: [{ attachment: { contentType: 'application/pdf', url: 'https://example.org/plan.pdf' } }],
  };
  const a = acceptedOf(read(pointer));
  const id = `${NHS_NUMBER_SUBJECT_PREFIX}9434765919`;
  assert.deepEqual(a.identities, [{ system: UNKNOWN_FHIR_SOURCE, id, nhsNumber: '9434765919' }]);
  assert.equal(subjects(a)['DocumentReference/Y05868-0001'], id);
  assert.deepEqual((a.resources[0]!.resource as unknown as Json).subject, pointer.subject, 'the reference is kept as sent');
  // Two pointers about one person in a bundle: one identity.
  const two = acceptedOf(read(collection(pointer, { ...pointer, id: 'Y05868-0002', subject: { type: 'Patient', identifier: { system: 'http://fhir.nhs.net/Id/nhs-number', value: '9434765919' } } })));
  assert.equal(two.identities.length, 1);
  assert.deepEqual(Object.values(subjects(two)), [id, id]);
  // Not ten digits, or another system: no identity.
  assert.deepEqual(acceptedOf(read({ ...pointer, subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '12345' } } })).identities, []);
  assert.deepEqual(acceptedOf(read({ ...pointer, subject: { identifier: { system: 'https://example.org/mrn', value: '9434765919' } } })).identities, []);
  // With a Patient in the bundle, the Patient's own NHS number is matched as before; another is left alone.
  const withPatient = acceptedOf(read(collection({ resourceType: 'Patient', id: 'p1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }] }, pointer)));
  assert.deepEqual(subjects(withPatient), { 'Patient/p1': 'p1', 'DocumentReference/Y05868-0001': 'p1' });
  assert.equal(withPatient.identities.length, 1);
});

test('R4 shapes kept as sent: no fullUrl, relative/absolute/urn:uuid references, Patient.link, deceased and multipleBirth, partial dates, _ extensions, modifierExtension, contained', () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        fullUrl: 'https://gp.example/fhir/Patient/pd1',
        resource: {
          resourceType: 'Patient',
          id: 'pd1',
          identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }, { value: 'LOCAL-77' }],
          name: [{ family: 'Testpartial', given: ['Petra'] }],
          gender: 'female',
          birthDate: '1961-07',
          _birthDate: { extension: [{ url: 'https://example.org/precision', valueString: 'month' }] },
          deceasedBoolean: false,
          multipleBirthBoolean: true,
          link: [{ other: { reference: 'Patient/pd0' }, type: 'replaces' }],
          modifierExtension: [{ url: 'https://example.org/modifier', valueBoolean: true }],
        },
      },
      { fullUrl: 'urn:uuid:6f3c1b2a-0000-4000-8000-000000000001', resource: { resourceType: 'Practitioner', name: [{ family: 'Testdoc' }] } },
      {
        resource: {
          resourceType: 'Condition',
          id: 'c1',
          subject: { reference: 'https://gp.example/fhir/Patient/pd1' },
          recorder: { reference: 'urn:uuid:6f3c1b2a-0000-4000-8000-000000000001' },
          onsetDateTime: '2019',
          recordedDate: '2019-03',
          code: { text: 'Asthma' },
          contained: [{ resourceType: 'Practitioner', id: 'asserter', name: [{ family: 'Testnurse' }] }],
          asserter: { reference: '#asserter' },
        },
      },
      { resource: { resourceType: 'Observation', id: 'o1', status: 'final', subject: { reference: 'Patient/pd1' }, effectiveDateTime: '2020-05', code: { text: 'Weight' }, valueQuantity: { value: 70.5, unit: 'kg' } } },
      { resource: { resourceType: 'Observation', id: 'o2', status: 'final', subject: { reference: 'Patient/pd1/_history/2' }, code: { text: 'Smoking status' }, valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '8517006' }] } } },
    ],
  };
  const a = acceptedOf(read(bundle));
  assert.deepEqual(rejectedOf(read(bundle)), []);
  assert.deepEqual(subjects(a), { 'Patient/pd1': 'pd1', 'Practitioner/6f3c1b2a-0000-4000-8000-000000000001': undefined, 'Condition/c1': 'pd1', 'Observation/o1': 'pd1', 'Observation/o2': 'pd1' });
  const [patient, , condition] = a.resources.map((r) => r.resource as unknown as Json);
  assert.equal(patient!.birthDate, '1961-07');
  assert.deepEqual(patient!._birthDate, { extension: [{ url: 'https://example.org/precision', valueString: 'month' }] });
  assert.equal(patient!.multipleBirthBoolean, true);
  assert.equal(patient!.deceasedBoolean, false);
  assert.deepEqual(patient!.modifierExtension, [{ url: 'https://example.org/modifier', valueBoolean: true }]);
  assert.deepEqual(condition!.subject, { reference: 'Patient/pd1' }, 'a fullUrl reference becomes Type/id');
  assert.deepEqual(condition!.recorder, { reference: 'Practitioner/6f3c1b2a-0000-4000-8000-000000000001' });
  assert.deepEqual(condition!.asserter, { reference: '#asserter' });
  assert.equal(condition!.onsetDateTime, '2019');
  assert.deepEqual((patient!.identifier as Json[])[1], { value: 'LOCAL-77' });
  assert.equal(a.identities[0]!.identifiers, undefined, 'an identifier with no system names no namespace, so the matcher is not given it');
  assert.deepEqual(a.merges, [{ kind: 'merge', system: a.sourceSystem, survivorId: 'pd1', retiredId: 'pd0', event: 'Patient.link replaces' }]);
});

test('files as they arrive: a BOM before minified JSON, pretty JSON, NDJSON with CRLF and trailing blank lines', async () => {
  const patient = { resourceType: 'Patient', id: 'f1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }] };
  const minified = acceptedOf(await readFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(patient))])));
  assert.equal(minified.identities[0]!.nhsNumber, '9434765919');
  const pretty = acceptedOf(await readFile(JSON.stringify(collection(patient), null, 4)));
  assert.equal(pretty.identities[0]!.id, 'f1');
  const obs = (id: string) => JSON.stringify({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/f1' } });
  const lines = await readFile(`${obs('n1')}\r\n${obs('n2')}\r\n\r\n\n  \n`);
  assert.deepEqual(lines.map((i) => i.kind), ['accepted', 'accepted']);
  assert.deepEqual(lines.map((i) => (i as AcceptedItem).origin), ['file.json#1', 'file.json#2']);
});

test('a resource on its own without an id (the body of a FHIR create) is kept under an id from its content; a resend is the same resource', () => {
  const obs = (kg = 70): Json => ({ resourceType: 'Observation', status: 'final', code: { text: 'Body weight' }, subject: { reference: 'Patient/p9' }, valueQuantity: { value: kg, unit: 'kg' } });
  const a = acceptedOf(read(obs()));
  const id = a.resources[0]!.resource.id!;
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(a.messageId, `Observation/${id}`);
  assert.equal(acceptedOf(read(obs())).resources[0]!.resource.id, id, 'the same content, the same id');
  assert.notEqual(acceptedOf(read(obs(71))).resources[0]!.resource.id, id);
  // A bad one is still refused for what is wrong with it.
  assert.match(rejectedOf(read({ ...obs(), effectiveDateTime: '2024-02-30' }))[0]!.reason, /2024-02-30/);
});
