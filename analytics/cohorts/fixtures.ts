// A small crafted store for the cohort and commissioning database tests: people who should and
// should not match each kind of register criterion, written straight into the record's tables.
import type { Queryable } from '../../db/database.ts';

export const AS_OF = '2025-10-01';
const SCT = 'http://snomed.info/sct';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export interface CraftedPerson {
  key: string;
  practice?: string;
  birthDate?: string;
  restricted?: boolean;
  optOut?: boolean;
  dissent?: boolean;
  deceased?: boolean;
  resources?: { type: string; source?: string; content: Record<string, unknown> }[];
}

export const personId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const cond = (code: string, status = 'active') => ({ type: 'Condition', content: { code: { coding: [{ system: SCT, code }] }, clinicalStatus: { coding: [{ code: status }] } } });
const hba1c = (value: number, date: string) => ({ type: 'Observation', content: { status: 'final', code: { coding: [{ system: SCT, code: '999791000000106' }] }, effectiveDateTime: `${date}T09:00:00Z`, valueQuantity: { value, unit: 'mmol/mol' } } });
const enc = (cls: string, date: string, extra: Record<string, unknown> = {}, source = 'hl7:RM2') => ({ type: 'Encounter', source, content: { status: 'finished', class: { system: ACT, code: cls }, period: { start: `${date}T10:00:00Z` }, ...extra } });
const emergency = (date: string) => enc('IMP', date, { priority: { coding: [{ code: 'EM' }] } });
const elective = (date: string) => enc('IMP', date, { priority: { coding: [{ code: 'EL' }] } });
const outpatient = (service: string, date: string) => enc('AMB', date, { serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: service }] } });
const proc = (code: string, date: string) => ({ type: 'Procedure', content: { status: 'completed', code: { coding: [{ system: SCT, code }] }, performedDateTime: date } });

/** Who is in the store, with the registers each should be on (at P91001 unless said). */
export const PEOPLE: CraftedPerson[] = [
  { key: 'A', resources: [cond('44054006'), hba1c(60, '2025-01-10'), hba1c(80, '2025-06-01')] }, // latest 80: HbA1c ≥ 75
  { key: 'B', resources: [cond('44054006'), hba1c(90, '2025-01-10'), hba1c(60, '2025-08-01')] }, // latest 60
  { key: 'C', resources: [cond('46635009'), hba1c(85, '2025-05-01'), { type: 'CarePlan', content: { status: 'active', intent: 'plan' } }] }, // has a care plan
  { key: 'D', resources: [cond('73211009'), hba1c(90, '2023-12-01')] }, // result outside 15 months
  { key: 'E', resources: [cond('44054006', 'resolved')] }, // not active: on no register
  { key: 'F', birthDate: '1950-01-01', resources: [cond('13645005'), emergency('2025-02-01'), emergency('2025-07-01')] },
  { key: 'G', birthDate: '1950-01-01', resources: [cond('13645005'), emergency('2025-02-01'), elective('2025-07-01'), emergency('2024-06-01')] },
  { key: 'H', resources: [enc('EMER', '2024-11-01'), enc('EMER', '2025-03-01'), enc('EMER', '2025-09-30')] },
  { key: 'I', resources: [enc('EMER', '2023-11-01'), enc('EMER', '2025-03-01'), enc('EMER', '2025-09-30')] },
  { key: 'J', resources: [cond('58214004')] }, // SMI, no health check: due
  { key: 'K', resources: [cond('69322001'), proc('1366401000000104', '2025-05-01')] }, // checked this year
  { key: 'L', birthDate: '1995-05-05', resources: [cond('110359009')] },
  { key: 'M', birthDate: '2015-05-05', resources: [cond('110359009')] }, // aged 10: not on the health check list
  { key: 'N', resources: [outpatient('ENT', '2025-03-01')] },
  { key: 'O', resources: [outpatient('CAR', '2025-03-01'), outpatient('ENT', '2024-01-01')] },
  { key: 'P', resources: [cond('103735009'), { type: 'Observation', content: { status: 'final', code: { coding: [{ system: SCT, code: '1239391000000103' }] }, effectiveDateTime: '2025-04-01', valueString: 'Home' } }] },
  { key: 'Q', resources: [proc('103735009', '2025-02-01')] },
  { key: 'Q2', resources: [enc('HH', '2025-06-01', { type: [{ coding: [{ system: SCT, code: '103735009' }] }] }, 'csv:community')] }, // a palliative care contact
  { key: 'Q3', resources: [enc('HH', '2024-06-01', { type: [{ coding: [{ system: SCT, code: '103735009' }] }] }, 'csv:community')] }, // over a year ago
  { key: 'R', practice: 'P91002', resources: [cond('44054006')] },
  { key: 'S', restricted: true, resources: [cond('44054006')] },
  { key: 'T', optOut: true, resources: [cond('44054006')] },
  { key: 'U', deceased: true, resources: [cond('44054006')] },
  { key: 'V', resources: [cond('44054006'), proc('408289007', '2024-04-01')] }, // education offered
  { key: 'X', dissent: true, resources: [cond('44054006')] },
  ...[1, 2, 3, 4, 5].map((i) => ({ key: `W${i}`, resources: [cond('44054006')] })),
];

export const idOf = (key: string) => personId(PEOPLE.findIndex((p) => p.key === key) + 1);

/** Writes the crafted people into an empty migrated store. */
export async function loadCraftedStore(db: Queryable): Promise<void> {
  await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('N1', 'North'), ('N2', 'South') ON CONFLICT DO NOTHING`);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood) VALUES ('P91001', 'Stretford Medical Practice', 'N1'), ('P91002', 'Urmston Group Practice', 'N2') ON CONFLICT DO NOTHING`);
  for (const [i, p] of PEOPLE.entries()) await insertCraftedPerson(db, i + 1, p);
}

/** Writes one crafted person (number n gives the person id and NHS number). */
export async function insertCraftedPerson(db: Queryable, n: number, p: CraftedPerson): Promise<void> {
  {
    const i = n - 1;
    const id = personId(n);
    const nhs = String(9000000000 + i + 1);
    const practice = p.practice ?? 'P91001';
    await db.query('INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)', [id, nhs]);
    await db.query(
      `INSERT INTO source_identity (source_system, source_id, person_id, nhs_number, nhs_number_valid, family, given, birth_date, practice, link_method, match_status, shard_key)
       VALUES ($1, $2, $3, $4, true, $5, 'Test', $6, $7, 'nhs-number', 'MATCH', shard_key_of($1, $2))`,
      [`gp:${practice}`, `gp-${p.key}`, id, nhs, `Person${p.key}`, p.birthDate ?? '1970-06-15', practice],
    );
    const resources = [{ type: 'Patient', source: `gp:${practice}`, content: { birthDate: p.birthDate ?? '1970-06-15', ...(p.deceased ? { deceasedBoolean: true } : {}) } }, ...(p.resources ?? [])];
    for (const [j, r] of resources.entries()) {
      const content = { resourceType: r.type, id: `${p.key}-${j}`, subject: { reference: `Patient/gp-${p.key}` }, ...r.content };
      await db.query(
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content, shard_key) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, shard_key_of($1, $5))`,
        [r.source ?? `gp:${practice}`, r.type, `${p.key}-${j}`, id, `gp-${p.key}`, `h-${p.key}-${j}`, JSON.stringify(content)],
      );
    }
    if (p.restricted) await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'test: protected record')`, [id]);
    if (p.optOut) await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [id]);
    if (p.dissent) await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'dissent-sharing')`, [id]);
  }
}
