/**
 * More of the fixture person's record (test-fixtures.ts), for what a clinician must be able to
 * trust: a death told by the GP, the hospital (PID-29 and an A03 discharge "died") and social care
 * (case closed: Died); a laboratory report with local codes and comments; smoking status from
 * the GP and from a hospital ORU; GP telephone and home visit consultations; a hospital clinic
 * appointment. Rows as the record store returns them. Synthetic data only.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { ResourceRow } from './rows.ts';
import { COMMUNITY, GP, HOSPITAL, PERSON_ID, SOCIAL } from './test-fixtures.ts';

const SCT = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const REPORT_NOTE = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';

let received = Date.parse('2025-10-02T08:00:00Z');
function row(system: string, subject: string | null, resource: Resource): ResourceRow {
  received += 60_000;
  return { source_system: system, resource_type: resource.resourceType, source_id: resource.id!, person_id: PERSON_ID, subject_id: subject, version: 1, source_time: null, received_at: new Date(received).toISOString(), content: resource };
}
const gp = { reference: 'Patient/gp-pat-1' };
const hos = { reference: 'Patient/MRN100' };

/** The GP and hospital Patients after the death (GP: date; hospital PID-29 in London time, the next day's early hours). */
export const deathPatients: ResourceRow[] = [
  row(GP, 'gp-pat-1', { resourceType: 'Patient', id: 'gp-pat-1', name: [{ family: 'Smith', given: ['John'] }], deceasedDateTime: '2025-09-20' }),
  row(HOSPITAL, 'MRN100', { resourceType: 'Patient', id: 'MRN100', name: [{ family: 'SMITH', given: ['Jon'] }], deceasedDateTime: '2025-09-20T22:40:00Z' }),
];

/** An emergency stay ending in death (PV1-36 4, NHS discharge method "patient died") and social care closing the case. */
export const deathEvents: ResourceRow[] = [
  row(HOSPITAL, 'MRN100', {
    resourceType: 'Encounter', id: 'V1009', status: 'finished', class: { code: 'IMP' }, priority: { coding: [{ code: 'EM' }] }, subject: hos,
    period: { start: '2025-09-15T10:00:00Z', end: '2025-09-20T22:40:00Z' },
    serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: 'GER' }] },
    location: [{ location: { display: 'WARD7 BAY2 BED3' } }],
    hospitalization: { dischargeDisposition: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0112', code: '4' }] } },
  }),
  row(SOCIAL, 'SC-77', { resourceType: 'Procedure', id: 'AS-9', status: 'completed', subject: { reference: 'Patient/SC-77' }, code: { text: 'Case closure' }, outcome: { text: 'Died' }, performedDateTime: '2025-09-22' }),
];

/** A full blood count with local codes (FBC, HB) and comments on the report (NTE after OBR) and a result (NTE after OBX); smoking status twice. */
export const resultRows: ResourceRow[] = [
  row(HOSPITAL, 'MRN100', {
    resourceType: 'DiagnosticReport', id: 'L77', status: 'final', subject: hos,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
    code: { coding: [{ code: 'FBC', display: 'Full blood count' }], text: 'Full blood count' },
    effectiveDateTime: '2025-08-10T09:00:00Z',
    result: [{ reference: 'Observation/L77-1' }, { reference: 'Observation/L77-2' }],
    extension: [{ url: REPORT_NOTE, valueAnnotation: { text: 'Sample received 6 hours after collection.' } }],
  }),
  row(HOSPITAL, 'MRN100', {
    resourceType: 'Observation', id: 'L77-1', status: 'final', subject: hos,
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ code: 'HB', display: 'Haemoglobin' }], text: 'Haemoglobin' },
    valueQuantity: { value: 98, unit: 'g/L' }, interpretation: [{ coding: [{ code: 'L' }] }], referenceRange: [{ text: '130-170' }],
    effectiveDateTime: '2025-08-10T09:00:00Z',
    note: [{ text: 'Result confirmed on repeat analysis.' }, { text: 'Film reviewed: hypochromic microcytic.' }],
  }),
  // The laboratory's own platelet code is not in the mapping table: it stays local.
  row(HOSPITAL, 'MRN100', {
    resourceType: 'Observation', id: 'L77-2', status: 'final', subject: hos,
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ code: 'PLT', display: 'Platelets' }] },
    valueQuantity: { value: 250, unit: '10*9/L' }, effectiveDateTime: '2025-08-10T09:00:00Z',
  }),
  // A pre-operative assessment ORU's smoking status: the HL7 adapter gives every OBX the laboratory category.
  row(HOSPITAL, 'MRN100', {
    resourceType: 'Observation', id: 'POA-1', status: 'final', subject: hos,
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }] },
    valueCodeableConcept: { coding: [{ system: SCT, code: '8517006', display: 'Ex-smoker' }] }, effectiveDateTime: '2025-08-01T10:00:00Z',
  }),
  row(GP, 'gp-pat-1', { resourceType: 'Observation', id: 'sm1', status: 'final', subject: gp, category: [{ coding: [{ system: CATEGORY, code: 'social-history' }] }], code: { coding: [{ system: SCT, code: '77176002', display: 'Smoker' }] }, effectiveDateTime: '2019-05-01' }),
  // No category: the code table puts body weight in vital signs.
  row(GP, 'gp-pat-1', { resourceType: 'Observation', id: 'wt1', status: 'final', subject: gp, code: { coding: [{ system: SCT, code: '27113001', display: 'Body weight' }] }, valueQuantity: { value: 81, unit: 'kg' }, effectiveDateTime: '2025-03-01' }),
];

/** GP consultations by telephone and at home, and a hospital diabetes clinic appointment. */
export const encounterRows: ResourceRow[] = [
  row(GP, 'gp-pat-1', { resourceType: 'Encounter', id: 'e2', status: 'finished', class: { code: 'VR' }, subject: gp, type: [{ coding: [{ system: SCT, code: '185317003', display: 'Telephone encounter' }] }], period: { start: '2025-05-02T09:10:00Z' }, serviceProvider: { identifier: { system: ODS, value: 'P91001' } } }),
  row(GP, 'gp-pat-1', { resourceType: 'Encounter', id: 'e3', status: 'finished', class: { code: 'HH' }, subject: gp, type: [{ coding: [{ system: SCT, code: '439708006', display: 'Home visit' }] }], period: { start: '2025-06-03T14:00:00Z' }, participant: [{ individual: { display: 'Dr A Patel' } }] }),
  row(HOSPITAL, 'MRN100', { resourceType: 'Encounter', id: 'V1005', status: 'finished', class: { code: 'AMB' }, subject: hos, serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: 'DIA' }] }, location: [{ location: { display: 'OPD DIA' } }], period: { start: '2025-04-04T10:30:00Z' } }),
  row(COMMUNITY, 'C-5', { resourceType: 'Encounter', id: 'CC-10', status: 'finished', class: { code: 'HH' }, subject: { reference: 'Patient/C-5' }, serviceType: { text: 'District nursing' }, serviceProvider: { identifier: { system: ODS, value: 'RM3' } }, period: { start: '2025-07-11' } }),
];
