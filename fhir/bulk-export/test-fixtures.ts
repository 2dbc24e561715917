/**
 * Five synthetic people for the bulk export tests, on top of record/test-fixtures.ts: A (the
 * fixture person, P91001, four sources, one sexual-health diagnosis), B (P91001, a late
 * observation), C (P91002), D (P91002, national data opt-out), E (P91001, restricted), and one
 * Organization (reference data). Synthetic data only.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.ts';
import type { ResourceRow } from '../../record/rows.ts';
import { GP, identities as fixtureIdentities, insertFixtures, insertIdentity, insertResource, PERSON_ID } from '../../record/test-fixtures.ts';

export const A = PERSON_ID;
export const B = '1b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a52';
export const C = '2b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a53';
export const D = '3b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a54';
export const E = '4b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a55';
export const CHLAMYDIA = '105629000';

function row(system: string, subject: string, personId: string | null, resource: Resource & { id: string }, receivedAt = '2025-10-02T09:00:00.000Z'): ResourceRow {
  return { source_system: system, resource_type: resource.resourceType, source_id: resource.id, person_id: personId, subject_id: personId ? subject : null, version: 1, source_time: null, received_at: receivedAt, content: resource };
}

/** Inserts the five people, their practices, consent and restriction. */
export async function insertPeople(db: Queryable): Promise<void> {
  await insertFixtures(db);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood, postcode) VALUES ('P91002', 'Ashton Lane Surgery', 'SALE', 'M33 6AA')`);
  const base = fixtureIdentities[0]!;
  const people: [string, string, string, string][] = [
    [B, 'gp:P91001', 'gp-b', '9434765870'],
    [C, 'gp:P91002', 'gp-c', '9434765889'],
    [D, 'gp:P91002', 'gp-d', '9434765897'],
    [E, 'gp:P91001', 'gp-e', '9434765900'],
  ];
  for (const [id, system, sourceId, nhs] of people) {
    await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [id, nhs]);
    await insertIdentity(db, { ...base, source_system: system, source_id: sourceId, person_id: id, nhs_number: nhs, given: sourceId, practice: system.slice(3), updated_at: id === B ? '2025-11-01T00:00:00.000Z' : '2025-01-10T09:00:00.000Z' });
    await insertResource(db, row(system, sourceId, id, { resourceType: 'Patient', id: sourceId, name: [{ family: 'Smith', given: [sourceId] }] }));
    await insertResource(db, row(system, sourceId, id, { resourceType: 'Encounter', id: `enc-${sourceId}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${sourceId}` } }));
  }
  // B's newest observation arrived late (for _since).
  await insertResource(db, row('gp:P91001', 'gp-b', B, { resourceType: 'Observation', id: 'obs-b', status: 'final', code: { text: 'weight' }, subject: { reference: 'Patient/gp-b' } } as Resource & { id: string }, '2025-11-01T00:00:00.000Z'));
  // A's sexual-health diagnosis: withheld from secondary use, shown to A's own GP.
  await insertResource(db, row(GP, 'gp-pat-1', A, { resourceType: 'Condition', id: 'c-sh', subject: { reference: 'Patient/gp-pat-1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: CHLAMYDIA }] } } as Resource & { id: string }));
  // Reference data (no person): system level only.
  await insertResource(db, row(GP, '', null, { resourceType: 'Organization', id: 'org-1', name: 'Sale Moor Medical Centre' } as Resource & { id: string }));
  await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [D]);
  await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'RCGP sensitive dataset')`, [E]);
}

