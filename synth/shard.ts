/**
 * One shard of the locality (residents.ts, SHARD_SIZE people): every source system's text for
 * those people, per output file, as UTF-8 buffers, plus counts and the recent hospital messages
 * that go out over MLLP. A shard depends only on the seed, the size, the end date and its
 * number, so shards made on any thread, in any order, and written in shard order give the same
 * files. Pure apart from memory: no I/O.
 */
import { assessmentRows, communityRows, packageRows } from './csv.ts';
import { isoDate, isoInstant, ymd } from './dates.ts';
import { gpBundle } from './fhir.ts';
import { Hl7Counters, hospitalMessages, type FacilityIdentities } from './hl7.ts';
import { NOISE, communityClientId, hospitalNumber, noisyDemographics, socialCarePersonId } from './identity.ts';
import { buildLocality, type Locality } from './locality.ts';
import { mentalHealthClientId, mentalHealthContactRows, MENTAL_HEALTH_NOISE } from './mental-health.ts';
import { NhsNumberAllocator } from './nhs-number.ts';
import { ByteSink } from './output.ts';
import { MENTAL_HEALTH_TRUST, simulationWindow, type SimWindow } from './population.ts';
import { Random } from './random.ts';
import { SHARD_SIZE, residents } from './residents.ts';

/** Days before the end whose hospital messages go to hospital/mllp/ instead of the yearly files. */
export const MLLP_DAYS = 30;

export interface ShardTask {
  people: number;
  seed: number;
  /** Last simulated day, ISO. */
  until: string;
  shard: number;
}

/** A recent hospital message, held back to be written in time order over all shards. */
export interface MllpMessage {
  day: number;
  minute: number;
  text: string;
}

export interface ShardResult {
  shard: number;
  people: number;
  /** Output file (relative path) → its bytes for this shard, in order. */
  files: [string, Uint8Array[]][];
  counts: Record<string, number>;
  mllp: MllpMessage[];
}

/** The people of shard `task.shard`: from shard·SHARD_SIZE to the next shard or the end. */
export function shardRange(task: Pick<ShardTask, 'people' | 'shard'>): [number, number] {
  const from = task.shard * SHARD_SIZE;
  return [from, Math.min(task.people, from + SHARD_SIZE)];
}

export function shardCount(people: number): number {
  return Math.ceil(people / SHARD_SIZE);
}

let cachedLocality: Locality | undefined;
const windows = new Map<string, SimWindow>();

/** Generates one shard. */
export function generateShard(task: ShardTask): ShardResult {
  const { people, seed, shard } = task;
  const locality = (cachedLocality ??= buildLocality());
  let window = windows.get(task.until);
  if (!window) windows.set(task.until, (window = simulationWindow(task.until)));
  const [from, to] = shardRange(task);

  const sinks = new Map<string, ByteSink>();
  const sink = (rel: string) => {
    let s = sinks.get(rel);
    if (!s) sinks.set(rel, (s = new ByteSink()));
    return s;
  };
  const counts: Record<string, number> = {};
  const count = (key: string, n = 1) => (counts[key] = (counts[key] ?? 0) + n);
  const nhs = new NhsNumberAllocator(seed).skip(from);
  const counters = new Hl7Counters(shard);
  const mllpCutoff = window.end - (MLLP_DAYS - 1);
  const mllp: MllpMessage[] = [];
  const extractTime = isoInstant(window.end + 1, 120);
  const yearFile = new Map<number, string>();
  const hospitalFile = (kind: string, day: number) => {
    const year = ymd(day)[0];
    const key = kind === 'oru' ? -year : year;
    let rel = yearFile.get(key);
    if (!rel) yearFile.set(key, (rel = `hospital/${kind}-${year}.hl7`));
    return rel;
  };
  const mentalHealth = sink('mentalhealth/contacts.csv');
  const community = sink('community/contacts.csv');
  const assessments = sink('socialcare/assessments.csv');
  const packages = sink('socialcare/packages.csv');
  const truth = sink('truth/persons.ndjson');

  for (const { index: i, person, history } of residents(people, seed, window, locality, nhs, from, to)) {
    const idRng = new Random(seed, i, 3);
    const fhirRng = new Random(seed, i, 4);
    const hl7Rng = new Random(seed, i, 5);
    const csvRng = new Random(seed, i, 6);
    const sources: { system: string; id: string }[] = [];
    const gpSystem = `gp:${person.practice.ods}`;
    const gpFile = sink(`gp/${person.practice.ods}.ndjson`);

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
      const episodeDays: number[] = [];
      for (const s of history.spells) if (s.facility === fac) episodeDays.push((s.aeArrival ?? s).day);
      for (const a of history.attendances) if (a.facility === fac) episodeDays.push(a.day);
      let first = Infinity;
      for (const d of episodeDays) if (d < first) first = d;
      let labs = 0;
      for (const l of history.labs) if (l.hospital && l.facility === fac) {
        labs++;
        if (l.day < first) first = l.day;
      }
      if (episodeDays.length === 0 && labs === 0) continue;
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
          mllp.push({ day: m.day, minute: m.minute, text: m.text });
          count('mllpMessages');
        } else sink(hospitalFile(m.kind, m.day)).write(m.text);
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
          sink(`mentalhealth/adt-${ymd(m.day)[0]}.hl7`).write(m.text);
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
    let ae = 0;
    let outpatients = 0;
    for (const s of history.spells) {
      count(s.kind === 'emergency' ? 'emergencyAdmissions' : s.kind === 'elective' ? 'electiveAdmissions' : 'maternityAdmissions');
      if (s.aeArrival) ae++;
    }
    for (const a of history.attendances) {
      if (a.kind === 'ae') ae++;
      else if (a.kind === 'outpatient') outpatients++;
    }
    count('births', history.births.length);
    count('aeAttendances', ae);
    count('outpatientAppointments', outpatients);
  }

  const files: [string, Uint8Array[]][] = [];
  for (const [rel, s] of sinks) if (s.bytes > 0) files.push([rel, s.finish()]);
  return { shard, people: to - from, files, counts, mllp };
}
