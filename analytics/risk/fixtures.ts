// Crafted stores for the risk model's database and route tests: people written straight into the
// record's tables, as the feeds would have stored them (see features.ts for what each counts as).
import type { Queryable } from '../../db/database.ts';

export const SCT = 'http://snomed.info/sct';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export type Res = { type: string; source?: string; content: Record<string, unknown> };
export const enc = (cls: string, date: string, extra: Record<string, unknown> = {}, source = 'hl7:RM2'): Res => ({ type: 'Encounter', source, content: { status: 'finished', class: { system: ACT, code: cls }, period: { start: `${date}T10:00:00Z` }, ...extra } });
export const emergency = (date: string, source = 'hl7:RM2', status = 'finished') => ({ ...enc('IMP', date, { priority: { coding: [{ code: 'EM' }] }, status }, source) });
export const outpatient = (date: string) => enc('AMB', date, { serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: 'CAR' }] } });
export const cond = (code: string, onset: string, extra: Record<string, unknown> = {}): Res => ({ type: 'Condition', content: { code: { coding: [{ system: SCT, code }] }, clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: onset, ...extra } });
export const med = (code: string, date: string): Res => ({ type: 'MedicationRequest', content: { status: 'completed', medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code }] }, authoredOn: date } });
export const obs = (code: string, value: number, date: string): Res => ({ type: 'Observation', content: { status: 'final', code: { coding: [{ system: SCT, code }] }, effectiveDateTime: `${date}T09:00:00Z`, valueQuantity: { value } } });

export interface Crafted {
  n: number;
  practice: string;
  birthDate: string;
  sex: string;
  deceased?: string;
  restricted?: boolean;
  optOut?: boolean;
  resources: Res[];
}

/** Writes people straight into the record's tables, many rows per statement. */
export async function load(db: Queryable, people: Crafted[]): Promise<void> {
  await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('N1', 'North'), ('N2', 'South') ON CONFLICT DO NOTHING`);
  await db.query(`INSERT INTO practice (ods_code, name, neighbourhood) VALUES ('P91001', 'Stretford Medical Practice', 'N1'), ('P91002', 'Urmston Group Practice', 'N2') ON CONFLICT DO NOTHING`);
  const rows: unknown[][] = [];
  for (const p of people) {
    const pid = id(p.n);
    await db.query('INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)', [pid, String(9000000000 + p.n)]);
    await db.query(
      `INSERT INTO source_identity (source_system, source_id, person_id, nhs_number, nhs_number_valid, family, given, birth_date, sex, practice, link_method, match_status)
       VALUES ($1, $2, $3, $4, true, $5, 'Test', $6, $7, $8, 'nhs-number', 'MATCH')`,
      [`gp:${p.practice}`, `gp-${p.n}`, pid, String(9000000000 + p.n), `Person${p.n}`, p.birthDate, p.sex, p.practice],
    );
    const all: Res[] = [{ type: 'Patient', source: `gp:${p.practice}`, content: { birthDate: p.birthDate, ...(p.deceased ? { deceasedDateTime: p.deceased } : {}) } }, ...p.resources];
    all.forEach((r, j) => rows.push([r.source ?? `gp:${p.practice}`, r.type, `${p.n}-${j}`, pid, `gp-${p.n}`, `h-${p.n}-${j}`, JSON.stringify({ resourceType: r.type, id: `${p.n}-${j}`, ...r.content })]));
    if (p.restricted) await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'test: protected record')`, [pid]);
    if (p.optOut) await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [pid]);
  }
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const values = chunk.map((_, k) => `($${k * 7 + 1}, $${k * 7 + 2}, $${k * 7 + 3}, $${k * 7 + 4}::uuid, $${k * 7 + 5}, $${k * 7 + 6}, $${k * 7 + 7}::jsonb)`);
    await db.query(`INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content) VALUES ${values.join(', ')}`, chunk.flat());
  }
}

/** 600 people at two practices whose emergency admissions (2022–2025) follow a known logistic risk: age, COPD and last year's admissions raise it. Person 5 is restricted, person 6 has a national data opt-out. */
export function riskPopulation(): Crafted[] {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const people: Crafted[] = [];
  for (let n = 1; n <= 600; n++) {
    const age = 20 + Math.floor(rand() * 75);
    const copd = rand() < 0.15;
    const resources: Res[] = copd ? [cond('13645005', '2015-01-01')] : [];
    let prior = 0;
    for (const year of [2022, 2023, 2024, 2025]) {
      const p = 1 / (1 + Math.exp(-(-4 + 0.045 * (age - 50) + 1.3 * (copd ? 1 : 0) + 0.9 * prior)));
      prior = rand() < p ? 1 : 0;
      if (prior) resources.push(emergency(`${year}-0${1 + Math.floor(rand() * 9)}-15`));
    }
    people.push({ n, practice: n % 2 ? 'P91001' : 'P91002', birthDate: `${2025 - age}-06-15`, sex: rand() < 0.5 ? 'male' : 'female', restricted: n === 5, optOut: n === 6, resources });
  }
  return people;
}
