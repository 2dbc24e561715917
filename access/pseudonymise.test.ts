import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, Patient } from '@medplum/fhirtypes';
import { pseudonymFor as cohortPseudonym } from '../analytics/cohorts/pseudonym.ts';
import { postcodeDistrict, pseudonymFor, pseudonymiseResource } from './pseudonymise.ts';

const key = Buffer.alloc(32, 7);
const PERSON = '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51';

test('keyed pseudonyms: the same for the same id and key, different under another key, not the id', () => {
  const p = pseudonymFor(key);
  assert.equal(p(PERSON), p(PERSON));
  assert.match(p(PERSON), /^[0-9a-f]{32}$/);
  assert.equal(p(PERSON), cohortPseudonym(key, PERSON), 'the same pseudonym as a cohort list gives');
  assert.notEqual(p(PERSON), p('0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a52'));
  assert.notEqual(pseudonymFor(Buffer.alloc(32, 8))(PERSON), p(PERSON));
  assert.throws(() => pseudonymFor(Buffer.alloc(16)), /256 bits/);
});

test('a Patient keeps what analysis needs and loses who the person is', () => {
  const p = pseudonymFor(key);
  const patient: Patient = {
    resourceType: 'Patient',
    id: PERSON,
    text: { status: 'generated', div: '<div>John Smith</div>' },
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
    name: [{ family: 'Smith', given: ['John'] }],
    telecom: [{ system: 'phone', value: '0161 000 0000' }],
    gender: 'male',
    birthDate: '1950-03-12',
    deceasedDateTime: '2025-01-02T10:00:00Z',
    address: [{ line: ['1 High Street'], postalCode: 'M33 2AB' }, { postalCode: 'm332ab' }, { postalCode: 'not a postcode' }],
    generalPractitioner: [{ type: 'Organization', identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' }, display: 'Sale Moor Medical Centre' }],
    link: [{ other: { reference: 'Patient/abc' }, type: 'seealso' }],
    extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory', valueCodeableConcept: { coding: [{ code: 'A' }] } }],
  };
  const out = pseudonymiseResource(structuredClone(patient), p);
  assert.deepEqual(out, {
    resourceType: 'Patient',
    id: p(PERSON),
    gender: 'male',
    birthDate: '1950-03',
    deceasedDateTime: '2025-01',
    address: [{ postalCode: 'M33' }],
    generalPractitioner: [{ type: 'Organization', identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' }, display: 'Sale Moor Medical Centre' }],
    extension: patient.extension,
  });
});

test('references to a Patient become the pseudonym; identifiers, displays and narrative go', () => {
  const p = pseudonymFor(key);
  const c: Condition = {
    resourceType: 'Condition',
    id: 'c1',
    identifier: [{ system: 'urn:bevan:source:hl7:RM2', value: 'MRN100-1' }],
    subject: { reference: `Patient/${PERSON}`, display: 'John Smith', identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } },
    asserter: { reference: 'https://other.example/fhir/Patient/9', display: 'John Smith' },
    recorder: { reference: 'Practitioner/dr1', display: 'Dr Jones' },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
    text: { status: 'generated', div: '<div>John Smith has diabetes</div>' },
    contained: [{ resourceType: 'Patient', id: 'x', name: [{ family: 'Smith' }] }],
  };
  const out = pseudonymiseResource(structuredClone(c), p);
  assert.deepEqual(out.subject, { reference: `Patient/${p(PERSON)}` });
  assert.deepEqual(out.asserter, {}, 'an absolute reference to a Patient is dropped, not guessed at');
  assert.deepEqual(out.recorder, { reference: 'Practitioner/dr1', display: 'Dr Jones' }, 'staff are not the person');
  assert.equal(out.identifier, undefined);
  assert.equal(out.text, undefined);
  assert.equal(out.contained, undefined);
  assert.equal(out.id, 'c1');
  assert.ok(!JSON.stringify(out).includes('9434765919') && !JSON.stringify(out).includes('John'));
});

test('postcode districts', () => {
  assert.equal(postcodeDistrict('M33 2AB'), 'M33');
  assert.equal(postcodeDistrict('wa14 1aa'), 'WA14');
  assert.equal(postcodeDistrict('EC1A 1BB'), 'EC1A');
  assert.equal(postcodeDistrict('M33'), 'M33');
  assert.equal(postcodeDistrict('nonsense'), null);
});
