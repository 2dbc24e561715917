import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { itemsFromFhirJson } from './bundle.ts';
import { gpConnectStu3Bundle } from './fixtures/gpconnect-stu3.ts';
import { searchsetOfPatients, syntheaBundle } from './fixtures/synthea.ts';
import { bundleIsStu3, CONVERTED_TAG, convertStu3, resourceIsStu3 } from './stu3.ts';
import { gpBundle } from './test-bundles.ts';
import { FhirXmlConverter } from './xml.ts';

type Json = Record<string, any>;
const src = (raw = '') => ({ contentHash: 'h', raw, origin: 'test' });
const accepted = (items: IngestItem[]) => items.find((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');
const convert = (r: Json) => {
  const out = convertStu3(r);
  assert.equal(out.problem, undefined, out.problem);
  return { r: out.resource as Json, dropped: out.dropped };
};
const patient = { reference: 'Patient/p1' };

test('STU3 is told by profile, fhirVersion, STU3-only type or element; R4 is not', () => {
  assert.ok(bundleIsStu3({ resourceType: 'Bundle', meta: { profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1'] } }));
  assert.ok(bundleIsStu3({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'CapabilityStatement', fhirVersion: '3.0.1' } }] }));
  assert.ok(bundleIsStu3({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Parameters', parameter: [{ name: 'fhirVersion', valueCode: '3.0.2' }] } }] }));
  assert.ok(!bundleIsStu3({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' } }] }));
  assert.ok(!bundleIsStu3({ resourceType: 'Bundle', meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle'] } }));

  assert.ok(resourceIsStu3({ resourceType: 'Condition', clinicalStatus: 'active', subject: patient }));
  assert.ok(resourceIsStu3({ resourceType: 'Immunization', notGiven: false }));
  assert.ok(resourceIsStu3({ resourceType: 'MedicationRequest', requester: { agent: { reference: 'Practitioner/1' } } }));
  assert.ok(resourceIsStu3({ resourceType: 'ReferralRequest' }));
  assert.ok(resourceIsStu3({ resourceType: 'Patient', meta: { profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1'] } }));
  assert.ok(resourceIsStu3({ resourceType: 'AllergyIntolerance', reaction: [{ certainty: 'likely' }] }));

  assert.ok(!resourceIsStu3({ resourceType: 'Condition', clinicalStatus: { coding: [{ code: 'active' }] }, subject: patient }));
  assert.ok(!resourceIsStu3({ resourceType: 'Immunization', status: 'completed', occurrenceDateTime: '2020-01-01' }));
  assert.ok(!resourceIsStu3({ resourceType: 'MedicationRequest', requester: { reference: 'Practitioner/1' } }));
  assert.ok(!resourceIsStu3({ resourceType: 'Patient', meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient'] } }));
});

test('R4 fixtures pass through unchanged: no conversion, no tag, no note', () => {
  const bundles = [gpBundle(), gpBundle({ useUrnUuids: true, observations: 5 }), syntheaBundle({ seed: 3, encounters: 5 }), searchsetOfPatients(20)];
  for (const b of bundles) {
    const before = JSON.stringify(b);
    assert.ok(!bundleIsStu3(b));
    for (const e of b.entry as Json[]) assert.ok(!resourceIsStu3(e.resource), JSON.stringify(e.resource).slice(0, 100));
    const items = itemsFromFhirJson(JSON.parse(before), src());
    const a = accepted(items)!;
    assert.equal(a.fileNotes, undefined);
    for (const r of a.resources) assert.ok(!JSON.stringify(r.resource).includes(CONVERTED_TAG.system));
  }
});

const SAMPLES = new URL('../../../shared/samples/', import.meta.url).pathname;
test('third-party R4 samples (../shared/samples) are never read as STU3', { skip: !existsSync(SAMPLES) && 'no ../shared/samples' }, () => {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : /\.(fhir|json)$/.test(n) ? [join(dir, n)] : []));
  let bundles = 0;
  for (const f of walk(SAMPLES)) {
    let v: Json;
    try {
      v = JSON.parse(readFileSync(f, 'utf8'));
    } catch {
      continue;
    }
    if (v?.resourceType !== 'Bundle') continue;
    bundles++;
    assert.ok(!bundleIsStu3(v), f);
    for (const e of v.entry ?? []) if (e?.resource) assert.ok(!resourceIsStu3(e.resource), `${f}: ${e.resource.resourceType}/${e.resource.id}`);
  }
  assert.ok(bundles > 0);
});

test('Condition: status codes become CodeableConcepts, context → encounter, assertedDate → recordedDate', () => {
  const input = { resourceType: 'Condition', id: 'c1', clinicalStatus: 'remission', verificationStatus: 'provisional', _assertedDate: { extension: [{ url: 'x', valueString: 'y' }] }, assertedDate: '2020-02-03', context: { reference: 'Encounter/e1' }, subject: patient, stage: { summary: { text: 'II' } }, category: [{ coding: [{ system: 'http://hl7.org/fhir/condition-category', code: 'encounter-diagnosis' }] }] };
  const copy = structuredClone(input);
  const { r, dropped } = convert(input);
  assert.deepEqual(input, copy, 'the input is not changed');
  assert.deepEqual(r.clinicalStatus, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'remission' }] });
  assert.deepEqual(r.verificationStatus, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'provisional' }] });
  assert.equal(r.recordedDate, '2020-02-03');
  assert.deepEqual(r._recordedDate, copy._assertedDate);
  assert.equal(r.assertedDate, undefined);
  assert.deepEqual(r.encounter, { reference: 'Encounter/e1' });
  assert.equal(r.context, undefined);
  assert.deepEqual(r.stage, [{ summary: { text: 'II' } }]);
  assert.equal(r.category[0].coding[0].system, 'http://terminology.hl7.org/CodeSystem/condition-category');
  assert.deepEqual(r.meta.tag, [CONVERTED_TAG]);
  assert.deepEqual(dropped, []);
});

test('Condition: an unknown verification status is dropped and counted; a code that is not STU3 is a problem naming the element', () => {
  const { r, dropped } = convert({ resourceType: 'Condition', verificationStatus: 'unknown', abatementBoolean: true, subject: patient });
  assert.equal(r.verificationStatus, undefined);
  assert.deepEqual(dropped, ['Condition.verificationStatus (unknown)', 'Condition.abatementBoolean']);
  const bad = convertStu3({ resourceType: 'Condition', clinicalStatus: 'maybe', subject: patient });
  assert.match(bad.problem!, /^Condition\.clinicalStatus "maybe" is not an STU3 code/);
  assert.equal(bad.resource, undefined);
});

test('AllergyIntolerance: status codes, recordedDate, reaction.certainty dropped', () => {
  const { r, dropped } = convert({ resourceType: 'AllergyIntolerance', clinicalStatus: 'inactive', verificationStatus: 'unconfirmed', assertedDate: '2011', patient, reaction: [{ certainty: 'likely', severity: 'mild' }, { certainty: 'confirmed' }] });
  assert.equal(r.clinicalStatus.coding[0].system, 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical');
  assert.equal(r.verificationStatus.coding[0].code, 'unconfirmed');
  assert.equal(r.recordedDate, '2011');
  assert.deepEqual(r.reaction, [{ severity: 'mild' }, {}]);
  assert.deepEqual(dropped, ['AllergyIntolerance.reaction.certainty', 'AllergyIntolerance.reaction.certainty']);
});

test('Immunization: notGiven → not-done, date → occurrenceDateTime, practitioner → performer, explanation, vaccinationProtocol → protocolApplied', () => {
  const { r, dropped } = convert({
    resourceType: 'Immunization', status: 'completed', notGiven: true, vaccineCode: { text: 'MMR' }, patient, date: '2021-05-01', primarySource: false,
    practitioner: [{ role: { text: 'AP' }, actor: { reference: 'Practitioner/1' } }],
    explanation: { reasonNotGiven: [{ text: 'Declined' }, { text: 'Unwell' }] },
    vaccinationProtocol: [{ doseSequence: 2, seriesDoses: 2, series: 'MMR', authority: { reference: 'Organization/o' }, targetDisease: [{ text: 'Measles' }], doseStatus: { text: 'count' } }],
  }); // prettier-ignore
  assert.equal(r.status, 'not-done');
  assert.equal(r.notGiven, undefined);
  assert.equal(r.occurrenceDateTime, '2021-05-01');
  assert.equal(r.primarySource, false);
  assert.deepEqual(r.performer, [{ function: { text: 'AP' }, actor: { reference: 'Practitioner/1' } }]);
  assert.deepEqual(r.statusReason, { text: 'Declined' });
  assert.deepEqual(r.protocolApplied, [{ doseNumberPositiveInt: 2, seriesDosesPositiveInt: 2, series: 'MMR', authority: { reference: 'Organization/o' }, targetDisease: [{ text: 'Measles' }] }]);
  assert.deepEqual(dropped.sort(), ['Immunization.explanation.reasonNotGiven (after the first)', 'Immunization.protocolApplied.doseStatus']);
  const given = convert({ resourceType: 'Immunization', status: 'completed', notGiven: false, vaccineCode: { text: 'Flu' }, patient, date: '2021', explanation: { reason: [{ text: 'At risk' }] } }).r;
  assert.equal(given.status, 'completed');
  assert.deepEqual(given.reasonCode, [{ text: 'At risk' }]);
});

test('Immunization: what R4 requires and the STU3 record lacks is a problem naming the element', () => {
  assert.match(convertStu3({ resourceType: 'Immunization', status: 'completed', notGiven: false, vaccineCode: { text: 'Flu' }, patient }).problem!, /Immunization\.occurrence\[x\] is required in R4 .*\(Immunization\.date\)/);
  assert.match(convertStu3({ resourceType: 'Immunization', status: 'completed', notGiven: false, vaccineCode: { text: 'Flu' }, patient, date: '2020', vaccinationProtocol: [{ series: 'x' }] }).problem!, /protocolApplied\.doseNumber\[x\].*doseSequence/);
});

test('Medication statements and requests: taken dropped, Dosage dose → doseAndRate, requester.agent → requester, context → encounter', () => {
  const ms = convert({ resourceType: 'MedicationStatement', status: 'active', taken: 'y', context: { reference: 'Encounter/e' }, reasonNotTaken: [{ text: 'x' }], medicationCodeableConcept: { text: 'Amlodipine' }, subject: patient, dosage: [{ text: 'one daily', doseRange: { low: { value: 1 } }, rateQuantity: { value: 2 } }] });
  assert.equal(ms.r.taken, undefined);
  assert.deepEqual(ms.r.context, { reference: 'Encounter/e' });
  assert.deepEqual(ms.r.statusReason, [{ text: 'x' }]);
  assert.deepEqual(ms.r.dosage, [{ text: 'one daily', doseAndRate: [{ doseRange: { low: { value: 1 } }, rateQuantity: { value: 2 } }] }]);
  assert.deepEqual(ms.dropped, ['MedicationStatement.taken']);

  const mr = convert({ resourceType: 'MedicationRequest', status: 'active', intent: 'order', medicationReference: { reference: 'Medication/m' }, subject: patient, context: { reference: 'Encounter/e' }, category: { text: 'community' }, requester: { agent: { reference: 'Practitioner/1' }, onBehalfOf: { reference: 'Organization/o' } }, substitution: { allowed: false }, dosageInstruction: [{ doseSimpleQuantity: { value: 5, unit: 'mL' } }], definition: [{ reference: 'PlanDefinition/x' }] });
  assert.deepEqual(mr.r.requester, { reference: 'Practitioner/1' });
  assert.deepEqual(mr.r.encounter, { reference: 'Encounter/e' });
  assert.deepEqual(mr.r.category, [{ text: 'community' }]);
  assert.deepEqual(mr.r.substitution, { allowedBoolean: false });
  assert.deepEqual(mr.r.dosageInstruction, [{ doseAndRate: [{ doseQuantity: { value: 5, unit: 'mL' } }] }]);
  assert.deepEqual(mr.dropped.sort(), ['MedicationRequest.definition', 'MedicationRequest.requester.onBehalfOf']);

  const med = convert({ resourceType: 'Medication', isBrand: true, isOverTheCounter: false, ingredient: [{ itemCodeableConcept: { text: 'x' }, amount: { numerator: { value: 5 } } }], package: { container: { text: 'box' }, batch: [{ lotNumber: 'L1' }, { lotNumber: 'L2' }] } });
  assert.deepEqual(med.r.ingredient, [{ itemCodeableConcept: { text: 'x' }, strength: { numerator: { value: 5 } } }]);
  assert.deepEqual(med.r.batch, { lotNumber: 'L1' });
  assert.equal(med.r.package, undefined);
  assert.deepEqual(med.dropped.sort(), ['Medication.isBrand', 'Medication.isOverTheCounter', 'Medication.package.batch (after the first)', 'Medication.package.container']);
});

test('Observation: context → encounter, comment → note, related → hasMember/derivedFrom, interpretation repeats', () => {
  const { r, dropped } = convert({ resourceType: 'Observation', status: 'final', code: { text: 'BP' }, context: { reference: 'Encounter/e' }, comment: 'recheck', interpretation: { text: 'high' }, related: [{ type: 'has-member', target: { reference: 'Observation/a' } }, { type: 'derived-from', target: { reference: 'Observation/b' } }, { type: 'sequel-to', target: { reference: 'Observation/c' } }], component: [{ code: { text: 'sys' }, interpretation: { text: 'H' } }] });
  assert.deepEqual(r.encounter, { reference: 'Encounter/e' });
  assert.deepEqual(r.note, [{ text: 'recheck' }]);
  assert.deepEqual(r.hasMember, [{ reference: 'Observation/a' }]);
  assert.deepEqual(r.derivedFrom, [{ reference: 'Observation/b' }]);
  assert.deepEqual(r.interpretation, [{ text: 'high' }]);
  assert.deepEqual(r.component[0].interpretation, [{ text: 'H' }]);
  assert.deepEqual(dropped, ['Observation.related (sequel-to)']);
});

test('Procedure: notDone → not-done, status renamed, context → encounter; a status R4 does not have is a problem', () => {
  const { r } = convert({ resourceType: 'Procedure', status: 'completed', notDone: true, notDoneReason: { text: 'refused' }, subject: patient, context: { reference: 'Encounter/e' }, performer: [{ role: { text: 'surgeon' }, actor: { reference: 'Practitioner/1' } }] });
  assert.equal(r.status, 'not-done');
  assert.deepEqual(r.statusReason, { text: 'refused' });
  assert.deepEqual(r.encounter, { reference: 'Encounter/e' });
  assert.deepEqual(r.performer, [{ function: { text: 'surgeon' }, actor: { reference: 'Practitioner/1' } }]);
  assert.equal(convert({ resourceType: 'Procedure', status: 'suspended', notDone: false, subject: patient }).r.status, 'on-hold');
  assert.match(convertStu3({ resourceType: 'Procedure', status: 'done', notDone: false, subject: patient }).problem!, /^Procedure\.status "done" is not an R4 Procedure status/);
});

test('ProcedureRequest and ReferralRequest become ServiceRequest', () => {
  const pr = convert({ resourceType: 'ProcedureRequest', id: 'pr1', status: 'suspended', intent: 'order', code: { text: 'Spirometry' }, subject: patient, context: { reference: 'Encounter/e' }, requester: { agent: { reference: 'Practitioner/1' } }, performer: { reference: 'Organization/lab' }, basedOn: [{ reference: 'ReferralRequest/rr1' }] });
  assert.equal(pr.r.resourceType, 'ServiceRequest');
  assert.equal(pr.r.status, 'on-hold');
  assert.deepEqual(pr.r.requester, { reference: 'Practitioner/1' });
  assert.deepEqual(pr.r.performer, [{ reference: 'Organization/lab' }]);
  assert.deepEqual(pr.r.basedOn, [{ reference: 'ServiceRequest/rr1' }]);
  const rr = convert({ resourceType: 'ReferralRequest', status: 'cancelled', intent: 'order', type: { text: 'Cardiology referral' }, serviceRequested: [{ text: 'Echo' }], specialty: { text: 'Cardiology' }, recipient: [{ reference: 'Organization/hosp' }], groupIdentifier: { value: 'G1' }, description: 'Breathless on exertion', subject: patient });
  assert.equal(rr.r.resourceType, 'ServiceRequest');
  assert.equal(rr.r.status, 'revoked');
  assert.deepEqual(rr.r.code, { text: 'Cardiology referral' });
  assert.deepEqual(rr.r.orderDetail, [{ text: 'Echo' }]);
  assert.deepEqual(rr.r.performerType, { text: 'Cardiology' });
  assert.deepEqual(rr.r.performer, [{ reference: 'Organization/hosp' }]);
  assert.deepEqual(rr.r.requisition, { value: 'G1' });
  assert.deepEqual(rr.r.note, [{ text: 'Breathless on exertion' }]);
  assert.equal(rr.r.category[0].coding[0].code, '3457005');
  assert.match(convertStu3({ resourceType: 'BodySite', id: 'b' }).problem!, /STU3 resource type that R4 does not have/);
});

test('DiagnosticReport, CarePlan, Appointment, Encounter, Flag', () => {
  const dr = convert({ resourceType: 'DiagnosticReport', status: 'final', code: { text: 'FBC' }, category: { text: 'HM' }, context: { reference: 'Encounter/e' }, performer: [{ role: { text: 'lab' }, actor: { reference: 'Organization/lab' } }], codedDiagnosis: [{ text: 'normal' }], image: [{ link: { reference: 'Media/m' } }] });
  assert.deepEqual(dr.r.category, [{ text: 'HM' }]);
  assert.deepEqual(dr.r.performer, [{ reference: 'Organization/lab' }]);
  assert.deepEqual(dr.r.conclusionCode, [{ text: 'normal' }]);
  assert.deepEqual(dr.r.media, [{ link: { reference: 'Media/m' } }]);
  assert.deepEqual(dr.r.encounter, { reference: 'Encounter/e' });
  assert.deepEqual(dr.dropped, ['DiagnosticReport.performer.role']);

  const cp = convert({ resourceType: 'CarePlan', status: 'suspended', intent: 'plan', subject: patient, context: { reference: 'EpisodeOfCare/x' }, definition: [{ reference: 'PlanDefinition/p' }], author: [{ reference: 'Practitioner/1' }, { reference: 'Practitioner/2' }], activity: [{ detail: { category: { text: 'diet' }, status: 'scheduled', statusReason: 'waiting', prohibited: false } }] });
  assert.equal(cp.r.status, 'on-hold');
  assert.deepEqual(cp.r.encounter, { reference: 'EpisodeOfCare/x' });
  assert.deepEqual(cp.r.author, { reference: 'Practitioner/1' });
  assert.deepEqual(cp.r.contributor, [{ reference: 'Practitioner/2' }]);
  assert.deepEqual(cp.r.activity, [{ detail: { status: 'scheduled', statusReason: { text: 'waiting' }, doNotPerform: false } }]);
  assert.deepEqual(cp.dropped.sort(), ['CarePlan.activity.detail.category', 'CarePlan.definition']);

  const ap = convert({ resourceType: 'Appointment', status: 'booked', incomingReferral: [{ reference: 'ReferralRequest/r' }], reason: [{ text: 'review' }], indication: [{ reference: 'Condition/c' }], serviceCategory: { text: 'GP' }, participant: [{ actor: patient, status: 'accepted' }] });
  assert.deepEqual(ap.r.basedOn, [{ reference: 'ServiceRequest/r' }]);
  assert.deepEqual(ap.r.reasonCode, [{ text: 'review' }]);
  assert.deepEqual(ap.r.reasonReference, [{ reference: 'Condition/c' }]);
  assert.deepEqual(ap.r.serviceCategory, [{ text: 'GP' }]);

  const en = convert({ resourceType: 'Encounter', status: 'finished', class: { system: 'http://hl7.org/fhir/v3/ActCode', code: 'AMB' }, appointment: { reference: 'Appointment/a' }, diagnosis: [{ condition: { reference: 'Condition/c' }, role: { text: 'AD' } }], subject: patient });
  assert.deepEqual(en.r.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' });
  assert.deepEqual(en.r.appointment, [{ reference: 'Appointment/a' }]);
  assert.deepEqual(en.r.diagnosis, [{ condition: { reference: 'Condition/c' }, use: { text: 'AD' } }]);
  assert.deepEqual(convert({ resourceType: 'Flag', status: 'active', category: { text: 'admin' }, code: { text: 'x' }, subject: patient }).r.category, [{ text: 'admin' }]);
});

test('a GP Connect STU3 bundle is read as R4: every entry converted, tagged, counted in the item notes', () => {
  const bundle = gpConnectStu3Bundle();
  const raw = JSON.stringify(bundle);
  const items = itemsFromFhirJson(bundle, src(raw));
  assert.deepEqual(rejected(items), []);
  const a = accepted(items)!;
  assert.equal(a.sourceSystem, 'gp:Y90001');
  assert.equal(a.identities.length, 1);
  assert.equal(a.identities[0]!.nhsNumber, '9434765919');
  assert.equal(a.resources.length, (bundle.entry as unknown[]).length);
  for (const { resource } of a.resources) {
    const r = resource as Json;
    assert.ok(r.meta.tag.some((t: Json) => t.system === 'urn:bevan:converted' && t.code === 'stu3'), r.resourceType);
    assert.ok(!JSON.stringify(r.meta).includes('/STU3/'), 'no STU3 profile left');
  }
  const personal = a.resources.filter((r) => !['Organization', 'Practitioner', 'PractitionerRole', 'Medication'].includes(r.resource.resourceType));
  assert.ok(personal.every((r) => r.subject === 'gpc-pat-1'));
  assert.equal(a.fileNotes?.length, 1);
  assert.match(a.fileNotes![0]!, /^FHIR STU3 converted to R4: 15 resources \(AllergyIntolerance 1, Condition 3, .*\); dropped, no R4 home: .*AllergyIntolerance\.reaction\.certainty ×1.*MedicationStatement\.taken ×1/);
});

test('in a bundle, an STU3 entry that cannot be R4 is quarantined naming the element, as it came; the rest goes in', () => {
  const bundle = gpConnectStu3Bundle();
  const cond = (bundle.entry as Json[]).find((e) => e.resource.id === 'gpc-cond-2')!;
  cond.resource.verificationStatus = 'probably';
  const sent = JSON.stringify(cond);
  const items = itemsFromFhirJson(bundle, src());
  const bad = rejected(items);
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.reason, /^entry \d+ \(STU3 Condition\/gpc-cond-2\): Condition\.verificationStatus "probably" is not an STU3 code/);
  assert.equal(bad[0]!.raw, sent, 'quarantined as it came');
  assert.equal(accepted(items)!.resources.length, (bundle.entry as unknown[]).length - 1);
});

test('STU3 renamed types are renamed in ids and references: fullUrl, urn:uuid, request url', () => {
  const bundle = {
    resourceType: 'Bundle', type: 'transaction', meta: { source: 'gp:test' },
    entry: [
      { fullUrl: 'urn:uuid:p1', resource: { resourceType: 'Patient', id: 'p1', animal: { species: { text: 'dog' } } }, request: { method: 'PUT', url: 'Patient/p1' } },
      { fullUrl: 'https://gp.example/fhir/ReferralRequest/rr1', resource: { resourceType: 'ReferralRequest', status: 'active', intent: 'order', subject: { reference: 'urn:uuid:p1' } }, request: { method: 'PUT', url: 'ReferralRequest/rr1' } },
      { resource: { resourceType: 'EpisodeOfCare', id: 'eoc1', status: 'active', patient: { reference: 'Patient/p1' }, referralRequest: [{ reference: 'https://gp.example/fhir/ReferralRequest/rr1' }], meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-EpisodeOfCare-1'] } } },
    ],
  }; // prettier-ignore
  const items = itemsFromFhirJson(bundle, src());
  assert.deepEqual(rejected(items), []);
  const a = accepted(items)!;
  const byType = new Map(a.resources.map((r) => [r.resource.resourceType, r.resource as Json]));
  assert.equal(byType.get('ServiceRequest')!.id, 'rr1');
  assert.deepEqual(byType.get('ServiceRequest')!.subject, { reference: 'Patient/p1' });
  assert.deepEqual(byType.get('EpisodeOfCare')!.referralRequest, [{ reference: 'ServiceRequest/rr1' }]);
  assert.equal(byType.get('Patient')!.animal, undefined);
  assert.deepEqual(byType.get('EpisodeOfCare')!.meta, { tag: [CONVERTED_TAG] }, 'the STU3 profile gone, the tag in its place');
  assert.match(a.fileNotes![0]!, /3 resources \(EpisodeOfCare 1, Patient 1, ReferralRequest 1\); dropped, no R4 home: Patient\.animal ×1/);
});

test('a bare STU3 resource (an NDJSON line) is converted; a bare one that cannot be is rejected with the element named', () => {
  const ok = itemsFromFhirJson({ resourceType: 'ProcedureRequest', id: 'pr9', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' } }, src(), { source: 'gp:test' });
  const a = accepted(ok)!;
  assert.equal(a.resources[0]!.resource.resourceType, 'ServiceRequest');
  assert.equal(a.resources[0]!.subject, 'p1');
  assert.equal(a.fileNotes![0], 'FHIR STU3 converted to R4: 1 resource (ProcedureRequest 1)');
  const bad = itemsFromFhirJson({ resourceType: 'Immunization', id: 'i9', status: 'completed', notGiven: false, vaccineCode: { text: 'Flu' }, patient: { reference: 'Patient/p1' } }, src('raw'), { source: 'gp:test' });
  assert.equal(bad.length, 1);
  assert.match((bad[0] as RejectedItem).reason, /^Immunization\.occurrence\[x\] is required in R4/);
  assert.equal((bad[0] as RejectedItem).raw, 'raw');
});

test('STU3 XML: a Bundle with an STU3 profile is read by the STU3 model (codes, arrays, numbers) and converted; without a profile, STU3 codes are kept as text and converted', () => {
  const xml = (profile: boolean) => `<Bundle xmlns="http://hl7.org/fhir">${profile ? '<meta><profile value="https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"/></meta>' : ''}<type value="collection"/>
<entry><resource><Patient><id value="x1"/><identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="9434765870"/></identifier></Patient></resource></entry>
<entry><resource><Condition><id value="c1"/><clinicalStatus value="active"/><verificationStatus value="confirmed"/><code><text value="Asthma"/></code><subject><reference value="Patient/x1"/></subject><assertedDate value="2020-01-02"/></Condition></resource></entry>
<entry><resource><Immunization><id value="i1"/><status value="completed"/><notGiven value="true"/><vaccineCode><text value="Flu"/></vaccineCode><patient><reference value="Patient/x1"/></patient><date value="2021-10-01"/><primarySource value="true"/><vaccinationProtocol><doseSequence value="1"/></vaccinationProtocol></Immunization></resource></entry>
<entry><resource><ProcedureRequest><id value="pr1"/><status value="active"/><intent value="order"/><subject><reference value="Patient/x1"/></subject><performer><reference value="Organization/o1"/></performer></ProcedureRequest></resource></entry>
</Bundle>`;
  for (const profile of [true, false]) {
    const c = new FhirXmlConverter();
    c.write(xml(profile));
    const items = itemsFromFhirJson(c.end(), src(), { source: 'gp:xml' });
    assert.deepEqual(rejected(items), [], String(profile));
    const byType = new Map(accepted(items)!.resources.map((r) => [r.resource.resourceType, r.resource as Json]));
    assert.equal(byType.get('Condition')!.clinicalStatus.coding[0].code, 'active');
    assert.equal(byType.get('Condition')!.recordedDate, '2020-01-02');
    assert.equal(byType.get('Immunization')!.status, 'not-done');
    assert.deepEqual(byType.get('ServiceRequest')!.performer, [{ reference: 'Organization/o1' }]);
    if (profile) assert.deepEqual(byType.get('Immunization')!.protocolApplied, [{ doseNumberPositiveInt: 1 }], 'the STU3 model types and repeats it');
  }
});
