/**
 * Measures the MPI on a synthetic population of its own (independent of `bevan generate`):
 * identities from four kinds of system with typical recording errors, linked through
 * resolveIdentities in batches, then the matcher, then pairwise precision and recall.
 *
 *   node --import tsx mpi/measure.ts [--people 20000] [--seed 1] [--postgres URL]
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../db/database.ts';
import { openPglite } from '../db/pglite-adapter.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { migrate } from '../db/migrator.ts';
import type { SourceIdentity } from './identity.ts';
import { resolveIdentities } from './link.ts';
import { runMatcher } from './matcher.ts';
import { scoreClusters } from './evaluate.ts';
import { nhsCheckDigit } from './nhs-number.ts';

const { values } = parseArgs({ options: { misses: { type: 'boolean', default: false }, people: { type: 'string', default: '20000' }, seed: { type: 'string', default: '1' }, postgres: { type: 'string' } } });
const PEOPLE = Number(values.people);
let state = Number(values.seed) >>> 0 || 1;
const rnd = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
// Surnames are skewed: a few are very common (as Smith and Jones are).
const pickSkewed = <T>(xs: readonly T[]): T => xs[Math.floor(Math.pow(rnd(), 2.2) * xs.length)]!;
const chance = (p: number) => rnd() < p;

const MALE = 'James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Mark Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron Henry Adam Peter Harold Mohammed Ali Tariq Oliver Harry Alfie Arthur Leo Oscar Ibrahim Kwame Chidi Piotr Tomasz'.split(' ');
const FEMALE = 'Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicola Katherine Christine Samantha Debra Rachel Catherine Carolyn Janet Ruth Maria Heather Diane Olivia Amelia Isla Ava Mia Fatima Aisha Amina Chioma Agnieszka Zofia Joan Gillian'.split(' ');
const SURNAMES = 'Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton OBrien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins ONeill Okafor Mensah Nowak Kowalski Chowdhury Iqbal Howarth Ashworth Kershaw Ogden Schofield'.split(' ');
const NICK: Record<string, string> = { William: 'Bill', Robert: 'Bob', Richard: 'Dick', James: 'Jim', Thomas: 'Tom', Michael: 'Mike', Christopher: 'Chris', Anthony: 'Tony', Joseph: 'Joe', Daniel: 'Danny', Matthew: 'Matt', Steven: 'Steve', Andrew: 'Andy', Benjamin: 'Ben', Samuel: 'Sam', Jonathan: 'Jon', Kenneth: 'Ken', Margaret: 'Maggie', Elizabeth: 'Liz', Patricia: 'Pat', Jennifer: 'Jenny', Katherine: 'Kate', Rebecca: 'Becky', Dorothy: 'Dot', Susan: 'Sue', Deborah: 'Debbie', Kathleen: 'Kath', Gillian: 'Gill', Nicola: 'Nicky' };

interface Person {
  nhs: string;
  family: string;
  previousFamily?: string;
  given: string;
  dob: string;
  sex: 'male' | 'female';
  postcode: string;
  previousPostcode?: string;
}

interface Noise { typo: number; swap: number; wrongNhs: number; missingNhs: number; nickname: number; oldSurname: number; oldAddress: number }
const NOISE: Record<string, Noise> = {
  gp: { typo: 0.003, swap: 0.002, wrongNhs: 0.002, missingNhs: 0.002, nickname: 0, oldSurname: 0, oldAddress: 0 },
  gpDup: { typo: 0.3, swap: 0.1, wrongNhs: 0.1, missingNhs: 0.4, nickname: 0.2, oldSurname: 0.5, oldAddress: 0.5 },
  hospital: { typo: 0.02, swap: 0.01, wrongNhs: 0.005, missingNhs: 0.03, nickname: 0.005, oldSurname: 0.5, oldAddress: 0.5 },
  hospitalDup: { typo: 0.3, swap: 0.1, wrongNhs: 0.05, missingNhs: 0.6, nickname: 0.15, oldSurname: 0.5, oldAddress: 0.4 },
  community: { typo: 0.02, swap: 0.01, wrongNhs: 0.005, missingNhs: 0.05, nickname: 0.03, oldSurname: 0.3, oldAddress: 0.3 },
  socialcare: { typo: 0.03, swap: 0.015, wrongNhs: 0.005, missingNhs: 0.3, nickname: 0.06, oldSurname: 0.3, oldAddress: 0.5 },
};

function postcode(): string {
  return `M${1 + Math.floor(rnd() * 40)} ${Math.floor(rnd() * 10)}${pick([...'ABDEFGHJLNPQRSTUWXYZ'])}${pick([...'ABDEFGHJLNPQRSTUWXYZ'])}`;
}

function typo(w: string): string {
  if (w.length < 3) return w;
  const i = 1 + Math.floor(rnd() * (w.length - 2));
  const r = rnd();
  if (r < 0.4) return w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
  if (r < 0.75) return w.slice(0, i) + w.slice(i + 1);
  return w.slice(0, i) + w[i] + w.slice(i);
}

function nhsNumber(i: number): string {
  for (let n = 400000000 + i * 7; ; n++) {
    const c = nhsCheckDigit(String(n));
    if (c !== null) return String(n) + c;
  }
}

function population(): Person[] {
  const out: Person[] = [];
  const used = new Set<string>();
  for (let i = 0; i < PEOPLE; i++) {
    const sex = chance(0.5) ? 'male' : 'female';
    const day = Math.floor(rnd() * 365 * 90);
    const dob = new Date(Date.UTC(1930, 0, 1) + day * 86400000).toISOString().slice(0, 10);
    let nhs = nhsNumber(i);
    while (used.has(nhs)) nhs = nhsNumber(i + PEOPLE * 3);
    used.add(nhs);
    const p: Person = { nhs, family: pickSkewed(SURNAMES), given: pick(sex === 'male' ? MALE : FEMALE), dob, sex, postcode: postcode() };
    if (sex === 'female' && chance(0.15)) p.previousFamily = pickSkewed(SURNAMES);
    if (chance(0.2)) p.previousPostcode = postcode();
    out.push(p);
  }
  return out;
}

function noisy(p: Person, system: string, id: string, n: Noise): SourceIdentity {
  let family = p.previousFamily && chance(n.oldSurname) ? p.previousFamily : p.family;
  let given = chance(n.nickname) && NICK[p.given] ? NICK[p.given]! : p.given;
  if (chance(n.typo)) {
    if (chance(0.6)) family = typo(family);
    else given = typo(given);
  }
  let dob = p.dob;
  const [y, m, d] = dob.split('-');
  if (Number(d) <= 12 && d !== m && chance(n.swap)) dob = `${y}-${d}-${m}`;
  let nhs: string | undefined = p.nhs;
  if (chance(n.missingNhs)) nhs = undefined;
  else if (chance(n.wrongNhs)) {
    const i = Math.floor(rnd() * 10);
    nhs = nhs.slice(0, i) + String((Number(nhs[i]) + 1 + Math.floor(rnd() * 9)) % 10) + nhs.slice(i + 1);
  }
  const pc = p.previousPostcode && chance(n.oldAddress) ? p.previousPostcode : p.postcode;
  return { system, id, nhsNumber: nhs, family, given, birthDate: dob, sex: p.sex, postcode: pc };
}

async function open(): Promise<Database & { drop(): Promise<void> }> {
  if (!values.postgres) {
    const db = await openPglite(null);
    await migrate(db);
    return Object.assign(db, { drop: () => db.close() });
  }
  const url = values.postgres;
  const schema = `m_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const db = await openPostgres(url, { schema, max: 4 });
  await migrate(db);
  return Object.assign(db, {
    async drop() {
      await db.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  });
}

const people = population();
const identities: SourceIdentity[] = [];
const truth = new Map<string, string>();
people.forEach((p, i) => {
  const add = (kind: string, system: string, id: string) => {
    const ident = noisy(p, system, id, NOISE[kind]!);
    identities.push(ident);
    truth.set(`${system}|${id}`, `T${i}`);
  };
  add('gp', `gp:P${91000 + (i % 30)}`, `g${i}`);
  if (chance(0.03)) add('gpDup', `gp:P${91000 + ((i + 7) % 30)}`, `gd${i}`);
  if (chance(0.5)) add('hospital', 'hl7:RM2', `W${i}`);
  if (chance(0.05)) add('hospitalDup', 'hl7:RM2', `WD${i}`);
  if (chance(0.2)) add('community', 'csv:community', `CL${i}`);
  if (chance(0.12)) add('socialcare', 'csv:socialcare', `SC${i}`);
});
// Feeds arrive interleaved, not person by person.
for (let i = identities.length - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [identities[i], identities[j]] = [identities[j]!, identities[i]!];
}

const db = await open();
try {
  let t0 = performance.now();
  for (let i = 0; i < identities.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, identities.slice(i, i + 500)));
  const firstPass = (performance.now() - t0) / 1000;
  t0 = performance.now();
  for (let i = 0; i < identities.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, identities.slice(i, i + 500)));
  const replay = (performance.now() - t0) / 1000;
  const before = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
  const det = scoreClusters(before.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), truth);
  const m = await runMatcher(db, { log: (s) => console.log(`  ${s}`) });
  const after = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
  const e = scoreClusters(after.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), truth);
  if (values.misses) {
    // A few true persons split across Bevan persons, to see what the matcher could not join.
    const byTrue = new Map<string, { key: string; person: string }[]>();
    for (const r of after.rows) {
      const t = truth.get(`${r.source_system}|${r.source_id}`)!;
      if (!byTrue.has(t)) byTrue.set(t, []);
      byTrue.get(t)!.push({ key: `${r.source_system}|${r.source_id}`, person: r.person_id });
    }
    const byKey = new Map(identities.map((i) => [`${i.system}|${i.id}`, i]));
    const status = new Map((await db.query<{ k: string; s: string }>("SELECT source_system || '|' || source_id AS k, match_status || '/' || link_method AS s FROM source_identity")).rows.map((r) => [r.k, r.s]));
    let shown = 0;
    for (const members of byTrue.values()) {
      if (new Set(members.map((m) => m.person)).size < 2 || shown++ >= 12) continue;
      console.log('--');
      for (const m of members) {
        const i = byKey.get(m.key)!;
        console.log(`  ${m.person.slice(0, 8)} ${m.key.padEnd(22)} ${(i.nhsNumber ?? '').padEnd(10)} ${`${i.given} ${i.family}`.padEnd(22)} ${i.birthDate} ${i.sex} ${i.postcode} ${status.get(m.key)}`);
      }
    }
  }
  console.log(JSON.stringify({
    database: db.kind,
    people: PEOPLE,
    identities: identities.length,
    resolvePerSecond: Math.round(identities.length / firstPass),
    replayPerSecond: Math.round(identities.length / replay),
    nhsOnly: { precision: det.precision, recall: det.recall },
    matcher: m,
    final: { precision: e.precision, recall: e.recall, falsePositives: e.falsePositives, falseNegatives: e.falseNegatives },
  }, null, 1));
} finally {
  await db.drop();
}
