/**
 * `generateLocality`: writes a synthetic locality in each source system's own format, person by
 * person, streaming to files (docs/feeds.md, "Folder written by bevan generate"), plus the
 * ground truth. Deterministic: the same seed, size and end date give byte-identical files.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ASSESSMENT_COLUMNS, COMMUNITY_COLUMNS, PACKAGE_COLUMNS, assessmentRows, communityRows, csvLine, packageRows } from './csv.ts';
import { isoDate, isoInstant, ymd } from './dates.ts';
import { gpBundle } from './fhir.ts';
import { Hl7Counters, hospitalMessages, type FacilityIdentities, type Hl7Message } from './hl7.ts';
import { NOISE, communityClientId, hospitalNumber, noisyDemographics, socialCarePersonId } from './identity.ts';
import { buildLocality } from './locality.ts';
import { NhsNumberAllocator } from './nhs-number.ts';
import { OutputFile } from './output.ts';
import { MENTAL_HEALTH_CONTACT_COLUMNS, mentalHealthClientId, mentalHealthContactRows, MENTAL_HEALTH_NOISE } from './mental-health.ts';
import { MENTAL_HEALTH_TRUST, simulationWindow } from './population.ts';
import { Random } from './random.ts';
import { residents } from './residents.ts';

export interface GenerateOptions {
  people: number;
  seed: number;
  out: string;
  /** Last simulated day, ISO (`bevan generate --until`); default today (UTC). Same seed, size and end date: same output. */
  until?: string;
  /** Older name of `until`. */
  end?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface GenerateSummary {
  people: number;
  seed: number;
  start: string;
  end: string;
  counts: Record<string, number>;
  /** Bytes per file, by path relative to the output folder. */
  files: Record<string, number>;
  seconds: number;
}

/** Days before the end whose hospital messages go to hospital/mllp/ instead of the yearly files. */
const MLLP_DAYS = 30;
/** Files and folders this generator owns inside the output folder (removed before a rerun). */
const OWNED = ['locality.json', 'gp', 'hospital', 'mentalhealth', 'community', 'socialcare', 'truth'];

/** Generates the locality into `opts.out` and returns counts, file sizes and elapsed seconds. */
export async function generateLocality(opts: GenerateOptions): Promise<GenerateSummary> {
  const started = process.hrtime.bigint();
  const { people, seed, out } = opts;
  if (!Number.isInteger(people) || people < 1 || people > 800_000) throw new Error(`--people must be a whole number from 1 to 800000 (got ${people})`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`--seed must be a whole number from 0 to 4294967295 (got ${seed})`);
  const window = simulationWindow(opts.until ?? opts.end ?? todayIso());
  const locality = buildLocality();
  await prepareFolder(out);

  await writeFile(
    join(out, 'locality.json'),
    JSON.stringify(
      {
        name: locality.name,
        period: { start: isoDate(window.start), end: isoDate(window.end) },
        neighbourhoods: locality.neighbourhoods.map((n) => ({ key: n.key, name: n.name, postcodeDistricts: n.districts.map((d) => d.district), mainHospital: n.mainHospital })),
        practices: locality.practices.map((p) => ({ ods: p.ods, name: p.name, neighbourhood: p.neighbourhood, postcode: p.postcode })),
        hospitals: locality.hospitals,
      },
      null,
      2,
    ) + '\n',
  );

  const files = new Map<string, OutputFile>();
  const open = async (rel: string, header = '') => {
    let f = files.get(rel);
    if (!f) {
      f = await OutputFile.open(join(out, rel), header);
      files.set(rel, f);
    }
    return f;
  };
  for (const p of locality.practices) await open(`gp/${p.ods}.ndjson`);
  for (const y of new Set(window.years.map((y) => ymd(y.start)[0]).concat(ymd(window.end)[0]))) {
    await open(`hospital/adt-${y}.hl7`);
    await open(`hospital/oru-${y}.hl7`);
  }
  // The trust's ADT files are opened when a message is written (an empty file is not a feed).
  const mentalHealth = await open('mentalhealth/contacts.csv', csvLine(MENTAL_HEALTH_CONTACT_COLUMNS));
  const community = await open('community/contacts.csv', csvLine(COMMUNITY_COLUMNS));
  const assessments = await open('socialcare/assessments.csv', csvLine(ASSESSMENT_COLUMNS));
  const packages = await open('socialcare/packages.csv', csvLine(PACKAGE_COLUMNS));
  const truth = await open('truth/persons.ndjson');

  const counts: Record<string, number> = {};
  const count = (key: string, n = 1) => (counts[key] = (counts[key] ?? 0) + n);
  const nhs = new NhsNumberAllocator(seed);
  const counters = new Hl7Counters();
  const mllpCutoff = window.end - (MLLP_DAYS - 1);
  const mllp: Hl7Message[] = [];
  const extractTime = isoInstant(window.end + 1, 120);
  const progressEvery = Math.max(1, Math.min(1000, Math.ceil(people / 200)));

  for (const { index: i, person, history } of residents(people, seed, window, locality, nhs)) {
    const idRng = new Random(seed, i, 3);
    const fhirRng = new Random(seed, i, 4);
    const hl7Rng = new Random(seed, i, 5);
    const csvRng = new Random(seed, i, 6);
    const sources: { system: string; id: string }[] = [];
    const gpSystem = `gp:${person.practice.ods}`;
    const gpFile = files.get(`gp/${person.practice.ods}.ndjson`)!;

    // GP record (and, now and then, a second registration of the same person at the practice).
    const patientId = idRng.uuid();
    const gp = gpBundle(person, history, { patientId, practice: person.practice, demographics: noisyDemographics(person, idRng, NOISE.gp, window.end), verification: '01', full: true }, fhirRng, extractTime, window.end);
    gpFile.write(JSON.stringify(gp.bundle) + '\n');
    sources.push({ system: gpSystem, id: patientId });
    count('gpBundles');
    count('fhirResources', gp.resources);
    if (idRng.chance(0.005)) {
      const duplicateId = idRng.uuid();
      const dup = gpBundle(person, history, { patientId: duplicateId, practice: person.practice, demographics: noisyDemographics(person, idRng, NOISE.gpDuplicate, window.end), verification: '02', full: false }, fhirRng, extractTime, window.end);
      gpFile.write(JSON.stringify(dup.bundle) + '\n');
      sources.push({ system: gpSystem, id: duplicateId });
      count('gpBundles');
      count('fhirResources', dup.resources);
      count('gpDuplicateRegistrations');
    }

    // Hospital: one identity per facility used, sometimes a duplicate hospital number.
    for (const h of locality.hospitals) {
      const fac = h.facility;
      const episodeDays = [...history.spells.filter((s) => s.facility === fac).map((s) => (s.aeArrival ?? s).day), ...history.attendances.filter((a) => a.facility === fac).map((a) => a.day)];
      const labDays = history.labs.filter((l) => l.hospital && l.facility === fac).map((l) => l.day);
      if (episodeDays.length === 0 && labDays.length === 0) continue;
      const first = Math.min(...episodeDays, ...labDays);
      const ids: FacilityIdentities = { primary: { facility: fac, mrn: hospitalNumber(fac, i, 0, seed), demographics: noisyDemographics(person, idRng, NOISE.hospital, first) } };
      if (episodeDays.length > 0 && idRng.chance(0.015)) {
        ids.duplicate = { facility: fac, mrn: hospitalNumber(fac, i, 1, seed), demographics: noisyDemographics(person, idRng, NOISE.hospitalDuplicate, first) };
        ids.duplicateEpisode = idRng.int(0, episodeDays.length - 1);
        if (idRng.chance(0.7)) ids.mergeAfterDays = idRng.int(1, 60);
        count('hospitalDuplicateNumbers');
      }
      const messages = hospitalMessages(person, history, fac, ids, hl7Rng, counters, window);
      // The truth names an identity only when some message carries it in PID-3: a duplicate
      // number whose episode fell outside the window was never sent, so no system knows it.
      for (const mrn of [ids.primary.mrn, ids.duplicate?.mrn]) {
        if (mrn && messages.some((m) => m.text.includes(`PID|1||${mrn}^^^`))) sources.push({ system: `hl7:${fac}`, id: mrn });
      }
      for (const m of messages) {
        count(m.kind === 'oru' ? 'oruMessages' : `adt${m.trigger}`);
        if (m.trigger === 'A40') count('hospitalMerges');
        if (m.day >= mllpCutoff) {
          mllp.push(m);
          count('mllpMessages');
        } else (await open(`hospital/${m.kind}-${ymd(m.day)[0]}.hl7`)).write(m.text);
      }
    }

    // Mental health trust: inpatient stays from its PAS (HL7 v2 ADT), community contacts as CSV, one client id for both.
    if (history.mentalHealthSpells.length > 0 || history.mentalHealth.length > 0) {
      const clientId = mentalHealthClientId(i, seed);
      const first = Math.min(...history.mentalHealthSpells.map((s) => s.day), ...history.mentalHealth.map((c) => c.day));
      const d = noisyDemographics(person, idRng, MENTAL_HEALTH_NOISE, first);
      if (history.mentalHealthSpells.length > 0) {
        const ids: FacilityIdentities = { primary: { facility: MENTAL_HEALTH_TRUST, mrn: clientId, demographics: d } };
        const messages = hospitalMessages(person, { ...history, spells: history.mentalHealthSpells, attendances: [], labs: [] }, MENTAL_HEALTH_TRUST, ids, hl7Rng, counters, window);
        if (messages.length) sources.push({ system: `hl7:${MENTAL_HEALTH_TRUST}`, id: clientId });
        for (const m of messages) {
          count(`mentalHealthAdt${m.trigger}`);
          (await open(`mentalhealth/adt-${ymd(m.day)[0]}.hl7`)).write(m.text);
        }
        count('mentalHealthAdmissions', history.mentalHealthSpells.length);
      }
      if (history.mentalHealth.length > 0) {
        mentalHealth.write(mentalHealthContactRows(person, clientId, d, history.mentalHealth, csvRng));
        sources.push({ system: 'csv:mentalhealth', id: clientId });
        count('mentalHealthContacts', history.mentalHealth.length);
        count('mentalHealthClients');
      }
    }

    // Community services.
    if (history.community.length > 0) {
      const clientId = communityClientId(i, seed);
      const first = Math.min(...history.community.map((c) => c.day));
      community.write(communityRows(person, clientId, noisyDemographics(person, idRng, NOISE.community, first), history.community, csvRng));
      sources.push({ system: 'csv:community', id: clientId });
      count('communityContacts', history.community.length);
      count('communityClients');
    }

    // Social care.
    if (history.assessments.length > 0 || history.packages.length > 0) {
      const scId = socialCarePersonId(i, seed);
      const first = Math.min(...history.assessments.map((a) => a.day), ...history.packages.map((p) => p.start));
      const d = noisyDemographics(person, idRng, NOISE.socialcare, first);
      assessments.write(assessmentRows(person, scId, d, history.assessments));
      packages.write(packageRows(scId, d, history.packages));
      sources.push({ system: 'csv:socialcare', id: scId });
      count('socialCareAssessments', history.assessments.length);
      count('socialCarePackages', history.packages.length);
      count('socialCareClients');
    }

    // Ground truth.
    const admissionProbability: Record<string, number> = {};
    const emergencyAdmissions: Record<string, number> = {};
    for (const y of history.years) {
      admissionProbability[y.label] = Math.round(y.admissionProbability * 1e6) / 1e6;
      emergencyAdmissions[y.label] = y.emergencyAdmissions;
    }
    truth.write(
      JSON.stringify({
        personId: person.personId,
        nhsNumber: person.nhsNumber,
        practice: person.practice.ods,
        sources,
        admissionProbability,
        emergencyAdmissions,
        ...(history.deathDay !== undefined ? { deathDate: isoDate(history.deathDay) } : {}),
      }) + '\n',
    );
    count('people');
    if (history.deathDay !== undefined) count('deaths');
    for (const s of history.spells) count(s.kind === 'emergency' ? 'emergencyAdmissions' : s.kind === 'elective' ? 'electiveAdmissions' : 'maternityAdmissions');
    count('births', history.births.length);
    count('aeAttendances', history.attendances.filter((a) => a.kind === 'ae').length + history.spells.filter((s) => s.aeArrival).length);
    count('outpatientAppointments', history.attendances.filter((a) => a.kind === 'outpatient').length);

    for (const f of files.values()) if (f.full) await f.flush();
    if ((i + 1) % progressEvery === 0 || i + 1 === people) opts.onProgress?.(i + 1, people);
  }

  // The most recent messages, in time order, for the demo to send over MLLP.
  mllp.sort((a, b) => a.day - b.day || a.minute - b.minute);
  const mllpFile = await open('hospital/mllp/messages.hl7');
  for (const m of mllp) mllpFile.write(m.text);

  const sizes: Record<string, number> = { 'locality.json': 0 };
  for (const [rel, f] of files) {
    await f.close();
    sizes[rel] = f.bytes;
  }
  delete sizes['locality.json'];
  const sortedCounts = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  const sortedFiles = Object.fromEntries(Object.entries(sizes).sort(([a], [b]) => a.localeCompare(b)));
  // summary.json is written last: its presence means the folder is complete. No timings in it,
  // so that reruns stay byte-identical.
  const summary = { people, seed, start: isoDate(window.start), end: isoDate(window.end), counts: sortedCounts, files: sortedFiles };
  await writeFile(join(out, 'truth', 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return { ...summary, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Today's date (UTC), the default end of the simulated history. */
export function todayIso(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Creates the folder, or clears a previous run's output; refuses a non-empty unrelated folder. */
async function prepareFolder(out: string): Promise<void> {
  if (existsSync(out)) {
    const entries = await readdir(out);
    if (entries.length > 0 && !entries.includes('locality.json')) {
      throw new Error(`${out} is not empty and does not hold an earlier bevan generate output; choose another --out`);
    }
    for (const name of OWNED) await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
}
