// A small crafted store for the duplicate-test database tests: people with and without tests
// repeated across GP and hospital within the retesting interval, written straight into the
// record's tables (through the cohort fixtures' writer).
import type { Queryable } from '../../db/database.ts';
import { insertCraftedPerson, type CraftedPerson } from '../cohorts/fixtures.ts';

const SCT = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const HBA1C = '999791000000106';
const GP = 'gp:P91001';
const HOSPITAL = 'hl7:RM2';

/** A laboratory result: a code (system '' for a laboratory's own code), taken at an instant, sent by a source. */
const lab = (code: string, at: string, source: string, system: string = SCT) => ({
  type: 'Observation',
  source,
  content: { status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }], code: { coding: [{ ...(system ? { system } : {}), code }] }, effectiveDateTime: at, valueQuantity: { value: 50 } },
});

/** Who is in the store, and which repeats each should show (at P91001 unless said). */
export const DUPLICATE_PEOPLE: CraftedPerson[] = [
  { key: 'A', resources: [lab(HBA1C, '2025-01-10T09:00:00Z', GP), lab(HBA1C, '2025-02-20T11:00:00Z', HOSPITAL)] }, // 41 days: a repeat
  { key: 'B', resources: [lab(HBA1C, '2025-01-10T09:00:00Z', GP), lab(HBA1C, '2025-04-01T11:00:00Z', HOSPITAL)] }, // 81 days: not
  // The practice's specimen reported through both feeds (same instant) is one test; then the hospital repeats it under its own local code.
  { key: 'C', resources: [lab(HBA1C, '2025-03-01T09:00:00Z', GP), lab(HBA1C, '2025-03-01T09:00:00Z', HOSPITAL), lab('HBA1C', '2025-03-20T10:00:00Z', HOSPITAL, '')] },
  // U&E: the hospital's potassium, then the GP's creatinine 10 hours later (a repeat); the GP's potassium two days later is not.
  { key: 'D', resources: [lab('1000651000000109', '2025-05-01T10:00:00Z', HOSPITAL), lab('2160-0', '2025-05-01T20:00:00Z', GP, LOINC), lab('1000651000000109', '2025-05-03T09:00:00Z', GP)] },
  { key: 'E', resources: [lab('77068002', '2025-06-01T09:00:00Z', GP), lab('77068002', '2025-06-10T09:00:00Z', GP)] }, // same setting: not counted
  { key: 'F', restricted: true, resources: [lab(HBA1C, '2025-01-10T09:00:00Z', GP), lab(HBA1C, '2025-01-20T09:00:00Z', HOSPITAL)] },
  { key: 'G', optOut: true, resources: [lab(HBA1C, '2025-01-10T09:00:00Z', GP), lab(HBA1C, '2025-01-25T09:00:00Z', HOSPITAL)] },
  { key: 'H', practice: 'P91002', resources: [lab('55235003', '2025-07-01T08:00:00Z', HOSPITAL), lab('1988-5', '2025-07-01T15:00:00Z', 'gp:P91002', LOINC)] },
  { key: 'I', resources: [lab(HBA1C, '2025-01-10T09:00:00Z', GP), lab(HBA1C, '2025-01-12T09:00:00Z', 'csv:community')] }, // community: neither side
  { key: 'J', resources: [lab(HBA1C, '2024-01-10T09:00:00Z', GP), lab(HBA1C, '2024-02-01T09:00:00Z', HOSPITAL)] }, // before --since 2025-01-01
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ key: `W${i}`, resources: [lab('55235003', `2025-08-0${i}T08:00:00Z`, GP), lab('55235003', `2025-08-0${i}T18:00:00Z`, HOSPITAL)] })),
];

export async function loadDuplicateStore(db: Queryable): Promise<void> {
  await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('N1', 'North'), ('N2', 'South') ON CONFLICT DO NOTHING`);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood) VALUES ('P91001', 'Stretford Medical Practice', 'N1'), ('P91002', 'Urmston Group Practice', 'N2') ON CONFLICT DO NOTHING`);
  for (const [i, p] of DUPLICATE_PEOPLE.entries()) await insertCraftedPerson(db, i + 1, p);
}

export const duplicateIdOf = (key: string) => `00000000-0000-4000-8000-${String(DUPLICATE_PEOPLE.findIndex((p) => p.key === key) + 1).padStart(12, '0')}`;
