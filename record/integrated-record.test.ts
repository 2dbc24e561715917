import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiagnosticReport, Encounter, Patient } from '@medplum/fhirtypes';
import { buildIntegratedRecord, sourceName, toFhirBundle } from './integrated-record.ts';
import { fhirLogicalId } from './fhir-bundle.ts';
import { COMMUNITY, GP, HOSPITAL, identities, NHS, NOW, PERSON_ID, person, practices, rows, SOCIAL } from './test-fixtures.ts';

const record = buildIntegratedRecord(person, identities, rows, practices, { now: NOW });

test('demographics prefer the most recent identity with a valid NHS number, and list what the sources disagree on', () => {
  const d = record.demographics;
  assert.equal(d.nhsNumber, NHS);
  assert.equal(d.nhsNumberValid, true);
  assert.equal(d.preferredSource, HOSPITAL);
  assert.equal(d.given, 'Jon');
  assert.equal(d.family, 'SMITH');
  assert.equal(d.birthDate, '1950-03-12');
  assert.equal(d.age, 75);
  const family = d.variants.find((v) => v.field === 'family');
  assert.deepEqual(family?.values, [
    { value: 'SMITH', sources: [HOSPITAL, GP, COMMUNITY] },
    { value: 'Smyth', sources: [SOCIAL] },
  ]);
  assert.deepEqual(d.variants.find((v) => v.field === 'given')?.values.map((v) => v.value), ['Jon', 'John']);
  // "M33 2AB" and "M332AB" are the same postcode, not a disagreement.
  assert.equal(d.variants.find((v) => v.field === 'postcode'), undefined);
});

test('registered practice comes from the GP system, with name and neighbourhood', () => {
  assert.deepEqual(record.registeredPractice, {
    odsCode: 'P91001',
    name: 'Sale Moor Medical Centre',
    neighbourhood: 'SALE',
    neighbourhoodName: 'Sale',
    source: { system: GP, name: 'GP (P91001 Sale Moor Medical Centre)' },
  });
});

test('the same problem from two sources is one problem naming both, active first, with the earliest onset', () => {
  assert.deepEqual(record.problems.map((p) => [p.name, p.active, p.onset]), [
    ['Type 2 diabetes mellitus', true, '2015-04-20'],
    ['Asthma', false, '1990-01-01'],
  ]);
  assert.deepEqual(record.problems[0]!.sources.map((s) => s.system), [GP, HOSPITAL]);
  assert.equal(record.problems[0]!.refs.length, 2);
});

test('medications: one line per medicine, current first, latest date and dosage', () => {
  assert.deepEqual(record.medications.map((m) => [m.name, m.current, m.date, m.dosage]), [
    ['Metformin 500mg tablets', true, '2025-08-01', 'One tablet twice a day with food'],
    ['Amoxicillin 500mg capsules', false, '2020-02-01', null],
  ]);
});

test('allergies, results (latest per code, recent newest first) and blood pressure components', () => {
  assert.deepEqual(record.allergies.map((a) => [a.substance, a.active, a.criticality, a.reactions]), [['Penicillin', true, 'high', ['Urticaria']]]);
  const hba1c = record.results.latestByCode.find((r) => r.name === 'HbA1c level');
  assert.equal(hba1c?.value, '52 mmol/mol');
  assert.equal(hba1c?.interpretation, 'H');
  assert.equal(record.results.latestByCode.find((r) => r.name === 'Blood pressure')?.value, '142/88 mmHg');
  assert.equal(record.results.latestByCode.length, 3);
  assert.deepEqual(record.results.recent.map((r) => r.name), ['Serum sodium', 'Urea and electrolytes', 'HbA1c level', 'Blood pressure', 'HbA1c level']);
  const dates = record.results.recent.map((r) => Date.parse(r.date!));
  assert.deepEqual(dates, [...dates].sort((a, b) => b - a));
  assert.equal(record.results.recent.length, 5);
});

test('admissions: emergency and elective, status, length of stay (ongoing counts to today)', () => {
  assert.deepEqual(
    record.admissions.map((a) => [a.ref.sourceId, a.setting, a.priority, a.status, a.lengthOfStayDays, a.ongoing]),
    [
      ['V1003', 'inpatient', 'elective', 'in-progress', 3, true],
      ['V1001', 'inpatient', 'emergency', 'finished', 4, false],
      ['V1002', 'emergency', 'emergency', 'finished', 0, false],
    ],
  );
  assert.equal(record.admissions[1]!.location, 'Ward 4');
  assert.deepEqual(record.encounters.map((e) => e.type), ['Diabetes review']);
});

test('community contacts and social care assessments and packages', () => {
  assert.deepEqual(record.communityContacts.map((c) => [c.service, c.reason, c.contactType, c.team, c.durationMinutes, c.source.name]), [['District nursing', 'Wound care', 'Home visit', 'Sale district nurses', 30, 'Community services']]);
  assert.deepEqual(record.socialCare.assessments.map((a) => [a.type, a.outcome, a.source.name]), [['Care Act assessment', 'Eligible', 'Social care']]);
  assert.deepEqual(record.socialCare.packages.map((p) => [p.service, p.open, p.weeklyCost, p.hoursPerWeek]), [
    ['Home care', true, 245.5, 10],
    ['Reablement', false, 300, null],
  ]);
  assert.equal(record.socialCare.openWeeklyCost, 245.5);
});

test('timeline: every care item once, newest first, each naming its source', () => {
  const careRows = rows.filter((r) => r.resource_type !== 'Patient');
  assert.equal(record.timeline.length, careRows.length);
  const keys = new Set(record.timeline.map((t) => `${t.ref.system}/${t.ref.resourceType}/${t.ref.sourceId}`));
  assert.equal(keys.size, careRows.length);
  const times = record.timeline.map((t) => Date.parse(t.date));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
  assert.equal(record.timeline[0]!.ref.sourceId, 'V1003');
  assert.match(record.timeline[0]!.description, /Elective admission, in progress, 3 days so far/);
  const byId = new Map(record.timeline.map((t) => [t.ref.sourceId, t]));
  assert.equal(byId.get('c1')!.source.name, 'GP (P91001 Sale Moor Medical Centre)');
  assert.equal(byId.get('V1001')!.source.name, 'Hospital (hl7:RM2)');
  assert.equal(byId.get('V1001')!.kind, 'admission');
  assert.match(byId.get('V1001')!.description, /Emergency admission, discharged 05 Jul 2025 \(4 days\)/);
  assert.equal(byId.get('PK-1')!.source.name, 'Social care');
  assert.match(byId.get('PK-1')!.description, /Home care, 10 h\/week, £245\.50\/week \(open\)/);
  assert.equal(byId.get('CC-9')!.source.name, 'Community services');
  assert.deepEqual(record.sources.map((s) => s.system), [GP, HOSPITAL, COMMUNITY, SOCIAL]);
});

test('source names', () => {
  const p = new Map(practices.map((x) => [x.ods_code, x]));
  assert.equal(sourceName('gp:P91001', p), 'GP (P91001 Sale Moor Medical Centre)');
  assert.equal(sourceName('gp:P99999', p), 'GP (P99999)');
  assert.equal(sourceName('hl7:RM2', p), 'Hospital (hl7:RM2)');
  assert.equal(sourceName('csv:socialcare', p), 'Social care');
  assert.equal(sourceName('csv:community', p), 'Community services');
});

test('FHIR bundle: merged Patient first, ids unique, provenance in meta, references to the person rewritten', () => {
  const bundle = toFhirBundle(record, rows);
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'collection');
  const entries = bundle.entry!;
  assert.equal(entries.length, rows.length + 1);
  const patient = entries[0]!.resource as Patient;
  assert.equal(patient.id, PERSON_ID);
  assert.deepEqual(patient.identifier![0], { system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS });
  assert.equal(patient.birthDate, '1950-03-12');
  assert.equal(patient.gender, 'male');
  assert.equal(patient.generalPractitioner![0]!.identifier!.value, 'P91001');
  assert.deepEqual(patient.link, [{ other: { reference: `Patient/${fhirLogicalId(GP, 'Patient', 'gp-pat-1')}` }, type: 'seealso' }]);

  const ids = entries.map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
  assert.equal(new Set(ids).size, ids.length);
  for (const e of entries.slice(1)) {
    assert.match(e.resource!.id!, /^[A-Za-z0-9.-]{1,64}$/);
    assert.ok([GP, HOSPITAL, SOCIAL, COMMUNITY].includes(e.resource!.meta!.source!));
  }
  const admission = entries.find((e) => e.resource!.id === fhirLogicalId(HOSPITAL, 'Encounter', 'V1001'))!.resource as Encounter;
  assert.deepEqual(admission.meta, { source: HOSPITAL, versionId: '3', lastUpdated: rows.find((r) => r.source_id === 'V1001')!.received_at });
  assert.equal(admission.subject!.reference, `Patient/${PERSON_ID}`);
  const report = entries.find((e) => e.resource!.resourceType === 'DiagnosticReport')!.resource as DiagnosticReport;
  assert.equal(report.result![0]!.reference, `Observation/${fhirLogicalId(HOSPITAL, 'Observation', 'F500-1')}`);
  // Every Patient reference now points at the merged Patient.
  const text = JSON.stringify(entries.slice(1));
  const patientRefs = [...text.matchAll(/"reference":"Patient\/([^"]+)"/g)].map((m) => m[1]);
  assert.ok(patientRefs.length > 10);
  assert.deepEqual(new Set(patientRefs), new Set([PERSON_ID]));
  // The stored rows are not modified.
  assert.equal((rows.find((r) => r.source_id === 'V1001')!.content as Encounter).subject!.reference, 'Patient/MRN100');

  const search = toFhirBundle(record, rows, { type: 'searchset' });
  assert.equal(search.type, 'searchset');
  assert.equal(search.entry![0]!.search!.mode, 'match');
});

test('resource ids are stable: deterministic from (source system, type, source id), FHIR-valid, distinct', () => {
  const a = fhirLogicalId('hl7:RM2', 'Observation', 'A_1');
  assert.equal(a, fhirLogicalId('hl7:RM2', 'Observation', 'A_1'));
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, fhirLogicalId('hl7:RM2', 'Observation', 'A-1'));
  assert.notEqual(a, fhirLogicalId('hl7:RM2', 'Condition', 'A_1'));
  // The system is length-prefixed: moving characters between system and id gives another id.
  assert.notEqual(fhirLogicalId('a|b', 'Observation', 'c'), fhirLogicalId('a', 'Observation', 'b|c'));
  assert.equal(fhirLogicalId('gp:P91001', 'Observation', 'x'.repeat(1000)).length, 32);
});
