import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DiagnosticReport, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { buildIntegratedRecord, sourceName, toFhirBundle } from './integrated-record.ts';
import { fhirLogicalId } from './fhir-bundle.ts';
import { loadReferenceData, parseReferenceCsv } from './reference/reference-data.ts';
import { COMMUNITY, GP, HOSPITAL, identities, NHS, NOW, PERSON_ID, person, practices, row, rows, SOCIAL } from './test-fixtures.ts';
import { deathEvents, deathPatients, encounterRows, resultRows } from './trust-fixtures.ts';

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
    source: { system: GP, name: 'Sale Moor Medical Centre (gp:P91001)' },
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
  // The GP's own encounter is a GP consultation, not a generic encounter.
  assert.deepEqual(record.encounters, []);
  assert.deepEqual(record.gpConsultations.map((c) => [c.mode, c.type, c.practice]), [['face-to-face', 'Diabetes review', { odsCode: 'P91001', name: 'Sale Moor Medical Centre' }]]);
});

test('community contacts and social care assessments and packages', () => {
  assert.deepEqual(record.communityContacts.map((c) => [c.service, c.reason, c.contactType, c.team, c.durationMinutes, c.source.name]), [['District nursing', 'Wound care', 'Home visit', 'Sale district nurses', 30, 'Trafford Synthetic Community Services (csv:community)']]);
  assert.deepEqual(record.socialCare.assessments.map((a) => [a.type, a.outcome, a.source.name]), [['Care Act assessment', 'Eligible', 'Trafford Synthetic Adult Social Care (csv:socialcare)']]);
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
  assert.equal(byId.get('c1')!.source.name, 'Sale Moor Medical Centre (gp:P91001)');
  assert.equal(byId.get('V1001')!.source.name, 'Trafford Synthetic Acute Hospital, south site (hl7:RM2)');
  assert.equal(byId.get('V1001')!.kind, 'admission');
  assert.match(byId.get('V1001')!.description, /Emergency admission, discharged 05 Jul 2025 \(4 days\)/);
  assert.equal(byId.get('PK-1')!.source.name, 'Trafford Synthetic Adult Social Care (csv:socialcare)');
  assert.match(byId.get('PK-1')!.description, /Home care, 10 h\/week, £245\.50\/week \(open\)/);
  assert.equal(byId.get('CC-9')!.source.name, 'Trafford Synthetic Community Services (csv:community)');
  assert.equal(byId.get('e1')!.kind, 'consultation');
  assert.equal(byId.get('e1')!.description, 'GP consultation at Sale Moor Medical Centre — Diabetes review');
  assert.equal(record.death, null);
  assert.deepEqual(record.sources.map((s) => s.system), [GP, HOSPITAL, COMMUNITY, SOCIAL]);
});

test('source names: the organisation by name, with the source key', () => {
  assert.equal(sourceName('gp:P91001', practices), 'Sale Moor Medical Centre (gp:P91001)');
  assert.equal(sourceName('gp:P99999', practices), 'GP practice P99999 (gp:P99999)');
  assert.equal(sourceName('hl7:RM2', practices), 'Trafford Synthetic Acute Hospital, south site (hl7:RM2)');
  assert.equal(sourceName('hl7:XYZ', practices), 'Hospital system (hl7:XYZ)');
  assert.equal(sourceName('csv:socialcare', practices), 'Trafford Synthetic Adult Social Care (csv:socialcare)');
  assert.equal(sourceName('csv:community', practices), 'Trafford Synthetic Community Services (csv:community)');
  assert.equal(sourceName('csv:mentalhealth', practices), 'Trafford Synthetic Mental Health Trust (csv:mentalhealth)');
  // A name a feed sent in an Organization resource, for a code neither the practice list nor the reference data knows.
  assert.equal(sourceName('hl7:R0A', [{ ods_code: 'R0A', name: 'Manchester University NHS FT', neighbourhood: '', neighbourhood_name: null, origin: 'feed' }]), 'Manchester University NHS FT (hl7:R0A)');
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

// ---------------------------------------------------------------------------------------------
// A record a clinician can trust (issue 9, deliverable 5)

const withoutSourcePatients = rows.filter((r) => r.resource_type !== 'Patient');

test('death: every source reporting it named, the date from the GP record, and where the sources disagree', () => {
  const r = buildIntegratedRecord(person, identities, [...withoutSourcePatients, ...deathPatients, ...deathEvents], practices, { now: NOW });
  const d = r.death!;
  assert.equal(d.date, '2025-09-20');
  assert.equal(d.ageAtDeath, 75);
  assert.deepEqual(d.reportedBy.map((s) => s.system), [GP, HOSPITAL, SOCIAL]);
  assert.deepEqual(d.reports.map((x) => [x.source.system, x.evidence, x.date]), [
    [GP, 'patient-record', '2025-09-20'],
    [HOSPITAL, 'patient-record', '2025-09-20T22:40:00Z'],
    [HOSPITAL, 'discharge', '2025-09-20T22:40:00Z'],
    [SOCIAL, 'case-closure', '2025-09-22'],
  ]);
  // 22:40 UTC on 20 September is 23:40 in London: the same day. Social care closed the case two days later.
  assert.deepEqual(d.disagreements, ['date of death: 20 Sep 2025 (Sale Moor Medical Centre (gp:P91001), Trafford Synthetic Acute Hospital, south site (hl7:RM2)); 22 Sep 2025 (Trafford Synthetic Adult Social Care (csv:socialcare))']);
  assert.deepEqual(d.notRecordedBy, []);
  const stay = r.admissions.find((a) => a.ref.sourceId === 'V1009')!;
  assert.equal(stay.died, true);
  assert.equal(stay.service, 'Geriatric medicine');
  assert.equal(stay.location, 'Ward 7 (BAY2 BED3)');
  assert.match(r.timeline.find((t) => t.ref.sourceId === 'V1009')!.description, /^Emergency admission, died 20 Sep 2025 \(5 days\), Geriatric medicine \[Ward 7 \(BAY2 BED3\)\]$/);

  const patient = toFhirBundle(r, [...withoutSourcePatients, ...deathPatients]).entry![0]!.resource as Patient;
  assert.equal(patient.deceasedDateTime, '2025-09-20');
});

test('death: one source is enough; a source with the person alive, or silent, is shown', () => {
  const hospitalOnly = [...withoutSourcePatients, rows.find((x) => x.resource_type === 'Patient')!, deathPatients[1]!];
  const d = buildIntegratedRecord(person, identities, hospitalOnly, practices, { now: NOW }).death!;
  assert.equal(d.date, '2025-09-20T22:40:00Z');
  assert.deepEqual(d.reportedBy.map((s) => s.system), [HOSPITAL]);
  assert.deepEqual(d.notRecordedBy.map((s) => s.system), [GP]);
  assert.deepEqual(d.disagreements, []);

  const alive = { ...deathPatients[0]!, content: { resourceType: 'Patient', id: 'gp-pat-1', deceasedBoolean: false } as Patient };
  const contradicted = buildIntegratedRecord(person, identities, [...withoutSourcePatients, alive, deathPatients[1]!], practices, { now: NOW }).death!;
  assert.deepEqual(contradicted.disagreements, ['Sale Moor Medical Centre (gp:P91001) records the person as not deceased']);

  const noDate = { ...deathPatients[1]!, content: { resourceType: 'Patient', id: 'MRN100', deceasedBoolean: true } as Patient };
  const r = buildIntegratedRecord(person, identities, [...withoutSourcePatients, noDate], practices, { now: NOW });
  assert.equal(r.death!.date, null);
  assert.equal((toFhirBundle(r, withoutSourcePatients).entry![0]!.resource as Patient).deceasedBoolean, true);
  // A discharge code that means death elsewhere (4 is "intermediate care" in the US table) is not a death from an unlisted sender.
  const elsewhere = { ...deathEvents[0]!, source_system: 'hl7:USLAB' };
  assert.equal(buildIntegratedRecord(person, identities, [...withoutSourcePatients, elsewhere], practices, { now: NOW }).death, null);
});

test('results: grouped by category, else by code; smoking status is social history even from an ORU; local codes mapped, comments kept', () => {
  const r = buildIntegratedRecord(person, identities, [...rows, ...resultRows], practices, { now: NOW });
  const groups = Object.fromEntries(r.results.groups.map((g) => [g.key, g.latest.map((x) => x.name)]));
  assert.deepEqual(Object.keys(groups), ['vital-signs', 'laboratory', 'social-history']);
  assert.deepEqual(groups['vital-signs'], ['Blood pressure', 'Body weight']);
  assert.deepEqual(groups['laboratory'], ['Haemoglobin', 'Platelets', 'Serum sodium', 'HbA1c level']);
  assert.deepEqual(groups['social-history'], ['Tobacco smoking status', 'Smoker']);
  const hb = r.results.latestByCode.find((x) => x.ref.sourceId === 'L77-1')!;
  assert.equal(hb.code, 'http://snomed.info/sct|1022431000000105');
  assert.equal(hb.localCode, 'HB');
  assert.deepEqual(hb.notes, ['Result confirmed on repeat analysis.', 'Film reviewed: hypochromic microcytic.']);
  const plt = r.results.latestByCode.find((x) => x.ref.sourceId === 'L77-2')!;
  assert.equal(plt.code, null);
  assert.equal(plt.localCode, null);
  const fbc = r.results.reports.find((x) => x.ref.sourceId === 'L77')!;
  assert.equal(fbc.code, 'http://loinc.org|58410-2');
  assert.equal(fbc.localCode, 'FBC');
  assert.deepEqual(fbc.notes, ['Sample received 6 hours after collection.']);
  assert.deepEqual(r.results.reports.map((x) => x.name), ['Full blood count', 'Urea and electrolytes']);
  assert.match(r.timeline.find((t) => t.ref.sourceId === 'L77-1')!.description, /^Result: Haemoglobin 98 g\/L \(L\) — comment: Result confirmed on repeat analysis\. \/ Film reviewed/);
  assert.equal(r.timeline.find((t) => t.ref.sourceId === 'POA-1')!.description, 'Social history: Tobacco smoking status Ex-smoker');

  // The FHIR form: the national coding first, the local one kept; the stored row untouched.
  const bundle = toFhirBundle(r, resultRows);
  const obs = bundle.entry!.find((e) => e.resource!.id === fhirLogicalId(HOSPITAL, 'Observation', 'L77-1'))!.resource as Observation;
  assert.deepEqual(obs.code.coding, [{ system: 'http://snomed.info/sct', code: '1022431000000105', display: 'Haemoglobin estimation' }, { code: 'HB', display: 'Haemoglobin' }]);
  assert.equal(obs.code.text, 'Haemoglobin');
  assert.deepEqual(obs.note?.map((n) => n.text), ['Result confirmed on repeat analysis.', 'Film reviewed: hypochromic microcytic.']);
  const report = bundle.entry!.find((e) => e.resource!.resourceType === 'DiagnosticReport')!.resource as DiagnosticReport;
  assert.equal(report.code.coding![0]!.code, '58410-2');
  assert.equal((resultRows[0]!.content as DiagnosticReport).code.coding!.length, 1);
});

test('GP consultations as GP consultations: at the practice, by telephone, at home; hospital clinics and community teams by name', () => {
  const r = buildIntegratedRecord(person, identities, [...rows, ...encounterRows], practices, { now: NOW });
  assert.deepEqual(r.gpConsultations.map((c) => [c.ref.sourceId, c.mode, c.practice.name, c.clinician]), [
    ['e3', 'home-visit', 'Sale Moor Medical Centre', 'Dr A Patel'],
    ['e2', 'telephone', 'Sale Moor Medical Centre', null],
    ['e1', 'face-to-face', 'Sale Moor Medical Centre', null],
  ]);
  const say = (id: string) => r.timeline.find((t) => t.ref.sourceId === id)!.description;
  assert.equal(say('e2'), 'GP telephone consultation, Sale Moor Medical Centre');
  assert.equal(say('e3'), 'GP home visit, Sale Moor Medical Centre');
  assert.equal(r.timeline.find((t) => t.ref.sourceId === 'e3')!.kind, 'consultation');
  // A GP home visit is not a community contact.
  assert.ok(!r.communityContacts.some((c) => c.ref.sourceId === 'e3'));
  assert.deepEqual(r.encounters.map((e) => [e.kindName, e.type, e.location]), [['Outpatient or clinic contact', 'Diabetic medicine', 'Outpatient department (Diabetic medicine)']]);
  assert.equal(r.communityContacts.find((c) => c.ref.sourceId === 'CC-10')!.team, 'Trafford Synthetic Community Services');
});

test('reference data: the shipped files load, name every organisation the synthetic locality and the access policy use', async () => {
  const ref = loadReferenceData();
  const { HOSPITALS } = await import('../synth/locality.ts');
  const { MENTAL_HEALTH_TRUST } = await import('../synth/population.ts');
  for (const h of HOSPITALS) assert.ok(ref.organisations.get(h.facility), `${h.facility} (${h.name}) has no name`);
  assert.equal(ref.organisations.get(MENTAL_HEALTH_TRUST)?.kind, 'mental-health-trust');
  const policy = JSON.parse(readFileSync(new URL('../access/policy/policy.json', import.meta.url), 'utf8')) as { sourceOrganisations: Record<string, string> };
  for (const [system, ods] of Object.entries(policy.sourceOrganisations)) assert.equal(ref.organisationOfSource.get(system)?.odsCode, ods, `${system} runs as ${ods} in the policy`);
  for (const key of ['hl7:RM2', 'hl7:RW3', 'hl7:RXV', 'csv:community', 'csv:socialcare', 'csv:mentalhealth']) assert.ok(ref.organisationOfSource.get(key), `${key} has no organisation`);
});

test('reference CSV: quoted fields, comment lines, and every problem listed', () => {
  const { rows: parsed, problems } = parseReferenceCsv('# about\na,b\n"x, y","he said ""hi"""\n1,2,3\n"open\n', 't.csv');
  assert.deepEqual(parsed, [{ a: 'x, y', b: 'he said "hi"' }]);
  assert.deepEqual(problems, ['t.csv line 4: 3 fields, the header has 2', 't.csv line 5: an unclosed quote']);
  const dir = mkdtempSync(join(tmpdir(), 'bevan-ref-'));
  try {
    for (const f of ['organisations.csv', 'lab-code-map.csv', 'observation-groups.csv', 'death-codes.csv', 'locations.csv', 'hospital-services.csv']) copyFileSync(new URL(`./reference/${f}`, import.meta.url), join(dir, f));
    writeFileSync(join(dir, 'organisations.csv'), 'ods_code,name,kind,part_of,source_systems\nRM2,A,hospital,,\nRM2,B,hospital-site,ZZZ,\n');
    writeFileSync(join(dir, 'lab-code-map.csv'), 'source_system,local_code,system,code,display\nhl7:RM2,FBC,http://example.org,1,x\n');
    assert.throws(() => loadReferenceData(pathToFileURL(`${dir}/`)), (err: Error) => {
      for (const p of [/kind "hospital" is not one of/, /RM2 is listed twice/, /part of ZZZ, which is not listed/, /system http:\/\/example.org is not SNOMED CT/]) assert.match(err.message, p);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('timeline: HL7 documents, appointments, orders, dispenses and administrations have their own kinds, with their state', () => {
  const subject = { reference: 'Patient/MRN100' };
  const extra = [
    row(HOSPITAL, 'MRN100', { resourceType: 'DocumentReference', id: 'document-D1', status: 'current', docStatus: 'final', type: { text: 'Discharge summary' }, subject, date: '2025-08-02T17:00:00Z', context: { period: { start: '2025-08-02T16:00:00Z' } }, author: [{ display: 'Dr Mark Jones' }], content: [{ attachment: { contentType: 'text/plain', data: 'eA==' } }] }),
    row(HOSPITAL, 'MRN100', { resourceType: 'Appointment', id: 'appointment-A1', status: 'cancelled', serviceType: [{ text: 'Cardiology follow-up' }], start: '2025-09-10T09:30:00Z', participant: [{ actor: subject, status: 'accepted' }, { actor: { type: 'Location', display: 'Cardiology Outpatients' }, status: 'accepted' }] }),
    row(HOSPITAL, 'MRN100', { resourceType: 'ServiceRequest', id: 'order-PL1', status: 'revoked', intent: 'order', code: { text: 'Full blood count' }, subject, authoredOn: '2025-08-01T09:00:00Z' }),
    row(HOSPITAL, 'MRN100', { resourceType: 'MedicationDispense', id: 'order-RX1-dispense-1', status: 'completed', medicationCodeableConcept: { text: 'Flucloxacillin 500mg capsules' }, subject, whenHandedOver: '2025-08-03T11:30:00Z' }),
    row(HOSPITAL, 'MRN100', { resourceType: 'MedicationAdministration', id: 'order-RX1-administration-1-1', status: 'not-done', medicationCodeableConcept: { text: 'Flucloxacillin 500mg capsules' }, subject, effectiveDateTime: '2025-08-03T22:00:00Z' }),
    row(HOSPITAL, 'MRN100', { resourceType: 'Immunization', id: 'imm-1', status: 'not-done', vaccineCode: { text: 'Influenza vaccine' }, patient: subject, occurrenceDateTime: '2025-08-04' }),
  ];
  const r = buildIntegratedRecord(person, identities, [...rows, ...extra], practices, { now: NOW });
  const byId = new Map(r.timeline.map((t) => [t.ref.sourceId, t]));
  assert.deepEqual([byId.get('document-D1')!.kind, byId.get('document-D1')!.description, byId.get('document-D1')!.date], ['document', 'Document: Discharge summary by Dr Mark Jones', '2025-08-02T16:00:00Z']);
  assert.deepEqual([byId.get('appointment-A1')!.kind, byId.get('appointment-A1')!.description], ['appointment', 'Appointment: Cardiology follow-up at Cardiology Outpatients (cancelled)']);
  assert.deepEqual([byId.get('order-PL1')!.kind, byId.get('order-PL1')!.description], ['order', 'Order: Full blood count (cancelled)']);
  assert.deepEqual([byId.get('order-RX1-dispense-1')!.kind, byId.get('order-RX1-dispense-1')!.description], ['medication', 'Medication dispensed: Flucloxacillin 500mg capsules']);
  assert.equal(byId.get('order-RX1-administration-1-1')!.description, 'Medication given: Flucloxacillin 500mg capsules (not-done)');
  assert.equal(byId.get('imm-1')!.description, 'Immunisation: Influenza vaccine (not-done)');
  assert.ok(!r.medications.some((m) => m.name === 'Flucloxacillin 500mg capsules'), 'a dispense is not a medicine on the list');
});
