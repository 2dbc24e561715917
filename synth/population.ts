/**
 * The population model: who lives in the locality (age, sex, practice, address, long-term
 * conditions, latent risk) and what happens to each person over the simulated years (GP
 * contacts, observations, prescriptions, A&E, admissions, outpatients, laboratory tests,
 * community contacts, social care, death). Pure: a person and their history are functions of
 * the random streams handed in, nothing else.
 */
import conditionData from './codes/conditions.json' with { type: 'json' };
import medicineData from './codes/medicines.json' with { type: 'json' };
import { addYears, ageOn, parseDay, ymd } from './dates.ts';
import { NEIGHBOURHOODS, randomPostcode, type Locality, type Neighbourhood, type Practice } from './locality.ts';
import { FEMALE_GIVEN, MALE_GIVEN, STREETS, SURNAMES } from './names.ts';
import { Random, sigmoid } from './random.ts';

export type ConditionKey =
  | 'hypertension' | 'diabetes' | 'chd' | 'heartFailure' | 'ckd' | 'asthma' | 'copd' | 'dementia'
  | 'depression' | 'smi' | 'learningDisability' | 'cancer' | 'palliative';

export type LatentKey = 'cardio' | 'resp' | 'mental' | 'frail';

interface ConditionSpec {
  key: ConditionKey;
  code: string;
  display: string;
  prevalence: number;
  denominator: 'all' | 'adult';
  minAge: number;
  ageCentre: number;
  ageSlope: number;
  male: number;
  latent: LatentKey;
  latentWeight: number;
  dependsOn?: Partial<Record<ConditionKey, number>>;
}

export const CONDITIONS = conditionData.conditions as ConditionSpec[];
export const CONDITION_KEYS = CONDITIONS.map((c) => c.key);

// ---------------------------------------------------------------------------------------------
// Simulation window

export interface SimYear {
  /** The label used in the truth file: the calendar year the period starts in. */
  label: string;
  start: number;
  /** Exclusive. */
  end: number;
}

export interface SimWindow {
  start: number;
  /** Last simulated day (inclusive). */
  end: number;
  years: SimYear[];
}

/** Five years ending on `endIso` (inclusive): by default the calendar years 2021–2025. */
export function simulationWindow(endIso = '2025-12-31', yearCount = 5): SimWindow {
  const end = parseDay(endIso);
  const start = addYears(end + 1, -yearCount);
  const years: SimYear[] = [];
  for (let i = 0; i < yearCount; i++) {
    const s = addYears(start, i);
    years.push({ label: String(ymd(s)[0]), start: s, end: i === yearCount - 1 ? end + 1 : addYears(start, i + 1) });
  }
  return { start, end, years };
}

// ---------------------------------------------------------------------------------------------
// Age and sex structure (England, mid-2021, five-year bands to 90+, per cent)

const AGE_BANDS = [5.4, 6.0, 6.0, 5.6, 6.0, 6.6, 6.9, 6.7, 6.4, 6.4, 6.9, 6.8, 5.9, 5.0, 4.9, 3.6, 2.4, 1.5, 0.9];

function sampleAge(rng: Random): number {
  const band = rng.weighted(AGE_BANDS);
  if (band === AGE_BANDS.length - 1) return 90 + Math.floor(rng.exponential(3.5)) % 15;
  return band * 5 + rng.int(0, 4);
}

function femaleShare(age: number): number {
  if (age < 60) return 0.49;
  if (age < 75) return 0.52;
  if (age < 85) return 0.56;
  return 0.64;
}

interface Latents {
  cardio: number;
  resp: number;
  mental: number;
  frail: number;
}

function sampleLatents(rng: Random): Latents {
  // One general health factor shared by all, so that conditions cluster in the same people.
  const g = rng.normal();
  const f = () => 0.5 * g + 0.866 * rng.normal();
  return { cardio: f(), resp: f(), mental: f(), frail: f() };
}

function conditionLogit(spec: ConditionSpec, age: number, male: boolean, latents: Latents, has: Partial<Record<ConditionKey, unknown>>): number {
  let x = spec.ageSlope * (age - spec.ageCentre) + (male ? spec.male : 0) + spec.latentWeight * latents[spec.latent];
  if (spec.dependsOn) for (const [k, w] of Object.entries(spec.dependsOn)) if (has[k as ConditionKey] !== undefined) x += w!;
  return x;
}

/**
 * Intercepts that make each condition's prevalence hit its target, found once by bisection over a
 * fixed synthetic sample (so they are the same on every run, whatever the seed). Computed on
 * first use, not at import: every CLI command loads this module and most never generate.
 */
let intercepts: Record<ConditionKey, number> | null = null;
const conditionIntercepts = (): Record<ConditionKey, number> => (intercepts ??= calibrateIntercepts());
function calibrateIntercepts(): Record<ConditionKey, number> {
  const rng = new Random(0x5eed, 0xca11);
  const n = 30_000;
  const sample = Array.from({ length: n }, () => {
    const age = sampleAge(rng);
    return { age, male: !rng.chance(femaleShare(age)), latents: sampleLatents(rng), u: new Float64Array(CONDITIONS.length), has: {} as Partial<Record<ConditionKey, true>> };
  });
  for (const s of sample) for (let i = 0; i < CONDITIONS.length; i++) s.u[i] = rng.next();
  const out = {} as Record<ConditionKey, number>;
  CONDITIONS.forEach((spec, ci) => {
    const eligible = sample.filter((s) => s.age >= spec.minAge);
    const denominator = spec.denominator === 'adult' ? sample.filter((s) => s.age >= 18).length : n;
    const base = eligible.map((s) => conditionLogit(spec, s.age, s.male, s.latents, s.has));
    let lo = -20;
    let hi = 10;
    for (let it = 0; it < 36; it++) {
      const mid = (lo + hi) / 2;
      let sum = 0;
      for (const b of base) sum += sigmoid(mid + b);
      if (sum / denominator > spec.prevalence) hi = mid;
      else lo = mid;
    }
    out[spec.key] = (lo + hi) / 2;
    eligible.forEach((s, i) => {
      if (s.u[ci]! < sigmoid(out[spec.key] + base[i]!)) s.has[spec.key] = true;
    });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// People

export type SmokingStatus = 'current' | 'ex' | 'never';

export interface Address {
  line: string;
  town: string;
  postcode: string;
}

export interface Person {
  index: number;
  personId: string;
  nhsNumber: string;
  sex: 'male' | 'female';
  given: string;
  middle?: string;
  /** Current surname. */
  family: string;
  /** Surname before a change (marriage), if any, and when it changed. */
  previousFamily?: string;
  familyChangedDay?: number;
  birthDay: number;
  practice: Practice;
  neighbourhood: Neighbourhood;
  address: Address;
  /** Address before a move within the locality, if any, and when they moved. */
  previousAddress?: Address;
  movedDay?: number;
  /** GP registration date. */
  registeredDay: number;
  /** Onset day of each long-term condition the person has by the end of the window. */
  conditions: Partial<Record<ConditionKey, number>>;
  latents: Latents;
  smoking?: SmokingStatus;
  homeHospital: string;
  penicillinAllergy: boolean;
  /** Medicine key → first prescribed day. */
  medicines: Partial<Record<string, number>>;
  baseline: { heightCm: number; bmi: number; systolic: number; hba1c: number; egfr: number; cholesterol: number };
}

function formatPersonId(index: number): string {
  return 'person-' + String(index + 1).padStart(7, '0');
}

/** Creates one synthetic resident, registered with a practice at the start of the window. */
export function createPerson(rng: Random, index: number, nhsNumber: string, locality: Locality, window: SimWindow): Person {
  const ageAtEnd = sampleAge(rng);
  const female = rng.chance(femaleShare(ageAtEnd));
  const sex = female ? 'female' : 'male';
  const birthDay = window.end - ageAtEnd * 365 - rng.int(0, 364);
  const latents = sampleLatents(rng);

  const practice = locality.practices[rng.weighted(locality.practices.map((p) => p.weight))]!;
  // Most people live in their practice's neighbourhood; some cross a boundary.
  const neighbourhood = rng.chance(0.9) ? NEIGHBOURHOODS.find((n) => n.key === practice.neighbourhood)! : rng.pick(NEIGHBOURHOODS);
  const address = (): Address => {
    const { postcode, town } = randomPostcode(rng, neighbourhood);
    return { line: `${rng.int(1, 180)} ${rng.pick(STREETS)}`, town, postcode };
  };
  const given = female ? rng.pick(FEMALE_GIVEN) : rng.pick(MALE_GIVEN);
  let middle: string | undefined;
  if (rng.chance(0.4)) middle = female ? rng.pick(FEMALE_GIVEN) : rng.pick(MALE_GIVEN);
  if (middle === given) middle = undefined;
  let family: string = rng.pick(SURNAMES);

  const person: Person = {
    index,
    personId: formatPersonId(index),
    nhsNumber,
    sex,
    given,
    middle,
    family,
    birthDay,
    practice,
    neighbourhood,
    address: address(),
    registeredDay: Math.max(birthDay, window.start - Math.floor(rng.exponential(9 * 365))),
    conditions: {},
    latents,
    homeHospital: rng.chance(0.85) ? neighbourhood.mainHospital : locality.hospitals.find((h) => h.facility !== neighbourhood.mainHospital)!.facility,
    penicillinAllergy: rng.chance(0.08),
    medicines: {},
    baseline: { heightCm: 0, bmi: 0, systolic: 0, hba1c: 0, egfr: 0, cholesterol: 0 },
  };

  // A surname change (marriage) for some women of that age, before or during the window.
  const ageAtStart = ageOn(birthDay, window.start);
  if (female && ageAtStart >= 20 && ageAtStart <= 45 && rng.chance(0.06)) {
    person.previousFamily = family;
    do family = rng.pick(SURNAMES);
    while (family === person.previousFamily);
    person.family = family;
    person.familyChangedDay = rng.int(window.start - 365, window.end - 30);
  }
  // A move within the locality during the window.
  if (rng.chance(0.08)) {
    person.previousAddress = person.address;
    person.address = address();
    person.movedDay = rng.int(window.start + 30, window.end - 30);
  }

  // Long-term conditions, with an onset date before or during the window.
  for (const spec of CONDITIONS) {
    if (ageAtEnd < spec.minAge) continue;
    const p = sigmoid(conditionIntercepts()[spec.key] + conditionLogit(spec, ageAtEnd, !female, latents, person.conditions));
    if (!rng.chance(p)) continue;
    const earliest = Math.max(addYears(birthDay, spec.minAge), spec.key === 'learningDisability' ? birthDay : window.start - 20 * 365);
    // Palliative care starts late; otherwise about one case in six is diagnosed during the window.
    const duringWindow = spec.key === 'palliative' ? rng.chance(0.75) : rng.chance(0.17);
    let onset: number;
    if (duringWindow || earliest >= window.start) onset = rng.int(Math.max(earliest, window.start), window.end - 14);
    else onset = rng.int(earliest, window.start - 1);
    person.conditions[spec.key] = onset;
  }

  if (ageAtEnd >= 16) {
    const r = rng.next();
    if (person.conditions.copd !== undefined) person.smoking = r < 0.45 ? 'current' : 'ex';
    else person.smoking = r < 0.13 + 0.05 * latents.resp ? 'current' : r < 0.36 + (ageAtEnd > 50 ? 0.12 : 0) ? 'ex' : 'never';
  }

  // Baseline measurements that later observations vary around.
  const adultHeight = female ? rng.normal(163, 6.5) : rng.normal(176, 7);
  const age = Math.max(ageAtStart, 0);
  const heightCm = age >= 18 ? adultHeight : Math.min(adultHeight, 75 + age * 6.2);
  const has = (k: ConditionKey) => person.conditions[k] !== undefined;
  person.baseline = {
    heightCm: Math.round(heightCm),
    bmi: age >= 18 ? Math.max(16, rng.normal(27 + (has('diabetes') ? 4 : 0), 4.5)) : rng.normal(17.5, 2.5),
    systolic: 116 + 0.4 * Math.max(0, age - 30) + (has('hypertension') ? 14 : 0) + rng.normal(0, 9),
    hba1c: has('diabetes') ? Math.min(120, Math.max(40, rng.normal(58, 12))) : rng.normal(37, 3.5),
    egfr: has('ckd') ? Math.min(59, Math.max(16, rng.normal(46, 10))) : Math.min(125, 112 - 0.75 * Math.max(0, age - 30) + rng.normal(0, 9)),
    cholesterol: Math.max(2.5, rng.normal(5.1, 0.9)),
  };

  // Repeat medicines follow from the conditions; polypharmacy rises with their number.
  const byCondition = medicineData.byCondition as unknown as Record<string, [string, number][]>;
  for (const key of CONDITION_KEYS) {
    const onset = person.conditions[key];
    if (onset === undefined) continue;
    for (const [med, prob] of byCondition[key] ?? []) {
      if (!rng.chance(prob)) continue;
      const start = onset + rng.int(0, 60);
      if (person.medicines[med] === undefined || start < person.medicines[med]!) person.medicines[med] = start;
    }
  }
  if (ageAtStart >= 18 && rng.chance(female ? 0.05 : 0.012)) person.medicines.levothyroxine = rng.int(window.start - 3650, window.end - 60);
  if (ageAtStart >= 65 && rng.chance(0.1)) person.medicines.paracetamol ??= rng.int(window.start - 1000, window.end - 60);
  return person;
}

// ---------------------------------------------------------------------------------------------
// History

export type ObservationKey = 'hba1c' | 'egfr' | 'cholesterol' | 'bloodPressure' | 'weight' | 'haemoglobin' | 'potassium' | 'creatinine' | 'crp';

export interface Moment {
  day: number;
  minute: number;
}

export interface Spell extends Moment {
  kind: 'emergency' | 'elective';
  facility: string;
  /** Discharge; absent while the person is still in hospital at the end of the window. */
  discharge?: Moment;
  /** Emergency admissions that came through A&E: the attendance time. */
  aeArrival?: Moment;
  transfer?: Moment;
  diedInHospital: boolean;
  /** The discharge was entered, cancelled (A13) and re-entered a day later. */
  dischargeCancelled: boolean;
  /** An extra admission was keyed in error and cancelled (A11) the same day. */
  admitEnteredInError: boolean;
  service: string;
}

export interface Attendance extends Moment {
  kind: 'ae' | 'outpatient';
  facility: string;
  service: string;
  leave: Moment;
}

export interface LabResult {
  key: ObservationKey;
  value: number;
}

export interface LabTest extends Moment {
  panel: string;
  results: LabResult[];
  /** gp: recorded in the GP record; hospital: sent by the hospital laboratory (ORU). */
  gp: boolean;
  hospital: boolean;
  facility: string;
  requestedBy: 'gp' | 'hospital';
}

export interface GpObservation extends Moment {
  key: 'bloodPressure' | 'weight';
  values: number[];
}

export interface GpEncounter extends Moment {
  kind: 'faceToFace' | 'telephone' | 'homeVisit';
}

export interface CommunityContact extends Moment {
  serviceIndex: number;
  contactType: 'Home visit' | 'Clinic' | 'Telephone';
  minutes: number;
}

export interface SocialCareAssessment {
  day: number;
  type: string;
  outcome: string;
}

export interface CarePackage {
  start: number;
  end?: number;
  serviceType: string;
  hoursPerWeek: number;
  weeklyCost: number;
  provider: string;
}

export interface YearOutcome {
  label: string;
  /** True probability of at least one emergency admission in this year. */
  admissionProbability: number;
  emergencyAdmissions: number;
}

export interface History {
  years: YearOutcome[];
  deathDay?: number;
  spells: Spell[];
  attendances: Attendance[];
  labs: LabTest[];
  gpEncounters: GpEncounter[];
  gpObservations: GpObservation[];
  /** Medicine key and the day of each repeat issue. */
  issues: { med: string; day: number }[];
  procedures: { key: 'medicationReview' | 'diabeticFootExamination' | 'spirometry' | 'palliativeCare'; day: number }[];
  immunizations: number[];
  frailtyRecorded?: number;
  community: CommunityContact[];
  assessments: SocialCareAssessment[];
  packages: CarePackage[];
}

/** Log-odds added to emergency admission risk by each long-term condition. */
const ADMISSION_WEIGHTS: Record<ConditionKey, number> = {
  hypertension: 0.1, diabetes: 0.3, chd: 0.4, heartFailure: 0.9, ckd: 0.4, asthma: 0.25, copd: 0.85, dementia: 0.6,
  depression: 0.25, smi: 0.5, learningDisability: 0.45, cancer: 0.5, palliative: 1.2,
};
const ADMISSION_INTERCEPT = -3.3;

const SERVICES_BY_CONDITION: [ConditionKey, string][] = [
  ['diabetes', 'DIA'], ['chd', 'CAR'], ['heartFailure', 'CAR'], ['copd', 'RES'], ['asthma', 'RES'], ['ckd', 'REN'],
  ['cancer', 'ONC'], ['dementia', 'GER'],
];
const GENERAL_SERVICES = ['GSU', 'TOR', 'OPH', 'ENT', 'URO', 'GAS', 'DER', 'GYN'];

/** The latent frailty score (0–1, like an electronic frailty index) at a given age. */
export function frailtyScore(person: Person, age: number, conditionCount: number, day: number): number {
  const has = (k: ConditionKey) => (person.conditions[k] ?? Infinity) <= day;
  return sigmoid(-4.6 + 0.055 * (age - 50) + 0.35 * conditionCount + 0.7 * person.latents.frail + (has('dementia') ? 1.2 : 0) + (has('palliative') ? 0.9 : 0) + (has('learningDisability') ? 0.8 : 0));
}

/** Emergency admission probability for one year: logistic in age, conditions, frailty and last year's use. */
export function admissionProbability(age: number, active: ConditionKey[], frailty: number, priorAdmissions: number, priorAe: number): number {
  let x = ADMISSION_INTERCEPT + 0.018 * (age - 50) + 0.035 * Math.max(0, age - 70) + (age < 5 ? 1.0 : 0) + 2.6 * frailty;
  for (const k of active) x += ADMISSION_WEIGHTS[k];
  x += 0.65 * Math.min(priorAdmissions, 4) + 0.22 * Math.min(priorAe, 6);
  return sigmoid(x);
}

const randomMinute = (rng: Random, from: number, to: number) => rng.int(from, to);

/** Simulates one person's use of services over the window. */
export function simulateHistory(person: Person, rng: Random, window: SimWindow, locality: Locality): History {
  const h: History = { years: [], spells: [], attendances: [], labs: [], gpEncounters: [], gpObservations: [], issues: [], procedures: [], immunizations: [], community: [], assessments: [], packages: [] };
  const otherHospital = locality.hospitals.find((x) => x.facility !== person.homeHospital)!.facility;
  const facility = () => (rng.chance(0.9) ? person.homeHospital : otherHospital);
  const has = (k: ConditionKey, day: number) => (person.conditions[k] ?? Infinity) <= day;

  // Last year's use before the window (a burn-in year, not emitted) seeds the first year's risk.
  let priorEm = 0;
  let priorAe = 0;
  {
    const age = ageOn(person.birthDay, window.start - 365);
    if (age >= 0) {
      const active = CONDITION_KEYS.filter((k) => has(k, window.start - 365));
      const f = frailtyScore(person, age, active.length, window.start - 365);
      const p = admissionProbability(age, active, f, 0, 0);
      priorEm = rng.chance(p) ? 1 + rng.poisson(0.2 + p) : 0;
      priorAe = rng.poisson(0.22 + 1.6 * p) + priorEm;
    }
  }

  let openPackage: CarePackage | undefined;
  let everAssessed = false;

  for (const year of window.years) {
    if (h.deathDay !== undefined) break;
    if (person.birthDay >= year.end) continue;
    const from = Math.max(year.start, person.birthDay);
    const age = Math.max(0, ageOn(person.birthDay, from));
    const active = CONDITION_KEYS.filter((k) => has(k, from));
    const frailty = frailtyScore(person, age, active.length, from);
    const p = person.birthDay > year.start ? 0 : admissionProbability(age, active, frailty, priorEm, priorAe);
    const hasK = (k: ConditionKey) => active.includes(k);

    // Death, mostly in old age, with serious illness, or on the palliative register.
    let q = sigmoid(-10.3 + 0.092 * age + 0.45 * (hasK('heartFailure') ? 1 : 0) + 0.45 * (hasK('copd') ? 1 : 0) + 0.6 * (hasK('cancer') ? 1 : 0) + 0.5 * (hasK('dementia') ? 1 : 0) + 1.5 * frailty);
    const palliativeOnset = person.conditions.palliative;
    if (palliativeOnset !== undefined && palliativeOnset < year.end) q = Math.max(q, 0.55);
    let aliveUntil = year.end; // exclusive
    if (rng.chance(q)) {
      const earliest = palliativeOnset !== undefined && palliativeOnset >= from && palliativeOnset < year.end ? palliativeOnset + 7 : from;
      if (earliest < year.end - 1) {
        h.deathDay = rng.int(earliest, year.end - 1);
        aliveUntil = h.deathDay + 1;
      }
    }
    const lastDay = Math.min(aliveUntil, window.end + 1) - 1;
    const dayIn = () => rng.int(from, lastDay);

    // Emergency admissions: sampled from the recorded probability, then counted.
    const admitted = p > 0 && rng.chance(p);
    const nEm = admitted ? 1 + rng.poisson(0.2 + 1.0 * p) : 0;
    const emDays = Array.from({ length: nEm }, dayIn).sort((a, b) => a - b);
    const meanLos = 2.5 + 0.08 * Math.max(0, age - 50) + 6 * frailty;
    let aeCount = 0;
    let previousEnd = -Infinity;
    emDays.forEach((d, i) => {
      const los = rng.chance(0.2) ? 0 : Math.min(90, Math.ceil(rng.exponential(meanLos)));
      let admitDay = Math.max(d, previousEnd + 1);
      const diesHere = h.deathDay !== undefined && i === emDays.length - 1 && rng.chance(0.55);
      if (diesHere) admitDay = Math.max(from, h.deathDay! - los);
      if (i > 0 && admitDay > window.end) return;
      const viaAe = rng.chance(0.85);
      if (viaAe) aeCount++;
      const arrival = randomMinute(rng, 0, 1439);
      const admitMinute = viaAe ? Math.min(1439, arrival + rng.int(120, 420)) : arrival;
      const admitOn = admitDay;
      let dischargeDay = diesHere ? h.deathDay! : admitOn + los;
      if (h.deathDay !== undefined && dischargeDay > h.deathDay) dischargeDay = h.deathDay;
      const spell: Spell = {
        kind: 'emergency',
        day: admitOn,
        minute: admitMinute,
        facility: facility(),
        aeArrival: viaAe ? { day: admitOn, minute: Math.min(arrival, admitMinute - 60) } : undefined,
        diedInHospital: diesHere,
        dischargeCancelled: false,
        admitEnteredInError: rng.chance(0.01),
        service: (() => {
          const s = SERVICES_BY_CONDITION.filter(([k]) => hasK(k));
          return s.length && rng.chance(0.6) ? rng.pick(s)[1] : age < 16 ? 'PAE' : age >= 75 ? 'GER' : 'GMED';
        })(),
      };
      if (spell.aeArrival && spell.aeArrival.minute < 0) spell.aeArrival.minute = 0;
      if (dischargeDay <= window.end) {
        spell.discharge = { day: dischargeDay, minute: dischargeDay === admitOn ? Math.min(1439, admitMinute + rng.int(60, 300)) : randomMinute(rng, 600, 1200) };
        if (spell.discharge.day === admitOn && spell.discharge.minute <= admitMinute) spell.discharge.minute = Math.min(1439, admitMinute + 1);
        spell.dischargeCancelled = !diesHere && dischargeDay < window.end && rng.chance(0.01);
        if (spell.dischargeCancelled) spell.discharge = { day: dischargeDay + 1, minute: spell.discharge.minute };
      }
      if (los >= 2 && rng.chance(0.3)) spell.transfer = { day: admitOn + 1, minute: randomMinute(rng, 480, 1200) };
      previousEnd = spell.discharge?.day ?? Infinity;
      h.spells.push(spell);
      // Admission bloods.
      h.labs.push(admissionBloods(rng, person, spell, age));
    });
    h.years.push({ label: year.label, admissionProbability: p, emergencyAdmissions: h.spells.filter((s) => s.kind === 'emergency' && s.day >= year.start && s.day < year.end).length });
    // Only years the person was alive at the start count in the truth; a birth mid-year has p = 0.
    if (person.birthDay > year.start) h.years.pop();

    // A&E attendances that did not lead to admission.
    const nAe = rng.poisson(0.22 + 1.6 * p + (age >= 16 && age <= 30 ? 0.1 : 0) + (age < 5 ? 0.25 : 0));
    for (let i = 0; i < nAe; i++) {
      const day = dayIn();
      const minute = randomMinute(rng, 0, 1200);
      const fac = facility();
      h.attendances.push({ kind: 'ae', day, minute, facility: fac, service: 'AE', leave: { day, minute: minute + rng.int(60, 239) } });
      if (rng.chance(0.35)) h.labs.push(hospitalPanel(rng, person, { day, minute: minute + 45 }, fac, age, ['ue', 'fbc', 'crp']));
    }
    priorEm = nEm;
    priorAe = nAe + aeCount;

    // Elective admissions (mostly day cases).
    const nEl = rng.poisson(0.045 + 0.0025 * Math.max(0, age - 40) + (hasK('cancer') ? 0.3 : 0) + 0.03 * active.length);
    for (let i = 0; i < nEl; i++) {
      const day = dayIn();
      const los = rng.chance(0.7) ? 0 : rng.int(1, 6);
      const minute = randomMinute(rng, 420, 660);
      const spell: Spell = {
        kind: 'elective', day, minute, facility: facility(), diedInHospital: false, dischargeCancelled: false, admitEnteredInError: false,
        service: hasK('cancer') && rng.chance(0.5) ? 'ONC' : rng.pick(GENERAL_SERVICES),
      };
      const dd = Math.min(day + los, h.deathDay ?? Infinity);
      if (dd <= window.end) spell.discharge = { day: dd, minute: dd === day ? minute + rng.int(120, 480) : randomMinute(rng, 600, 1080) };
      h.spells.push(spell);
    }

    // Outpatient appointments.
    const nOp = rng.poisson(0.45 + 0.25 * active.length + 0.008 * Math.max(0, age - 40) + (hasK('cancer') ? 1.5 : 0));
    for (let i = 0; i < nOp; i++) {
      const day = dayIn();
      const minute = 540 + 15 * rng.int(0, 28);
      const s = SERVICES_BY_CONDITION.filter(([k]) => hasK(k));
      h.attendances.push({ kind: 'outpatient', day, minute, facility: facility(), service: s.length && rng.chance(0.7) ? rng.pick(s)[1] : rng.pick(GENERAL_SERVICES), leave: { day, minute: minute + rng.int(15, 45) } });
    }

    // GP consultations.
    const nGp = rng.poisson(3.0 + 0.8 * active.length + 0.025 * Math.max(0, age - 50) + 2.5 * frailty + (age < 5 ? 1.5 : 0) + (person.sex === 'female' && age >= 16 && age <= 60 ? 0.5 : 0));
    for (let i = 0; i < nGp; i++) {
      const r = rng.next();
      const homeShare = frailty > 0.3 ? 0.3 : 0.03;
      h.gpEncounters.push({ day: dayIn(), minute: 480 + 10 * rng.int(0, 56), kind: r < homeShare ? 'homeVisit' : r < homeShare + 0.3 ? 'telephone' : 'faceToFace' });
    }

    // GP observations and blood tests (the practice's bloods go to the hospital laboratory).
    const cardioMetabolic = hasK('hypertension') || hasK('diabetes') || hasK('chd') || hasK('ckd') || hasK('heartFailure');
    if (age >= 18) {
      const nBp = cardioMetabolic ? 1 + (rng.chance(0.5) ? 1 : 0) : age >= 40 ? (rng.chance(0.35) ? 1 : 0) : rng.chance(0.1) ? 1 : 0;
      for (let i = 0; i < nBp; i++) {
        const sys = Math.round(person.baseline.systolic + 0.4 * (age - ageOn(person.birthDay, window.start)) + rng.normal(0, 10));
        h.gpObservations.push({ key: 'bloodPressure', day: dayIn(), minute: 480 + 10 * rng.int(0, 56), values: [sys, Math.round(sys * 0.56 + rng.normal(8, 6))] });
      }
      if (hasK('diabetes') || hasK('heartFailure') ? rng.chance(0.8) : rng.chance(0.25)) {
        const hm = person.baseline.heightCm / 100;
        h.gpObservations.push({ key: 'weight', day: dayIn(), minute: 480 + 10 * rng.int(0, 56), values: [Math.round((person.baseline.bmi + rng.normal(0, 0.8)) * hm * hm * 10) / 10] });
      }
      const gpBloods = (panel: string) => {
        const t = { day: dayIn(), minute: 480 + 10 * rng.int(0, 30) };
        const lab = hospitalPanel(rng, person, t, person.homeHospital, age, [panel]);
        lab.gp = true;
        lab.hospital = rng.chance(0.7);
        lab.requestedBy = 'gp';
        h.labs.push(lab);
        // Now and then the hospital repeats a test the practice has just done (a duplicate test).
        if (panel === 'hba1c' && rng.chance(0.04) && t.day + 60 <= lastDay) {
          const dup = hospitalPanel(rng, person, { day: t.day + rng.int(7, 60), minute: 600 }, facility(), age, ['hba1c']);
          h.labs.push(dup);
        }
      };
      if (hasK('diabetes')) {
        if (rng.chance(0.9)) gpBloods('hba1c');
        if (rng.chance(0.8)) gpBloods('hba1c');
      } else if (age >= 40 && rng.chance(0.06)) gpBloods('hba1c');
      if (cardioMetabolic ? rng.chance(0.85) : age >= 50 && rng.chance(0.12)) gpBloods('renal');
      if (hasK('diabetes') || hasK('chd') ? rng.chance(0.75) : age >= 40 && rng.chance(0.08)) gpBloods('lipids');
    }

    // Repeat prescriptions, reviews, immunisations.
    const medsNow = Object.entries(person.medicines).filter(([, start]) => start! < lastDay);
    for (const [med, start] of medsNow) h.issues.push({ med, day: rng.int(Math.max(from, start!), lastDay) });
    if (medsNow.length >= 4 && rng.chance(0.8)) h.procedures.push({ key: 'medicationReview', day: dayIn() });
    if (hasK('diabetes') && rng.chance(0.75)) h.procedures.push({ key: 'diabeticFootExamination', day: dayIn() });
    if ((hasK('copd') || hasK('asthma')) && rng.chance(0.15)) h.procedures.push({ key: 'spirometry', day: dayIn() });
    if (palliativeOnset !== undefined && palliativeOnset >= year.start && palliativeOnset < year.end && palliativeOnset <= lastDay) h.procedures.push({ key: 'palliativeCare', day: palliativeOnset });
    if ((age >= 65 && rng.chance(0.75)) || (age >= 18 && active.length > 0 && rng.chance(0.45))) {
      const d = Math.min(lastDay, year.start + rng.int(270, 355));
      if (d >= from) h.immunizations.push(d);
    }
    if (frailty > 0.3 && h.frailtyRecorded === undefined) h.frailtyRecorded = dayIn();

    // Community nursing and therapy: mostly older, frail or palliative people, and after discharge.
    const communityNeed = Math.max(0, frailty - 0.18) * 40 + (hasK('palliative') ? 20 : 0) + (hasK('heartFailure') ? 2 : 0) + (hasK('copd') ? 1.5 : 0);
    const nCommunity = rng.poisson(communityNeed * (age >= 65 ? 1 : 0.4)) + (age >= 18 && rng.chance(0.01) ? rng.int(3, 6) : 0);
    for (let i = 0; i < nCommunity; i++) h.community.push(communityContact(rng, dayIn(), { palliative: hasK('palliative'), heartFailure: hasK('heartFailure'), copd: hasK('copd'), frailty }));
    for (const s of h.spells) {
      if (s.kind === 'emergency' && s.discharge && s.day >= year.start && s.day < year.end && age >= 75 && !s.diedInHospital && rng.chance(0.5)) {
        const n = rng.int(2, 6);
        for (let i = 0; i < n; i++) {
          const d = s.discharge.day + rng.int(1, 30);
          if (d <= Math.min(lastDay + 30, window.end) && (h.deathDay === undefined || d < h.deathDay)) h.community.push(communityContact(rng, d, { palliative: false, heartFailure: false, copd: false, frailty }));
        }
      }
    }

    // Social care: assessments and packages for older, frail people, dementia and learning disability.
    if (age >= 18) {
      const need = frailty + (hasK('dementia') ? 0.3 : 0) + (hasK('learningDisability') ? 0.35 : 0) + (hasK('palliative') ? 0.2 : 0);
      const qa = sigmoid(-4.9 + 0.045 * Math.max(0, age - 60) + 5 * frailty + 1.6 * (hasK('dementia') ? 1 : 0) + 3.0 * (hasK('learningDisability') ? 1 : 0) + 1.2 * (hasK('palliative') ? 1 : 0));
      if (rng.chance(openPackage ? Math.max(qa, 0.8) : qa)) {
        const day = dayIn();
        const review = openPackage !== undefined;
        let outcome: string;
        if (review) outcome = need > 0.55 && rng.chance(0.3) ? 'Increased support' : 'Continue current support';
        else if (need > 0.3 && rng.chance(0.7)) outcome = 'Long-term support';
        else outcome = rng.pick(['Short-term support (reablement)', 'Universal services / signposting', 'No eligible needs']);
        h.assessments.push({ day, type: review ? 'Review' : everAssessed ? 'Reassessment' : 'Care Act assessment', outcome });
        everAssessed = true;
        const start = day + rng.int(5, 28);
        if (start <= window.end && (h.deathDay === undefined || start < h.deathDay)) {
          if (outcome === 'Long-term support' || outcome === 'Increased support') {
            if (openPackage) openPackage.end = start - 1;
            openPackage = carePackage(rng, start, age, need, hasK('learningDisability'));
            h.packages.push(openPackage);
          } else if (outcome === 'Short-term support (reablement)') {
            h.packages.push({ start, end: Math.min(start + 42, window.end), serviceType: 'Reablement', hoursPerWeek: 10, weeklyCost: 0, provider: 'Trafford Reablement Service' });
          }
        }
      }
    }
  }
  if (h.deathDay !== undefined && openPackage && openPackage.end === undefined) openPackage.end = h.deathDay;
  return h;
}

const PROVIDERS = ['Bridgewater Home Care', 'Mersey Vale Care Ltd', 'Stretford Community Care', 'Altrincham Care Partners', 'Sale Supported Living', 'Urmston Day Services', 'Timperley Lodge Care Home', 'Davyhulme Nursing Home'];

function carePackage(rng: Random, start: number, age: number, need: number, ld: boolean): CarePackage {
  if (ld && rng.chance(0.5)) {
    const hours = rng.int(15, 40);
    return { start, serviceType: rng.chance(0.6) ? 'Supported living' : 'Day care', hoursPerWeek: hours, weeklyCost: Math.round(hours * 24.5 * 100) / 100, provider: rng.pick(PROVIDERS.slice(4, 6)) };
  }
  if (age >= 75 && need > 0.6 && rng.chance(0.35)) {
    const nursing = rng.chance(0.4);
    return { start, serviceType: nursing ? 'Nursing care' : 'Residential care', hoursPerWeek: 0, weeklyCost: nursing ? rng.int(900, 1150) : rng.int(700, 900), provider: rng.pick(PROVIDERS.slice(6)) };
  }
  if (rng.chance(0.12)) return { start, serviceType: 'Direct payment', hoursPerWeek: rng.int(4, 20), weeklyCost: rng.int(100, 450), provider: 'Self-directed' };
  const hours = Math.min(35, Math.max(2, Math.round(rng.normal(6 + 20 * need, 4))));
  return { start, serviceType: 'Home care', hoursPerWeek: hours, weeklyCost: Math.round(hours * 23.8 * 100) / 100, provider: rng.pick(PROVIDERS.slice(0, 4)) };
}

/** Indices into procedures.json `community`. */
function communityContact(rng: Random, day: number, need: { palliative: boolean; heartFailure: boolean; copd: boolean; frailty: number }): CommunityContact {
  let serviceIndex: number;
  if (need.palliative && rng.chance(0.5)) serviceIndex = 5;
  else if (need.heartFailure && rng.chance(0.3)) serviceIndex = 6;
  else if (need.copd && rng.chance(0.3)) serviceIndex = 7;
  else serviceIndex = [0, 0, 0, 1, 1, 2, 3, 4][rng.int(0, 7)]!;
  const r = rng.next();
  return { day, minute: 480 + 15 * rng.int(0, 36), serviceIndex, contactType: r < 0.75 ? 'Home visit' : r < 0.9 ? 'Clinic' : 'Telephone', minutes: 0 };
}

function labValue(rng: Random, person: Person, key: ObservationKey, age: number): number {
  const b = person.baseline;
  switch (key) {
    case 'hba1c':
      return Math.round(Math.max(25, b.hba1c + rng.normal(0, 5)));
    case 'egfr':
      return Math.round(Math.max(8, Math.min(120, b.egfr + rng.normal(0, 5))));
    case 'cholesterol':
      return Math.round(Math.max(2, b.cholesterol - (person.medicines.atorvastatin !== undefined || person.medicines.simvastatin !== undefined ? 1.1 : 0) + rng.normal(0, 0.4)) * 10) / 10;
    case 'creatinine':
      return Math.round(Math.max(30, (person.sex === 'male' ? 7400 : 6200) / Math.max(10, b.egfr) + rng.normal(0, 6)));
    case 'potassium':
      return Math.round(rng.normal(4.3, 0.45) * 10) / 10;
    case 'haemoglobin':
      return Math.round(rng.normal(person.sex === 'male' ? 142 : 128, 14));
    case 'crp':
      return Math.max(1, Math.round(rng.exponential(25)));
    default:
      return 0;
  }
}

const PANELS: Record<string, ObservationKey[]> = {
  ue: ['potassium', 'creatinine', 'egfr'],
  fbc: ['haemoglobin'],
  crp: ['crp'],
  hba1c: ['hba1c'],
  lipids: ['cholesterol'],
  renal: ['creatinine', 'egfr'],
};

function hospitalPanel(rng: Random, person: Person, t: Moment, facility: string, age: number, panels: string[]): LabTest {
  const results: LabResult[] = [];
  for (const panel of panels) for (const key of PANELS[panel]!) results.push({ key, value: labValue(rng, person, key, age) });
  return { day: t.day, minute: Math.min(1439, t.minute), panel: panels.join('+'), results, gp: false, hospital: true, facility, requestedBy: 'hospital' };
}

function admissionBloods(rng: Random, person: Person, spell: Spell, age: number): LabTest {
  const t = spell.aeArrival ? { day: spell.aeArrival.day, minute: spell.aeArrival.minute + 40 } : { day: spell.day, minute: spell.minute + 30 };
  return hospitalPanel(rng, person, t, spell.facility, age, ['ue', 'fbc', 'crp']);
}
