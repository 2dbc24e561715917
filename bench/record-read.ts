/**
 * Integrated record read time: find the person by NHS number, load their identities, resources
 * and practices, build the record, and render it (text and FHIR Bundle).
 *   node --import tsx bench/record-read.ts [--people 2000] [--reads 300] [--db pglite,postgres]
 * Inserts N synthetic people (item counts from 20 to ~400, a tenth with about 200) across GP,
 * hospital, community and social care, then prints p50/p95 per phase (half the reads are of ~200-item records). PostgreSQL runs when
 * DATABASE_URL or BEVAN_TEST_DATABASE_URL is set (or --db postgres with a server on 127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Resource } from '@medplum/fhirtypes';
import type { Database } from '../db/database.ts';
import { nhsCheckDigit } from '../mpi/nhs-number.ts';
import { buildIntegratedRecord, toFhirBundle } from '../record/integrated-record.ts';
import { readPersonRecordRows } from '../record/record-store.ts';
import { renderRecordText } from '../record/render-text.ts';
import { freshDatabase } from './util.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const PEOPLE = Number(arg('people', '2000'));
const READS = Number(arg('reads', '300'));
const PG_URL = process.env.DATABASE_URL ?? process.env.BEVAN_TEST_DATABASE_URL;
const kinds = arg('db', PG_URL ? 'pglite,postgres' : 'pglite').split(',') as ('pglite' | 'postgres')[];

// A small deterministic generator, so runs are comparable.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;

function nhsNumber(i: number): string {
  for (let base = 100_000_000 + i * 7; ; base++) {
    const nine = String(base).slice(0, 9);
    const check = nhsCheckDigit(nine);
    if (check !== null) return nine + check;
  }
}

const PRACTICES = ['P91001', 'P91002', 'P91003', 'P91004'];
const day = (daysAgo: number) => new Date(Date.UTC(2025, 9, 1) - daysAgo * 86_400_000).toISOString();

/** One synthetic item of a realistic kind, from the source that would send it. */
function item(gp: string, n: number): { system: string; subject: string; resource: Resource } {
  const r = rand();
  const when = day(Math.floor(rand() * 3650));
  const sct = (code: string, display: string) => ({ coding: [{ system: 'http://snomed.info/sct', code, display }] });
  if (r < 0.1) return { system: gp, subject: 'p', resource: { resourceType: 'Condition', id: `c${n}`, subject: { reference: 'Patient/p' }, code: sct(String(1000 + Math.floor(rand() * 40)), 'Some condition'), clinicalStatus: { coding: [{ code: pick(['active', 'resolved']) }] }, onsetDateTime: when.slice(0, 10) } };
  if (r < 0.2) return { system: gp, subject: 'p', resource: { resourceType: 'MedicationStatement', id: `m${n}`, subject: { reference: 'Patient/p' }, status: pick(['active', 'completed', 'stopped'] as const), medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code: String(300 + Math.floor(rand() * 30)), display: 'A medicine 10mg tablets' }] }, effectiveDateTime: when, dosage: [{ text: 'One daily' }] } };
  if (r < 0.25) return { system: gp, subject: 'p', resource: { resourceType: 'MedicationRequest', id: `mr${n}`, subject: { reference: 'Patient/p' }, intent: 'order', status: pick(['active', 'completed'] as const), medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code: String(300 + Math.floor(rand() * 30)), display: 'A medicine 10mg tablets' }] }, authoredOn: when, dosageInstruction: [{ text: 'One daily' }] } };
  if (r < 0.28) return { system: gp, subject: 'p', resource: { resourceType: 'AllergyIntolerance', id: `a${n}`, patient: { reference: 'Patient/p' }, code: sct(String(2000 + Math.floor(rand() * 5)), 'An allergen'), clinicalStatus: { coding: [{ code: 'active' }] }, recordedDate: when } };
  if (r < 0.6) return { system: gp, subject: 'p', resource: { resourceType: 'Observation', id: `o${n}`, status: 'final', subject: { reference: 'Patient/p' }, code: sct(String(3000 + Math.floor(rand() * 25)), 'A measurement'), valueQuantity: { value: Math.round(rand() * 1000) / 10, unit: 'mmol/L' }, effectiveDateTime: when } };
  if (r < 0.72) return { system: 'hl7:RM2', subject: 'MRN', resource: { resourceType: 'Observation', id: `F${n}-1`, status: 'final', subject: { reference: 'Patient/MRN' }, code: sct(String(4000 + Math.floor(rand() * 25)), 'A lab result'), valueQuantity: { value: Math.round(rand() * 1000) / 10, unit: 'g/L' }, interpretation: [{ coding: [{ code: pick(['N', 'H', 'L']) }] }], effectiveDateTime: when } };
  if (r < 0.76) return { system: 'hl7:RM2', subject: 'MRN', resource: { resourceType: 'DiagnosticReport', id: `F${n}`, status: 'final', subject: { reference: 'Patient/MRN' }, code: { text: 'Full blood count' }, effectiveDateTime: when, result: [{ reference: `Observation/F${n}-1` }] } };
  if (r < 0.84) return { system: gp, subject: 'p', resource: { resourceType: 'Encounter', id: `e${n}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p' }, type: [{ text: 'GP consultation' }], period: { start: when } } };
  if (r < 0.88) return { system: 'hl7:RM2', subject: 'MRN', resource: { resourceType: 'Encounter', id: `V${n}`, status: 'finished', class: { code: pick(['IMP', 'EMER']) }, priority: { coding: [{ code: pick(['EM', 'EL']) }] }, subject: { reference: 'Patient/MRN' }, period: { start: when, end: day(Math.max(0, Math.floor(rand() * 3650) - 5)) } } };
  if (r < 0.95) return { system: 'csv:community', subject: 'C', resource: { resourceType: 'Encounter', id: `CC${n}`, status: 'finished', class: { code: 'HH' }, subject: { reference: 'Patient/C' }, serviceType: { text: 'District nursing' }, length: { value: 30, unit: 'min' }, period: { start: when.slice(0, 10) } } };
  if (r < 0.98) return { system: 'csv:socialcare', subject: 'S', resource: { resourceType: 'Procedure', id: `AS${n}`, status: 'completed', subject: { reference: 'Patient/S' }, code: sct('710916004', 'Care Act assessment'), performedDateTime: when.slice(0, 10) } };
  return { system: 'csv:socialcare', subject: 'S', resource: { resourceType: 'EpisodeOfCare', id: `PK${n}`, status: 'active', patient: { reference: 'Patient/S' }, type: [{ text: 'Home care' }], period: { start: when.slice(0, 10) }, extension: [{ url: 'https://bevan.example/fhir/StructureDefinition/weekly-cost', valueMoney: { value: 200, currency: 'GBP' } }] } };
}

interface Seeded {
  nhs: string;
  items: number;
}

async function seedPeople(db: Database): Promise<Seeded[]> {
  seed = 42;
  await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('N1', 'Sale') ON CONFLICT DO NOTHING`);
  for (const ods of PRACTICES) await db.query(`INSERT INTO practice (ods_code, name, neighbourhood) VALUES ($1, $2, 'N1') ON CONFLICT DO NOTHING`, [ods, `Practice ${ods}`]);
  const people: Seeded[] = [];
  let batch: unknown[][] = Array.from({ length: 7 }, () => []);
  const flush = async () => {
    if (!batch[0]!.length) return;
    await db.query(
      `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content, shard_key)
       SELECT s, t, i, p::uuid, sub, h, c::jsonb, shard_key_of(s, COALESCE(sub, t || '/' || i)) FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS x(s, t, i, p, sub, h, c)`,
      batch,
    );
    batch = Array.from({ length: 7 }, () => []);
  };
  for (let i = 0; i < PEOPLE; i++) {
    const personId = randomUUID();
    const nhs = nhsNumber(i);
    // Most people have a modest record; one in ten has about 200 items; a few have many more.
    const items = i % 10 === 0 ? 200 : i % 97 === 0 ? 400 : 20 + Math.floor(rand() * 100);
    const gp = `gp:${PRACTICES[i % PRACTICES.length]}`;
    const local = (s: string) => `${s}-${i}`;
    await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [personId, nhs]);
    for (const [system, id] of [[gp, local('p')], ['hl7:RM2', local('MRN')], ['csv:community', local('C')], ['csv:socialcare', local('S')]] as const) {
      await db.query(
        `INSERT INTO source_identity (source_system, source_id, person_id, nhs_number, nhs_number_valid, family, given, birth_date, sex, postcode, practice, link_method, match_status, shard_key)
         VALUES ($1, $2, $3, $4, true, 'Synthetic', 'Person', '1950-01-01', 'female', 'M33 2AB', $5, 'nhs-number', 'MATCH', shard_key_of($1, $2))`,
        [system, id, personId, nhs, gp.slice(3)],
      );
    }
    for (let n = 0; n < items; n++) {
      const { system, subject, resource } = item(gp, n);
      const json = JSON.stringify(resource).replaceAll(`Patient/${subject}"`, `Patient/${local(subject)}"`);
      const cols = [system, resource.resourceType, `${resource.id}-${i}`, personId, local(subject), `h${i}-${n}`, json];
      cols.forEach((v, k) => batch[k]!.push(v));
    }
    if (batch[0]!.length >= 2000) await flush();
    people.push({ nhs, items });
  }
  await flush();
  await db.exec('ANALYZE');
  return people;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const open = freshDatabase;

for (const kind of kinds) {
  const db = await open(kind);
  try {
    const t0 = performance.now();
    const people = await seedPeople(db);
    const total = people.reduce((s, p) => s + p.items, 0);
    console.log(`${kind}: ${people.length} people, ${total} items inserted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const groups: Record<string, { load: number[]; build: number[]; render: number[]; items: number[] }> = {};
    // Warm up the connection and the JIT.
    for (const p of people.slice(0, 10)) await readPersonRecordRows(db, { nhsNumber: p.nhs });
    const heavy = people.filter((p) => p.items === 200);
    for (let k = 0; k < READS; k++) {
      // Half the reads are of ~200-item records, the case the target is set for.
      const p = k % 2 ? heavy[Math.floor(rand() * heavy.length)]! : people[Math.floor(rand() * people.length)]!;
      const group = p.items >= 400 ? '~400 items' : p.items === 200 ? '~200 items' : '20-120 items';
      const g = (groups[group] ??= { load: [], build: [], render: [], items: [] });
      const a = performance.now();
      const rows = (await readPersonRecordRows(db, { nhsNumber: p.nhs }))!;
      const b = performance.now();
      const record = buildIntegratedRecord(rows.person, rows.identities, rows.rows, rows.practices);
      const c = performance.now();
      renderRecordText(record);
      JSON.stringify(toFhirBundle(record, rows.rows));
      const d = performance.now();
      g.load.push(b - a);
      g.build.push(c - b);
      g.render.push(d - c);
      g.items.push(rows.rows.length);
    }
    for (const [group, g] of Object.entries(groups).sort()) {
      const f = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1).padStart(6)} ms  p95 ${percentile(xs, 95).toFixed(1).padStart(6)} ms`;
      const sum = g.load.map((x, i) => x + g.build[i]!);
      console.log(`${kind.padEnd(8)} ${group.padEnd(13)} n=${String(g.load.length).padStart(4)}  load ${f(g.load)} | build ${f(g.build)} | load+build ${f(sum)} | text+FHIR ${f(g.render)}`);
    }
  } finally {
    await db.drop();
  }
}
