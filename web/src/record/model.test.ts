import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRecordView, patientView } from './model.ts';
import { RESOURCES, TODAY, testBundle } from './test-bundle.ts';
import type { Patient, Resource } from '@medplum/fhirtypes';

test('record view: banner, summary with current items first, sources in reading order', () => {
  const v = buildRecordView(testBundle(), TODAY);
  assert.equal(v.patient.name, 'Dylan James BARKER');
  assert.equal(v.patient.nhsNumber, '9434765919');
  assert.equal(v.patient.age, 83);
  assert.equal(v.patient.deceased, null);
  assert.deepEqual(v.patient.practice, { name: 'Davyhulme Family Practice', ods: 'P91010' });
  assert.equal(v.patient.address, 'M41 4UN');
  // The same problem from two sources is one problem naming both; active first.
  assert.deepEqual(v.problems.map((p) => [p.name, p.active, p.sources]), [
    ['Type 2 diabetes mellitus', true, ['gp:P91010', 'hl7:RM2']],
    ['Acute viral pharyngitis', false, ['gp:P91010']],
  ]);
  assert.deepEqual(v.medications.map((m) => [m.name, m.current]), [['Metformin 500mg tablets', true], ['Amoxicillin 500mg capsules', false]]);
  assert.equal(v.allergies[0]!.substance, 'Penicillin');
  assert.deepEqual(v.allergies[0]!.reactions, ['Rash']);
  // Latest HbA1c is the hospital's, flagged high by the laboratory, with its range.
  const hba1c = v.latestResults.find((r) => r.name === 'HbA1c level')!;
  assert.equal(hba1c.value, '61 mmol/mol');
  assert.equal(hba1c.flag?.label, 'High');
  assert.equal(hba1c.range?.text, '20-41 mmol/mol');
  // eGFR below its range with no flag sent: flagged by comparison, marked as derived.
  const egfr = v.latestResults.find((r) => r.name === 'Glomerular filtration rate')!;
  assert.equal(egfr.flag?.label, 'Below range');
  assert.equal(egfr.flag?.derived, true);
  assert.equal(v.latestResults.find((r) => r.name === 'Blood pressure')!.value, '150/92 mmHg');
  assert.deepEqual(v.hospitalEncounters.map((e) => e.label), ['Emergency admission', 'A&E attendance']);
  assert.deepEqual(v.carePackages.map((c) => [c.service, c.open]), [['Home care', true]]);
  assert.equal(v.mentalHealthContacts.length, 1);
  assert.deepEqual(v.sources.map((s) => [s.system, s.setting, s.items]), [
    ['gp:P91010', 'gp', 10],
    ['hl7:RM2', 'hospital', 5],
    ['csv:community', 'community', 1],
    ['csv:mentalhealth', 'mental-health', 1],
    ['csv:socialcare', 'social-care', 1],
  ]);
  assert.equal(v.sources[0]!.label, 'GP practice P91010 (Davyhulme Family Practice)');
  assert.equal(v.withheld, null);
});

test('record view: the timeline has every item, newest first, each naming its source and date', () => {
  const v = buildRecordView(testBundle(), TODAY);
  assert.equal(v.timeline.length, RESOURCES.length - 1);
  for (let i = 1; i < v.timeline.length; i++) assert.ok(v.timeline[i - 1]!.date >= v.timeline[i]!.date);
  assert.ok(v.timeline.every((t) => t.source && t.sourceLabel && t.date));
  assert.deepEqual(v.timeline[0], {
    id: 'Observation/o2', resourceType: 'Observation', date: '2025-05-20T08:00:00Z', type: 'result', title: 'HbA1c level', detail: '61 mmol/mol — High', source: 'hl7:RM2', sourceLabel: 'Hospital RM2', setting: 'hospital',
  });
  assert.equal(v.timeline.find((t) => t.id === 'Encounter/e1')!.type, 'admission');
  assert.equal(v.timeline.find((t) => t.id === 'Encounter/e2')!.type, 'emergency');
});

test('record view: withheld items counted from the outcome entry; the REDACTED label alone says "some"', () => {
  const counted = buildRecordView(
    testBundle({ meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED' }] } }, [
      { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'suppressed', diagnostics: '2 items withheld by the access policy (sensitive)' }] },
    ]),
    TODAY,
  );
  assert.deepEqual(counted.withheld, { count: 2, message: '2 items withheld: sensitive' });
  assert.equal(counted.timeline.length, RESOURCES.length - 1, 'the outcome is not a timeline item');
  const some = buildRecordView(testBundle({ meta: { security: [{ code: 'REDACTED' }] } }), TODAY);
  assert.equal(some.withheld?.count, null);
  assert.match(some.withheld!.message, /Some items were withheld/);
});

test('patient view: date of death, age at death, restricted label, missing name', () => {
  const p = RESOURCES[0] as Patient;
  const dead = patientView({ ...p, deceasedDateTime: '2024-12-01' }, TODAY);
  assert.equal(dead.deceased, '2024-12-01');
  assert.equal(dead.age, 82, 'age at death');
  assert.equal(patientView({ ...p, deceasedBoolean: true }, TODAY).deceased, true);
  assert.equal(patientView({ ...p, meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }, TODAY).restricted, true);
  assert.equal(patientView({ resourceType: 'Patient', id: 'x' }, TODAY).name, 'Name not known');
});

test('care settings come from the server\'s meta.tag; the key convention only where an item has none', () => {
  const tag = (code: string) => [{ system: 'urn:bevan:care-setting', code }];
  const rxv = (id: string, withTag: boolean): Resource => ({ resourceType: 'Encounter', id, meta: { source: 'hl7:RXV', versionId: '1', lastUpdated: '2025-06-01T10:00:00Z', ...(withTag ? { tag: tag('mental-health') } : {}) }, status: 'finished', class: { code: 'AMB' }, type: [{ text: 'CPA review' }], period: { start: '2025-04-01' }, subject: { reference: 'Patient/x' } }) as Resource;
  const tagged = buildRecordView(testBundle({}, [rxv('mh1', true), rxv('mh2', false)]), TODAY);
  // One tagged item tells the setting of its whole source.
  assert.deepEqual(tagged.timeline.filter((t) => t.source === 'hl7:RXV').map((t) => [t.setting, t.sourceLabel]), [['mental-health', 'Mental health trust RXV'], ['mental-health', 'Mental health trust RXV']]);
  assert.ok(tagged.mentalHealthContacts.some((c) => c.id === 'Encounter/mh1'));
  assert.equal(tagged.sources.find((s) => s.system === 'hl7:RXV')!.setting, 'mental-health');
  assert.equal(tagged.sourceLabels.get('hl7:RXV'), 'Mental health trust RXV');
  // Without the server's word, an HL7 v2 feed is a hospital's by convention.
  const untagged = buildRecordView(testBundle({}, [rxv('mh2', false)]), TODAY);
  assert.equal(untagged.timeline.find((t) => t.id === 'Encounter/mh2')!.setting, 'hospital');
  // A tag the page does not know is ignored.
  const odd = buildRecordView(testBundle({}, [{ ...rxv('mh3', false), meta: { source: 'hl7:RXV', tag: tag('space') } } as Resource]), TODAY);
  assert.equal(odd.timeline.find((t) => t.id === 'Encounter/mh3')!.setting, 'hospital');
});

test('record view: an order (ServiceRequest from an HL7 ORM/OML) is a timeline item with its state and who asked', () => {
  const order: Resource = { resourceType: 'ServiceRequest', id: 'order-PL1', meta: { source: 'hl7:RM2' }, status: 'revoked', intent: 'order', code: { text: 'Full blood count' }, subject: { reference: 'Patient/p1' }, authoredOn: '2025-05-01T09:00:00Z', requester: { display: 'Dr Priya Patel' } };
  const v = buildRecordView(testBundle({}, [order]), TODAY);
  const item = v.timeline.find((t) => t.id === 'ServiceRequest/order-PL1')!;
  assert.equal(item.type, 'order');
  assert.equal(item.title, 'Full blood count');
  assert.equal(item.detail, 'cancelled — by Dr Priya Patel');
  assert.equal(item.date, '2025-05-01T09:00:00Z');
});

test('record view: HL7 documents, appointments, dispenses and administrations are timeline items of their kind', () => {
  const items: Resource[] = [
    { resourceType: 'DocumentReference', id: 'document-D1', meta: { source: 'hl7:RM2' }, status: 'current', docStatus: 'final', type: { text: 'Discharge summary' }, subject: { reference: 'Patient/p1' }, date: '2025-05-02T17:00:00Z', context: { period: { start: '2025-05-02T16:00:00Z' } }, author: [{ display: 'Dr Mark Jones' }], content: [{ attachment: { contentType: 'text/plain', data: 'eA==' } }] },
    { resourceType: 'Appointment', id: 'appointment-A1', meta: { source: 'hl7:RM2' }, status: 'noshow', serviceType: [{ text: 'Cardiology follow-up' }], start: '2025-05-10T09:30:00Z', participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }, { actor: { type: 'Location', display: 'Cardiology Outpatients' }, status: 'accepted' }] },
    { resourceType: 'MedicationDispense', id: 'order-RX1-dispense-1', meta: { source: 'hl7:RM2' }, status: 'completed', medicationCodeableConcept: { text: 'Flucloxacillin 500mg capsules' }, subject: { reference: 'Patient/p1' }, whenHandedOver: '2025-05-03T11:30:00Z', quantity: { value: 21, unit: 'capsule' } },
    { resourceType: 'MedicationAdministration', id: 'order-RX1-administration-1-2', meta: { source: 'hl7:RM2' }, status: 'not-done', medicationCodeableConcept: { text: 'Flucloxacillin 500mg capsules' }, subject: { reference: 'Patient/p1' }, effectiveDateTime: '2025-05-03T22:00:00Z' },
  ];
  const v = buildRecordView(testBundle({}, items), TODAY);
  const at = (id: string) => v.timeline.find((t) => t.id === id)!;
  assert.deepEqual([at('DocumentReference/document-D1').type, at('DocumentReference/document-D1').title, at('DocumentReference/document-D1').detail, at('DocumentReference/document-D1').date], ['document', 'Discharge summary', 'by Dr Mark Jones', '2025-05-02T16:00:00Z']);
  assert.deepEqual([at('Appointment/appointment-A1').type, at('Appointment/appointment-A1').title, at('Appointment/appointment-A1').detail], ['encounter', 'Cardiology follow-up', 'Cardiology Outpatients — did not attend']);
  assert.deepEqual([at('MedicationDispense/order-RX1-dispense-1').type, at('MedicationDispense/order-RX1-dispense-1').detail], ['medication', 'dispensed — 21 capsule']);
  assert.deepEqual([at('MedicationAdministration/order-RX1-administration-1-2').type, at('MedicationAdministration/order-RX1-administration-1-2').detail], ['medication', 'not given']);
  // A dispense or a dose given is not a medicine on the list: the request (or statement) is.
  assert.ok(!v.medications.some((m) => m.name === 'Flucloxacillin 500mg capsules'));
});
