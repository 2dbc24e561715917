/**
 * Extra rows for the search tests, on top of record/test-fixtures.ts: an HbA1c made in the
 * diabetes review (so Observation:encounter and Encounter's _revinclude have something to
 * find), a sexual-health diagnosis made in the same review (withheld from most users), a
 * prescription pointing at a Medication resource (reference data, no person), and a second
 * person at another practice. Synthetic data only.
 */
import type { Resource } from '@medplum/fhirtypes';
import { GP, PERSON_ID, rows } from '../../record/test-fixtures.ts';
import type { IdentityRow, PersonRow, ResourceRow } from '../../record/rows.ts';

const SCT = 'http://snomed.info/sct';
export const OTHER_PERSON_ID = '7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const OTHER_NHS = '4010232137';
export const OTHER_GP = 'gp:P91999';

function row(system: string, subject: string | null, resource: Resource, personId: string | null = PERSON_ID, received = '2025-10-02T08:00:00.000Z'): ResourceRow {
  return { source_system: system, resource_type: resource.resourceType, source_id: resource.id!, person_id: personId, subject_id: subject, version: 1, source_time: null, received_at: received, content: resource };
}

export const searchRows: ResourceRow[] = [
  row(GP, 'gp-pat-1', { resourceType: 'Observation', id: 'o4', status: 'final', subject: { reference: 'Patient/gp-pat-1' }, encounter: { reference: 'Encounter/e1' }, code: { coding: [{ system: SCT, code: '1107481000000106', display: 'HbA1c level' }] }, valueQuantity: { value: 61, unit: 'mmol/mol' }, effectiveDateTime: '2025-03-01T10:20:00Z' } as Resource),
  row(GP, 'gp-pat-1', { resourceType: 'Condition', id: 'sh2', subject: { reference: 'Patient/gp-pat-1' }, encounter: { reference: 'Encounter/e1' }, code: { coding: [{ system: SCT, code: '105629000', display: 'Chlamydial infection' }] }, clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2025-03-01' } as Resource),
  row(GP, 'gp-pat-1', { resourceType: 'MedicationRequest', id: 'mr2', status: 'active', intent: 'order', subject: { reference: 'Patient/gp-pat-1' }, medicationReference: { reference: 'Medication/med-1' }, authoredOn: '2025-09-01' } as Resource),
  row(GP, null, { resourceType: 'Medication', id: 'med-1', code: { coding: [{ system: 'https://dmd.nhs.uk', code: '325278009', display: 'Metformin 500mg tablets' }] } } as Resource, null),
  // The hospital's own code for potassium (no system): served with its national SNOMED CT coding first (record/reference/lab-code-map.csv).
  row('hl7:RM2', 'MRN100', { resourceType: 'Observation', id: 'F500-2', status: 'final', subject: { reference: 'Patient/MRN100' }, code: { coding: [{ code: 'K', display: 'Potassium' }] }, valueQuantity: { value: 4.1, unit: 'mmol/L' }, effectiveDateTime: '2025-07-02T08:00:00Z' } as Resource),
  row(OTHER_GP, 'gp-pat-9', { resourceType: 'Observation', id: 'x1', status: 'final', subject: { reference: 'Patient/gp-pat-9' }, code: { coding: [{ system: SCT, code: '1107481000000106' }] }, effectiveDateTime: '2025-01-01' } as Resource, OTHER_PERSON_ID),
];

export const otherPerson: PersonRow = { person_id: OTHER_PERSON_ID, nhs_number: OTHER_NHS, status: 'active', merged_into: null };

export const otherIdentity: IdentityRow = {
  source_system: OTHER_GP,
  source_id: 'gp-pat-9',
  person_id: OTHER_PERSON_ID,
  nhs_number: OTHER_NHS,
  nhs_number_valid: true,
  family: 'Jones',
  given: 'Ann',
  birth_date: '1961-05-02',
  sex: 'female',
  postcode: 'M41 0AA',
  practice: 'P91999',
  link_method: 'nhs-number',
  match_status: 'MATCH',
  updated_at: '2025-01-10T09:00:00.000Z',
};

/** Every resource row the search tests use. */
export const allRows: ResourceRow[] = [...rows, ...searchRows];
