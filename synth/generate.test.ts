import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import conditionData from './codes/conditions.json' with { type: 'json' };
import { generateLocality, type GenerateSummary } from './generate.ts';
import { isValidNhsNumber } from './nhs-number.ts';
import { ASSESSMENT_COLUMNS, COMMUNITY_COLUMNS, PACKAGE_COLUMNS } from './csv.ts';
import { MENTAL_HEALTH_CONTACT_COLUMNS } from './mental-health.ts';
import mhContract from '../ingest/csv/contracts/mentalhealth-contact.json' with { type: 'json' };

const root = mkdtempSync(join(tmpdir(), 'bevan-synth-'));
const big = join(root, 'big');
let summary: GenerateSummary;

interface Truth {
  personId: string;
  nhsNumber: string;
  practice: string;
  sources: { system: string; id: string }[];
  admissionProbability: Record<string, number>;
  emergencyAdmissions: Record<string, number>;
  deathDate?: string;
}
let truth: Truth[] = [];
let bundles: { file: string; bundle: Bundle }[] = [];

const files = (dir: string, sub = ''): string[] =>
  readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(dir, join(sub, e.name)) : [join(sub, e.name)])).sort();
const hl7Messages = (dir: string) =>
  files(dir)
    .filter((f) => f.endsWith('.hl7'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\r\n').filter(Boolean).map((text) => ({ file: f, segments: text.split('\r').map((s) => s.split('|')) })));

before(async () => {
  summary = await generateLocality({ people: 3000, seed: 11, out: big, until: '2025-12-31' });
  truth = readFileSync(join(big, 'truth/persons.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Truth);
  bundles = files(big, 'gp').flatMap((f) =>
    readFileSync(join(big, f), 'utf8').trim().split('\n').map((l) => ({ file: f.slice(3), bundle: JSON.parse(l) as Bundle })),
  );
});

after(() => rmSync(root, { recursive: true, force: true }));

test('same seed gives byte-identical output; another seed does not', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  const c = join(root, 'c');
  await generateLocality({ people: 150, seed: 5, out: a, until: '2025-12-31' });
  await generateLocality({ people: 150, seed: 5, out: b, until: '2025-12-31' });
  await generateLocality({ people: 150, seed: 6, out: c, until: '2025-12-31' });
  const list = files(a);
  assert.deepEqual(files(b), list);
  for (const f of list) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs between identical runs`);
  assert.notEqual(readFileSync(join(c, 'truth/persons.ndjson'), 'utf8'), readFileSync(join(a, 'truth/persons.ndjson'), 'utf8'));
  // A rerun into the same folder replaces the earlier output; an unrelated folder is refused.
  await generateLocality({ people: 150, seed: 6, out: a, until: '2025-12-31' });
  assert.equal(readFileSync(join(a, 'truth/persons.ndjson'), 'utf8'), readFileSync(join(c, 'truth/persons.ndjson'), 'utf8'));
  await assert.rejects(generateLocality({ people: 10, seed: 1, out: join(root, '..') }), /not empty/);
});

test('the output is the same whatever the number of generator threads (shards written in order)', async () => {
  // 1,100 people: three shards of people (residents.ts SHARD_SIZE), the last a short one.
  const dirs = [0, 1, 2].map((w) => join(root, `threads-${w}`));
  for (const [w, dir] of dirs.entries()) await generateLocality({ people: 1100, seed: 5, out: dir, until: '2025-12-31', workers: w });
  const list = files(dirs[0]!);
  assert.ok(list.includes('hospital/mllp/messages.hl7') && !list.some((f) => f.includes('.spool-')));
  for (const dir of dirs.slice(1)) {
    assert.deepEqual(files(dir), list);
    for (const f of list) assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(dirs[0]!, f))), `${f} differs with another number of threads`);
  }
  // MSH-10 is unique across every shard and file (each shard numbers from its own block).
  const ids = hl7Messages(dirs[0]!).map((m) => m.segments[0]![9]!);
  assert.equal(new Set(ids).size, ids.length);
  const truthLines = readFileSync(join(dirs[0]!, 'truth/persons.ndjson'), 'utf8').trim().split('\n');
  assert.equal(truthLines.length, 1100);
});

test('the folder has the layout of docs/feeds.md', () => {
  const list = files(big);
  for (const f of ['locality.json', 'community/contacts.csv', 'mentalhealth/contacts.csv', 'socialcare/assessments.csv', 'socialcare/packages.csv', 'truth/persons.ndjson', 'truth/summary.json', 'hospital/mllp/messages.hl7']) assert.ok(list.includes(f), f);
  assert.ok(list.some((f) => /^mentalhealth\/adt-\d{4}\.hl7$/.test(f)));
  for (const y of ['2021', '2022', '2023', '2024', '2025']) {
    assert.ok(list.includes(`hospital/adt-${y}.hl7`));
    assert.ok(list.includes(`hospital/oru-${y}.hl7`));
  }
  const locality = JSON.parse(readFileSync(join(big, 'locality.json'), 'utf8'));
  assert.ok(locality.practices.length >= 28 && locality.practices.length <= 32);
  assert.deepEqual(locality.neighbourhoods.map((n: { key: string }) => n.key).sort(), ['central', 'north', 'south', 'west']);
  for (const p of locality.practices) {
    assert.match(p.ods, /^P91\d{3}$/);
    assert.ok(list.includes(`gp/${p.ods}.ndjson`));
  }
});

test('truth: one line per person, valid unique NHS numbers, probabilities for each year', () => {
  assert.equal(truth.length, 3000);
  assert.equal(new Set(truth.map((t) => t.nhsNumber)).size, 3000);
  for (const t of truth) {
    assert.ok(isValidNhsNumber(t.nhsNumber) && t.nhsNumber.startsWith('999'));
    assert.match(t.personId, /^person-\d{7}$/);
    assert.match(t.practice, /^P91\d{3}$/);
    assert.ok(t.sources.some((s) => s.system === `gp:${t.practice}`));
    for (const s of t.sources) assert.match(s.system, /^(gp:P91\d{3}|hl7:[A-Z0-9]+|csv:community|csv:socialcare|csv:mentalhealth)$/);
    const years = Object.keys(t.admissionProbability);
    assert.ok(years.length <= 5); // none for a baby born in the last year
    for (const y of years) {
      assert.match(y, /^202[1-5]$/);
      const p = t.admissionProbability[y]!;
      assert.ok(p > 0 && p < 1);
    }
  }
  const s = JSON.parse(readFileSync(join(big, 'truth/summary.json'), 'utf8'));
  assert.equal(s.counts.people, 3000);
  assert.equal(summary.counts.people, 3000);
});

test('every FHIR line is a Bundle with one Patient, its practice as source, and resolvable references', () => {
  const types = new Set<string>();
  const gpIds = new Set(truth.flatMap((t) => t.sources.filter((s) => s.system.startsWith('gp:')).map((s) => `${s.system}|${s.id}`)));
  for (const { file, bundle } of bundles) {
    assert.equal(bundle.resourceType, 'Bundle');
    types.add(bundle.type);
    const ods = file.replace('.ndjson', '');
    assert.equal(bundle.meta?.source, `gp:${ods}`);
    const patients = bundle.entry!.filter((e) => e.resource?.resourceType === 'Patient');
    assert.equal(patients.length, 1);
    const patient = patients[0]!.resource as Patient;
    assert.ok(gpIds.has(`gp:${ods}|${patient.id}`), 'GP patient id missing from truth sources');
    assert.equal(patient.generalPractitioner?.[0]?.identifier?.value, ods);
    const nhs = patient.identifier?.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number');
    if (nhs) assert.match(nhs.value!, /^\d{10}$/);
    const known = new Set(bundle.entry!.flatMap((e) => [e.fullUrl, `${e.resource!.resourceType}/${e.resource!.id}`]));
    const refs = JSON.stringify(bundle).match(/"reference":"[^"]+"/g) ?? [];
    for (const r of refs) assert.ok(known.has(r.slice(13, -1)), `${r} does not resolve in its bundle`);
    if (bundle.type !== 'collection') for (const e of bundle.entry!) assert.equal(e.request?.method, 'PUT');
  }
  assert.deepEqual([...types].sort(), ['batch', 'collection', 'transaction']);
  const perPerson = summary.counts.fhirResources! / truth.length;
  assert.ok(perPerson >= 20 && perPerson <= 70, `resources per person ${perPerson}`);
});

test('every HL7 message parses into segments with MSH first; control ids are unique; MRNs are in the truth', () => {
  const messages = hl7Messages(big);
  assert.ok(messages.length > 1000);
  const controlIds = new Set<string>();
  const mrns = new Set(truth.flatMap((t) => t.sources.filter((s) => s.system.startsWith('hl7:')).map((s) => `${s.system}|${s.id}`)));
  const triggers = new Set<string>();
  const sent = new Set<string>(); // identities that some message carries in PID-3
  for (const m of messages) {
    const msh = m.segments[0]!;
    assert.equal(msh[0], 'MSH');
    assert.equal(msh[1], '^~\\&');
    assert.equal(msh[11], '2.4');
    for (const s of m.segments) assert.match(s[0]!, /^[A-Z][A-Z0-9]{2}$/);
    assert.ok(!controlIds.has(msh[9]!), `duplicate MSH-10 ${msh[9]}`);
    controlIds.add(msh[9]!);
    triggers.add(msh[8]!.split('^').slice(0, 2).join('^'));
    const pid = m.segments.find((s) => s[0] === 'PID')!;
    const reps = pid[3]!.split('~').map((r) => r.split('^'));
    const mr = reps.find((r) => r[4] === 'MR')!;
    assert.equal(mr[3], msh[3]);
    assert.ok(mrns.has(`hl7:${msh[3]}|${mr[0]}`), `MRN ${mr[0]} missing from truth`);
    sent.add(`hl7:${msh[3]}|${mr[0]}`);
    const nh = reps.find((r) => r[4] === 'NH');
    if (nh) assert.equal(nh[3], 'NHS');
    if (m.file.startsWith('hospital/adt-')) assert.equal(m.file.slice(13, 17), msh[6]!.slice(0, 4));
  }
  for (const k of mrns) assert.ok(sent.has(k), `truth names ${k}, which no message carries`);
  for (const t of ['ADT^A01', 'ADT^A02', 'ADT^A03', 'ADT^A04', 'ADT^A08', 'ADT^A11', 'ADT^A13', 'ADT^A40', 'ORU^R01']) assert.ok(triggers.has(t), `no ${t}`);
  // The MLLP folder holds the last 30 days, in time order.
  const recent = messages.filter((m) => m.file.startsWith('hospital/mllp/')).map((m) => m.segments[0]![6]!);
  assert.ok(recent.length > 0 && recent.every((t) => t >= '20251202'));
  assert.deepEqual([...recent].sort(), recent);
});

test('CSV headers match the contract exactly', () => {
  const header = (f: string) => readFileSync(join(big, f), 'utf8').split('\r\n')[0]!.split(',');
  assert.deepEqual(header('community/contacts.csv'), [...COMMUNITY_COLUMNS]);
  assert.deepEqual(header('socialcare/assessments.csv'), [...ASSESSMENT_COLUMNS]);
  assert.deepEqual(header('socialcare/packages.csv'), [...PACKAGE_COLUMNS]);
  assert.deepEqual(header('mentalhealth/contacts.csv'), [...MENTAL_HEALTH_CONTACT_COLUMNS]);
  // The generator writes exactly what the CSV adapter's contract expects.
  assert.deepEqual(header('mentalhealth/contacts.csv').sort(), mhContract.columns.map((c: { name: string }) => c.name).sort());
  const contacts = readFileSync(join(big, 'community/contacts.csv'), 'utf8').trim().split('\r\n').slice(1);
  assert.ok(contacts.length > 100);
  const missingNhs = readFileSync(join(big, 'socialcare/assessments.csv'), 'utf8').trim().split('\r\n').slice(1).filter((l) => l.split(',')[2] === '').length;
  assert.ok(missingNhs > 0, 'social care should lack some NHS numbers');
});

test('long-term condition prevalence is roughly right', () => {
  const codes: Record<string, string[]> = {};
  const sub = conditionData.subtypes as Record<string, unknown>;
  for (const c of conditionData.conditions) {
    const s = sub[c.key];
    codes[c.key] = [c.code, ...(Array.isArray(s) ? s.map((x: { code: string }) => x.code) : s ? [(s as { code: string }).code] : [])];
  }
  const primary = new Set(truth.map((t) => t.sources[0]!.id));
  let adults = 0;
  let all = 0;
  const counts: Record<string, number> = {};
  for (const { bundle } of bundles) {
    const patient = bundle.entry![0]!.resource as Patient;
    if (!primary.has(patient.id!) || patient.deceasedDateTime) continue;
    all++;
    const adult = Number(patient.birthDate!.slice(0, 4)) <= 2007;
    if (adult) adults++;
    const present = new Set(bundle.entry!.filter((e) => e.resource!.resourceType === 'Condition' || e.resource!.resourceType === 'Procedure').map((e) => (e.resource as { code: { coding: { code: string }[] } }).code.coding[0]!.code));
    for (const [key, list] of Object.entries(codes)) if (list.some((c) => present.has(c))) counts[key] = (counts[key] ?? 0) + 1;
  }
  for (const c of conditionData.conditions) {
    if (c.key === 'palliative') continue; // most people on the register die within the year: not held to a point prevalence
    const n = c.denominator === 'adult' ? adults : all;
    const observed = (counts[c.key] ?? 0) / n;
    const se = Math.sqrt((c.prevalence * (1 - c.prevalence)) / n);
    assert.ok(Math.abs(observed - c.prevalence) <= Math.max(0.3 * c.prevalence, 3.5 * se), `${c.key}: ${(observed * 100).toFixed(2)}% vs ${c.prevalence * 100}%`);
  }
});

test('emergency admissions follow the true probabilities and rise with age', () => {
  // Observed: A01 with PV1-4 EM, minus admissions cancelled by A11, mapped to people through the truth.
  const owner = new Map<string, number>();
  truth.forEach((t, i) => t.sources.forEach((s) => owner.set(`${s.system}|${s.id}`, i)));
  const cancelled = new Set<string>();
  const admits: { person: number; visit: string; year: string }[] = [];
  for (const m of hl7Messages(big)) {
    const msh = m.segments[0]!;
    const trigger = msh[8]!.split('^')[1];
    if (trigger !== 'A01' && trigger !== 'A11') continue;
    const pv1 = m.segments.find((s) => s[0] === 'PV1')!;
    if (trigger === 'A11') {
      cancelled.add(pv1[19]!);
      continue;
    }
    if (pv1[4] !== 'EM') continue;
    const mrn = m.segments.find((s) => s[0] === 'PID')![3]!.split('~')[0]!.split('^')[0]!;
    admits.push({ person: owner.get(`hl7:${msh[3]}|${mrn}`)!, visit: pv1[19]!, year: pv1[44]!.slice(0, 4) });
  }
  const admitted = new Set(admits.filter((a) => !cancelled.has(a.visit)).map((a) => `${a.person}|${a.year}`));
  const rows = truth.flatMap((t, i) => Object.entries(t.admissionProbability).map(([y, p]) => ({ p, y: admitted.has(`${i}|${y}`) ? 1 : 0 })));
  const expected = rows.reduce((s, r) => s + r.p, 0);
  const observed = rows.reduce((s, r) => s + r.y, 0);
  assert.ok(Math.abs(observed - expected) < 0.12 * expected, `observed ${observed}, expected ${expected.toFixed(0)}`);
  rows.sort((a, b) => a.p - b.p);
  const fifth = Math.floor(rows.length / 5);
  const rate = (xs: typeof rows) => xs.reduce((s, r) => s + r.y, 0) / xs.length;
  const low = rate(rows.slice(0, fifth));
  const high = rate(rows.slice(-fifth));
  assert.ok(high > 4 * low, `top fifth ${high.toFixed(3)} vs bottom fifth ${low.toFixed(3)}`);

  // Mean true probability by age band, ages from the GP record.
  const birthYear = new Map<string, number>();
  for (const { bundle } of bundles) {
    const p = bundle.entry![0]!.resource as Patient;
    birthYear.set(p.id!, Number(p.birthDate!.slice(0, 4)));
  }
  const band = (lo: number, hi: number) => {
    const ps = truth.filter((t) => {
      const age = 2021 - birthYear.get(t.sources[0]!.id)!;
      return age >= lo && age < hi;
    }).map((t) => t.admissionProbability['2021'] ?? 0);
    return ps.reduce((a, b) => a + b, 0) / ps.length;
  };
  assert.ok(band(20, 40) < band(50, 70) && band(50, 70) < band(80, 120));
});

test('coherence in the output: services fit sex and age, ranges fit age and sex, eGFR only for adults, nothing after death, deaths recorded everywhere', () => {
  const messages = hl7Messages(big);
  const owner = new Map<string, Truth>();
  for (const t of truth) for (const s of t.sources) owner.set(`${s.system}|${s.id}`, t);
  const deathsSeen = new Set<string>();
  let maleGynae = 0;
  let childAdultService = 0;
  let childEgfr = 0;
  let maleHbRange = 0;
  let adultHbRanges = new Set<string>();
  for (const m of messages) {
    const msh = m.segments[0]!;
    const pid = m.segments.find((s) => s[0] === 'PID')!;
    const sex = pid[8];
    const dob = pid[7]!;
    const mrn = pid[3]!.split('~')[0]!.split('^')[0]!;
    if (pid[29]) deathsSeen.add(`hl7:${msh[3]}|${mrn}|${pid[29].slice(0, 8)}`);
    const pv1 = m.segments.find((s) => s[0] === 'PV1');
    const ageAt = (ts: string) => Number(ts.slice(0, 4)) - Number(dob.slice(0, 4)) - (ts.slice(4, 8) < dob.slice(4, 8) ? 1 : 0);
    if (pv1) {
      if (sex === 'M' && (pv1[10] === 'GYN' || pv1[10] === 'OBS')) maleGynae++;
      if (pv1[44] && ageAt(pv1[44]) < 16 && ['GMED', 'GER', 'GYN', 'URO', 'ONC', 'MHA', 'MHO', 'LDS'].includes(pv1[10]!)) childAdultService++;
    }
    for (const obx of m.segments.filter((s) => s[0] === 'OBX')) {
      const when = obx[14]!;
      if (obx[3]!.startsWith('80274001') && ageAt(when) < 18) childEgfr++;
      if (obx[3]!.startsWith('1022431000000105') && ageAt(when) >= 18) {
        adultHbRanges.add(`${sex}:${obx[7]}`);
        if (sex === 'M' && obx[7] !== '130-180') maleHbRange++;
      }
    }
  }
  assert.equal(maleGynae, 0, 'gynaecology or obstetrics for a male');
  assert.equal(childAdultService, 0, 'a child in an adult-only service');
  assert.equal(childEgfr, 0, 'eGFR reported under 18');
  assert.equal(maleHbRange, 0, 'adult male haemoglobin with another range');
  assert.ok(adultHbRanges.has('F:115-165') && adultHbRanges.has('M:130-180'));

  // GP records: the death date, and nothing dated after it.
  const patientDeath = new Map<string, string>();
  for (const { bundle } of bundles) {
    const patient = bundle.entry![0]!.resource as Patient;
    if (!patient.deceasedDateTime) continue;
    patientDeath.set(patient.id!, patient.deceasedDateTime);
    const death = patient.deceasedDateTime.slice(0, 10);
    for (const e of bundle.entry!) {
      const r = e.resource as unknown as Record<string, unknown>;
      const when = (r.onsetDateTime ?? r.effectiveDateTime ?? r.authoredOn ?? r.occurrenceDateTime ?? r.performedDateTime ?? (r.period as { start?: string } | undefined)?.start ?? (r.effectivePeriod as { start?: string } | undefined)?.start) as string | undefined;
      if (when) assert.ok(when.slice(0, 10) <= death, `${r.resourceType} on ${when} after death on ${death}`);
    }
  }
  const socialCare = readFileSync(join(big, 'socialcare/assessments.csv'), 'utf8').split('\r\n');
  const dead = truth.filter((t) => t.deathDate);
  assert.ok(dead.length > 30);
  for (const t of dead) {
    for (const s of t.sources) {
      if (s.system.startsWith('gp:')) assert.equal(patientDeath.get(s.id)?.slice(0, 10), t.deathDate, `GP record of ${t.personId} lacks the death`);
      // A duplicate hospital number never merged stays a second patient to the PAS: one of them hears.
      if (s.system.startsWith('hl7:')) assert.ok(t.sources.some((o) => o.system === s.system && deathsSeen.has(`${o.system}|${o.id}|${t.deathDate!.replace(/-/g, '')}`)), `${s.system} never hears of ${t.personId}'s death`);
      if (s.system === 'csv:socialcare') assert.ok(socialCare.some((l) => l.startsWith(`${s.id}-A`) && l.includes(`,${t.deathDate},Case closure,Died,`)), `social care never closes ${t.personId}'s case`);
    }
  }
});

test('childhood immunisations go to the GP record as FHIR Immunization on the UK schedule', () => {
  const doses = bundles.flatMap(({ bundle }) => bundle.entry!.filter((e) => e.resource!.resourceType === 'Immunization').map((e) => e.resource as unknown as { vaccineCode: { coding: { display: string }[] }; protocolApplied?: { doseNumberPositiveInt: number }[] }));
  const mmr = doses.filter((d) => d.vaccineCode.coding[0]!.display.startsWith('Measles'));
  assert.ok(mmr.length > 50, `only ${mmr.length} MMR doses`);
  assert.ok(mmr.every((d) => d.protocolApplied?.[0]?.doseNumberPositiveInt === 1 || d.protocolApplied?.[0]?.doseNumberPositiveInt === 2));
});
