/**
 * A small synthetic person known to three sources (GP FHIR, hospital HL7, social care CSV) and
 * community services, as rows the way the record store returns them. Shared by the record's
 * unit and database tests. Synthetic data only.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from './rows.ts';

export const PERSON_ID = '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51';
export const NHS = '9434765919';
export const GP = 'gp:P91001';
export const HOSPITAL = 'hl7:RM2';
export const SOCIAL = 'csv:socialcare';
export const COMMUNITY = 'csv:community';
const SCT = 'http://snomed.info/sct';
const DMD = 'https://dmd.nhs.uk';

export const person: PersonRow = { person_id: PERSON_ID, nhs_number: NHS, status: 'active', merged_into: null };

export const practices: PracticeRow[] = [{ ods_code: 'P91001', name: 'Sale Moor Medical Centre', neighbourhood: 'SALE', neighbourhood_name: 'Sale' }];

function identity(system: string, id: string, over: Partial<IdentityRow>): IdentityRow {
  return {
    source_system: system,
    source_id: id,
    person_id: PERSON_ID,
    nhs_number: NHS,
    nhs_number_valid: true,
    family: 'Smith',
    given: 'John',
    birth_date: '1950-03-12',
    sex: 'male',
    postcode: 'M33 2AB',
    practice: 'P91001',
    link_method: 'nhs-number',
    match_status: 'MATCH',
    updated_at: '2025-01-10T09:00:00.000Z',
    ...over,
  };
}

export const identities: IdentityRow[] = [
  identity(GP, 'gp-pat-1', {}),
  // The hospital is the most recent source with a valid NHS number: its values are preferred.
  identity(HOSPITAL, 'MRN100', { family: 'SMITH', given: 'Jon', postcode: 'M332AB', practice: null, updated_at: '2025-06-01T09:00:00.000Z' }),
  // Newest of all, but without an NHS number: its spelling is a variant, not the preferred value.
  identity(SOCIAL, 'SC-77', { nhs_number: null, nhs_number_valid: false, family: 'Smyth', practice: null, link_method: 'probabilistic', updated_at: '2025-09-01T09:00:00.000Z' }),
  identity(COMMUNITY, 'C-5', { nhs_number: NHS, updated_at: '2024-01-01T09:00:00.000Z' }),
];

let received = Date.parse('2025-10-01T08:00:00Z');
export function row(system: string, subject: string, resource: Resource, version = 1): ResourceRow {
  received += 60_000;
  return {
    source_system: system,
    resource_type: resource.resourceType,
    source_id: resource.id!,
    person_id: PERSON_ID,
    subject_id: subject,
    version,
    source_time: null,
    received_at: new Date(received).toISOString(),
    content: resource,
  };
}

const gpSubject = { reference: 'Patient/gp-pat-1' };
const hosSubject = { reference: 'Patient/MRN100' };
const diabetes = { coding: [{ system: SCT, code: '44054006', display: 'Type 2 diabetes mellitus' }] };
const metformin = { coding: [{ system: DMD, code: '325278009', display: 'Metformin 500mg tablets' }] };
const hba1c = { coding: [{ system: SCT, code: '1107481000000106', display: 'HbA1c level' }] };

export const rows: ResourceRow[] = [
  row(GP, 'gp-pat-1', { resourceType: 'Patient', id: 'gp-pat-1', name: [{ family: 'Smith', given: ['John'] }], identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }] }),
  row(GP, 'gp-pat-1', { resourceType: 'Condition', id: 'c1', subject: gpSubject, code: diabetes, clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2015-04-20' }),
  row(GP, 'gp-pat-1', { resourceType: 'Condition', id: 'c2', subject: gpSubject, code: { coding: [{ system: SCT, code: '195967001', display: 'Asthma' }] }, clinicalStatus: { coding: [{ code: 'resolved' }] }, onsetDateTime: '1990-01-01' }),
  row(GP, 'gp-pat-1', { resourceType: 'MedicationStatement', id: 'ms1', subject: gpSubject, status: 'active', medicationCodeableConcept: metformin, effectivePeriod: { start: '2015-05-01' }, dosage: [{ text: 'One tablet twice a day' }] }),
  row(GP, 'gp-pat-1', { resourceType: 'MedicationRequest', id: 'mr1', subject: gpSubject, status: 'completed', intent: 'order', medicationCodeableConcept: metformin, authoredOn: '2025-08-01', dosageInstruction: [{ text: 'One tablet twice a day with food' }] }),
  row(GP, 'gp-pat-1', { resourceType: 'MedicationStatement', id: 'ms2', subject: gpSubject, status: 'stopped', medicationCodeableConcept: { coding: [{ system: DMD, code: '39732311000001104', display: 'Amoxicillin 500mg capsules' }] }, effectivePeriod: { start: '2020-02-01', end: '2020-02-08' } }),
  row(GP, 'gp-pat-1', { resourceType: 'AllergyIntolerance', id: 'a1', patient: gpSubject, code: { coding: [{ system: SCT, code: '764146007', display: 'Penicillin' }] }, clinicalStatus: { coding: [{ code: 'active' }] }, criticality: 'high', reaction: [{ manifestation: [{ coding: [{ display: 'Urticaria' }] }] }], recordedDate: '2001-06-01' }),
  row(GP, 'gp-pat-1', { resourceType: 'Observation', id: 'o1', status: 'final', subject: gpSubject, code: hba1c, valueQuantity: { value: 58, unit: 'mmol/mol' }, effectiveDateTime: '2024-03-01' }),
  row(GP, 'gp-pat-1', { resourceType: 'Observation', id: 'o2', status: 'final', subject: gpSubject, code: hba1c, valueQuantity: { value: 52, unit: 'mmol/mol' }, effectiveDateTime: '2025-03-01', interpretation: [{ coding: [{ code: 'H' }] }] }),
  row(GP, 'gp-pat-1', {
    resourceType: 'Observation',
    id: 'o3',
    status: 'final',
    subject: gpSubject,
    code: { coding: [{ system: SCT, code: '75367002', display: 'Blood pressure' }] },
    effectiveDateTime: '2025-03-01',
    component: [
      { code: { text: 'Systolic' }, valueQuantity: { value: 142, unit: 'mmHg' } },
      { code: { text: 'Diastolic' }, valueQuantity: { value: 88, unit: 'mmHg' } },
    ],
  }),
  row(GP, 'gp-pat-1', { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: gpSubject, type: [{ text: 'Diabetes review' }], period: { start: '2025-03-01T10:00:00Z' } }),
  // The hospital records the same diabetes (same SNOMED code) with a later onset: one problem, two sources.
  row(HOSPITAL, 'MRN100', { resourceType: 'Condition', id: 'h-c1', subject: hosSubject, code: diabetes, clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2016-01-01' }),
  row(HOSPITAL, 'MRN100', {
    resourceType: 'Encounter',
    id: 'V1001',
    status: 'finished',
    class: { code: 'IMP' },
    priority: { coding: [{ code: 'EM' }] },
    subject: hosSubject,
    period: { start: '2025-07-01T22:30:00Z', end: '2025-07-05T11:00:00Z' },
    location: [{ location: { display: 'Ward 4' } }],
  }, 3),
  row(HOSPITAL, 'MRN100', { resourceType: 'Encounter', id: 'V1002', status: 'finished', class: { code: 'EMER' }, subject: hosSubject, period: { start: '2025-06-30T18:00:00Z', end: '2025-06-30T22:00:00Z' } }),
  row(HOSPITAL, 'MRN100', { resourceType: 'Encounter', id: 'V1003', status: 'in-progress', class: { code: 'IMP' }, priority: { coding: [{ code: 'EL' }] }, subject: hosSubject, period: { start: '2025-10-01T09:00:00Z' } }),
  row(HOSPITAL, 'MRN100', { resourceType: 'DiagnosticReport', id: 'F500', status: 'final', subject: hosSubject, code: { text: 'Urea and electrolytes' }, effectiveDateTime: '2025-07-02T08:00:00Z', result: [{ reference: 'Observation/F500-1' }] }),
  row(HOSPITAL, 'MRN100', { resourceType: 'Observation', id: 'F500-1', status: 'final', subject: hosSubject, code: { coding: [{ system: SCT, code: '1000661000000107', display: 'Serum sodium' }] }, valueQuantity: { value: 131, unit: 'mmol/L' }, interpretation: [{ coding: [{ code: 'L' }] }], referenceRange: [{ text: '133-146' }], effectiveDateTime: '2025-07-02T08:00:00Z' }),
  row(SOCIAL, 'SC-77', { resourceType: 'Procedure', id: 'AS-1', status: 'completed', subject: { reference: 'Patient/SC-77' }, code: { coding: [{ system: SCT, code: '710916004', display: 'Care Act assessment' }] }, outcome: { text: 'Eligible' }, performedDateTime: '2025-07-20' }),
  row(SOCIAL, 'SC-77', {
    resourceType: 'EpisodeOfCare',
    id: 'PK-1',
    status: 'active',
    patient: { reference: 'Patient/SC-77' },
    type: [{ text: 'Home care' }],
    period: { start: '2025-08-01' },
    managingOrganization: { display: 'Trafford Home Care Ltd' },
    extension: [
      { url: 'https://bevan.example/fhir/StructureDefinition/weekly-cost', valueMoney: { value: 245.5, currency: 'GBP' } },
      { url: 'https://bevan.example/fhir/StructureDefinition/hours-per-week', valueDecimal: 10 },
    ],
  }),
  row(SOCIAL, 'SC-77', { resourceType: 'EpisodeOfCare', id: 'PK-0', status: 'finished', patient: { reference: 'Patient/SC-77' }, type: [{ text: 'Reablement' }], period: { start: '2025-07-06', end: '2025-07-31' }, extension: [{ url: 'https://bevan.example/fhir/StructureDefinition/weekly-cost', valueMoney: { value: 300, currency: 'GBP' } }] }),
  row(COMMUNITY, 'C-5', { resourceType: 'Encounter', id: 'CC-9', status: 'finished', class: { code: 'HH' }, subject: { reference: 'Patient/C-5' }, serviceType: { text: 'District nursing' }, type: [{ coding: [{ system: SCT, code: '225358003', display: 'Wound care' }], text: 'Wound care' }, { text: 'Home visit' }], serviceProvider: { display: 'Sale district nurses' }, length: { value: 30, unit: 'min' }, period: { start: '2025-07-10' } }),
];

/** "Today" for the fixtures, so ages and lengths of stay are fixed. */
export const NOW = new Date('2025-10-04T12:00:00Z');

/** Inserts one source identity row as given. */
export async function insertIdentity(db: Queryable, i: IdentityRow): Promise<void> {
  await db.query(
    `INSERT INTO source_identity (source_system, source_id, person_id, nhs_number, nhs_number_valid, family, given, birth_date, sex, postcode, practice, link_method, match_status, updated_at, shard_key)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14, shard_key_of($1, $2))`,
    [i.source_system, i.source_id, i.person_id, i.nhs_number, i.nhs_number_valid, i.family, i.given, i.birth_date, i.sex, i.postcode, i.practice, i.link_method, i.match_status, i.updated_at],
  );
}

/** Inserts one resource row as given. */
export async function insertResource(db: Queryable, r: ResourceRow): Promise<void> {
  await db.query(
    `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, version, source_time, received_at, content_hash, content, shard_key)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb, shard_key_of($1::text, COALESCE($5::text, $2::text || '/' || $3::text)))`,
    [r.source_system, r.resource_type, r.source_id, r.person_id, r.subject_id, r.version, r.source_time, r.received_at, `h-${r.source_id}`, JSON.stringify(r.content)],
  );
}

/** Inserts the fixture person, practice, identities and resources (plain SQL, as ingestion would leave them). */
export async function insertFixtures(db: Queryable): Promise<void> {
  await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('SALE', 'Sale')`);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood, postcode) VALUES ('P91001', 'Sale Moor Medical Centre', 'SALE', 'M33 4AA')`);
  await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [PERSON_ID, NHS]);
  for (const i of identities) await insertIdentity(db, i);
  for (const r of rows) await insertResource(db, r);
}
