/** A small $everything Bundle for the record view's tests: four sources, each kind of item. */
import type { Bundle, Resource } from '@medplum/fhirtypes';

const P = 'Patient/5f1c1e4e-0000-4000-8000-000000000001';
const meta = (source: string, lastUpdated = '2025-06-01T10:00:00Z') => ({ source, versionId: '1', lastUpdated });
const sct = (code: string, display: string) => ({ coding: [{ system: 'http://snomed.info/sct', code, display }] });

export const TODAY = '2025-06-30';

export const RESOURCES: Resource[] = [
  {
    resourceType: 'Patient',
    id: '5f1c1e4e-0000-4000-8000-000000000001',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }, { use: 'secondary', system: 'urn:bevan:source:gp:P91010', value: 'g1' }],
    name: [{ use: 'official', family: 'Barker', given: ['Dylan', 'James'] }],
    gender: 'male',
    birthDate: '1942-02-13',
    address: [{ postalCode: 'M41 4UN' }],
    generalPractitioner: [{ type: 'Organization', identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91010' }, display: 'Davyhulme Family Practice' }],
  },
  { resourceType: 'Condition', id: 'c1', meta: meta('gp:P91010'), code: sct('44054006', 'Type 2 diabetes mellitus'), clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2015-03-01', subject: { reference: P } },
  { resourceType: 'Condition', id: 'c2', meta: meta('hl7:RM2'), code: sct('44054006', 'Diabetes mellitus type 2'), clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2016-01-01', subject: { reference: P } },
  { resourceType: 'Condition', id: 'c3', meta: meta('gp:P91010'), code: sct('195662009', 'Acute viral pharyngitis'), clinicalStatus: { coding: [{ code: 'resolved' }] }, onsetDateTime: '2024-11-02', subject: { reference: P } },
  { resourceType: 'MedicationStatement', id: 'm1', meta: meta('gp:P91010'), status: 'completed', medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code: '1', display: 'Amoxicillin 500mg capsules' }] }, effectivePeriod: { start: '2024-11-02', end: '2024-11-09' }, subject: { reference: P } },
  { resourceType: 'MedicationStatement', id: 'm2', meta: meta('gp:P91010'), status: 'active', medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code: '2', display: 'Metformin 500mg tablets' }] }, dosage: [{ text: 'One tablet twice a day' }], effectivePeriod: { start: '2015-03-01' }, subject: { reference: P } },
  { resourceType: 'AllergyIntolerance', id: 'a1', meta: meta('gp:P91010'), code: sct('764146007', 'Penicillin'), clinicalStatus: { coding: [{ code: 'active' }] }, reaction: [{ manifestation: [sct('271807003', 'Rash')] }], recordedDate: '2001-01-01', patient: { reference: P } },
  { resourceType: 'Observation', id: 'o1', meta: meta('gp:P91010'), status: 'final', code: sct('999791000000106', 'HbA1c level'), valueQuantity: { value: 52, unit: 'mmol/mol' }, referenceRange: [{ low: { value: 20, unit: 'mmol/mol' }, high: { value: 41, unit: 'mmol/mol' } }], effectiveDateTime: '2024-01-10', subject: { reference: P } },
  { resourceType: 'Observation', id: 'o2', meta: meta('hl7:RM2'), status: 'final', code: sct('999791000000106', 'HbA1c level'), valueQuantity: { value: 61, unit: 'mmol/mol' }, interpretation: [{ coding: [{ code: 'H' }] }], referenceRange: [{ low: { value: 20, unit: 'mmol/mol' }, high: { value: 41, unit: 'mmol/mol' }, text: '20-41' }], effectiveDateTime: '2025-05-20T08:00:00Z', subject: { reference: P } },
  { resourceType: 'Observation', id: 'o3', meta: meta('gp:P91010'), status: 'final', code: sct('75367002', 'Blood pressure'), component: [{ code: sct('271649006', 'Systolic'), valueQuantity: { value: 150, unit: 'mmHg' } }, { code: sct('271650006', 'Diastolic'), valueQuantity: { value: 92, unit: 'mmHg' } }], effectiveDateTime: '2025-04-01T09:00:00Z', subject: { reference: P } },
  { resourceType: 'Observation', id: 'o4', meta: meta('gp:P91010'), status: 'final', code: sct('27113001', 'Body weight'), valueQuantity: { value: 82, unit: 'kg', code: 'kg' }, effectiveDateTime: '2025-04-01', subject: { reference: P } },
  { resourceType: 'Observation', id: 'o5', meta: meta('gp:P91010'), status: 'final', code: sct('50373000', 'Body height'), valueQuantity: { value: 175, unit: 'cm', code: 'cm' }, effectiveDateTime: '2020-04-01', subject: { reference: P } },
  { resourceType: 'Observation', id: 'o6', meta: meta('hl7:RM2'), status: 'final', code: sct('80274001', 'Glomerular filtration rate'), valueQuantity: { value: 48, unit: 'mL/min/1.73m2' }, referenceRange: [{ low: { value: 90 } }], effectiveDateTime: '2025-05-20T08:00:00Z', subject: { reference: P } },
  { resourceType: 'Encounter', id: 'e1', meta: meta('hl7:RM2'), status: 'finished', class: { code: 'IMP' }, priority: { coding: [{ code: 'EM' }] }, period: { start: '2025-02-01T10:00:00Z', end: '2025-02-05T12:00:00Z' }, location: [{ location: { display: 'Ward 4' } }], subject: { reference: P } },
  { resourceType: 'Encounter', id: 'e2', meta: meta('hl7:RM2'), status: 'finished', class: { code: 'EMER' }, period: { start: '2025-01-30T22:00:00Z' }, subject: { reference: P } },
  { resourceType: 'Encounter', id: 'e3', meta: meta('csv:community'), status: 'finished', class: { code: 'HH' }, serviceType: { text: 'District Nursing' }, period: { start: '2025-03-01' }, subject: { reference: P } },
  { resourceType: 'Encounter', id: 'e4', meta: meta('csv:mentalhealth'), status: 'finished', class: { code: 'AMB' }, type: [{ text: 'Memory assessment' }], period: { start: '2025-03-10' }, subject: { reference: P } },
  { resourceType: 'EpisodeOfCare', id: 'ep1', meta: meta('csv:socialcare'), status: 'active', type: [{ text: 'Home care' }], period: { start: '2025-02-10' }, managingOrganization: { display: 'Trafford Home Care' }, patient: { reference: P } },
  { resourceType: 'Immunization', id: 'i1', meta: meta('gp:P91010'), status: 'completed', vaccineCode: sct('1181000221105', 'Influenza vaccine'), occurrenceDateTime: '2024-10-26', patient: { reference: P } },
];

export function testBundle(extra: Partial<Bundle> = {}, more: Resource[] = []): Bundle {
  return { resourceType: 'Bundle', type: 'searchset', entry: [...RESOURCES, ...more].map((resource) => ({ resource })), ...extra };
}
