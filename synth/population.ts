/**
 * The population model: who lives in the locality (age, sex, practice, address, long-term
 * conditions, latent risk) and what happens to each person over the simulated years (GP
 * contacts, observations, prescriptions, immunisations, pregnancies and births, A&E,
 * admissions, outpatients, laboratory tests, community, mental health and social care, death).
 * Pure: a person and their history are functions of the random streams handed in, nothing else.
 * The figures it is calibrated to, and their sources, are in docs/synthetic-population.md; the
 * clinical rules it obeys are data in ./codes, read through clinical.ts.
 */
import conditionData from './codes/conditions.json' with { type: 'json' };
import medicineData from './codes/medicines.json' with { type: 'json' };
import { CHILDHOOD_SCHEDULE, IMMUNISATION_COVERAGE, MEDICINE_RULES, bmiFor, generalServicesFor, heightFor, referenceRange, reportedAt, serviceAdmits } from './clinical.ts';
import { addYears, ageOn, parseDay, ymd } from './dates.ts';
import { NEIGHBOURHOODS, randomPostcode, type Locality, type Neighbourhood, type Practice } from './locality.ts';
import { FEMALE_GIVEN, MALE_GIVEN, STREETS, SURNAMES } from './names.ts';
import { Random, sigmoid } from './random.ts';

export type ConditionKey =
  | 'hypertension' | 'diabetes' | 'chd' | 'heartFailure' | 'ckd' | 'asthma' | 'copd' | 'dementia'
  | 'depression' | 'smi' | 'learningDisability' | 'cancer' | 'hypothyroidism' | 'osteoarthritis' | 'palliative';

export type LatentKey = 'cardio' | 'resp' | 'mental' | 'frail';

interface ConditionSpec {
  key: ConditionKey;
  code: string;
  display: string;
  prevalence: number;
  /** Ever-prevalence in the simulated cohort over the register's point prevalence: people with the condition die during the window (fitted, docs/synthetic-population.md). */
  survivorUplift?: number;
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

/** The facility code (MSH-4) of the mental health trust. */
export const MENTAL_HEALTH_TRUST = 'RXV';

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

/** Five years ending on `endIso` (inclusive): ending 2025-12-31, the calendar years 2021–2025. */
export function simulationWindow(endIso: string, yearCount = 5): SimWindow {
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
// Age and sex structure

/**
 * ONS mid-2022 population estimates, England, per cent in five-year bands from 5–9 to 90+
 * (0–4 come from births to women in the population). Each band is raised by the share of its
 * members who die during the five simulated years, so that the living population at the end
 * has the ONS structure (SURVIVAL_UPLIFT, fitted by measuring the model's own deaths).
 */
const AGE_BANDS_5_PLUS = [5.9, 6.2, 5.9, 6.1, 6.5, 6.9, 6.8, 6.5, 6.1, 6.8, 6.8, 6.0, 5.1, 4.9, 4.0, 2.6, 1.6, 0.9];
const SURVIVAL_UPLIFT = [1, 1, 1, 1, 1, 1, 1, 1, 1.005, 1.01, 1.015, 1.03, 1.05, 1.09, 1.17, 1.35, 1.9, 2.9];
const AGE_WEIGHTS = AGE_BANDS_5_PLUS.map((w, i) => w * SURVIVAL_UPLIFT[i]!);

function sampleAge(rng: Random): number {
  const band = rng.weighted(AGE_WEIGHTS) + 1;
  if (band === AGE_BANDS_5_PLUS.length) return 90 + (Math.floor(rng.exponential(4)) % 15);
  return band * 5 + rng.int(0, 4);
}

function femaleShare(age: number): number {
  if (age < 60) return 0.49;
  if (age < 75) return 0.52;
  if (age < 85) return 0.56;
  return 0.64;
}

/**
 * Births per woman per year by age (ONS Births in England and Wales 2022, age-specific fertility
 * rates per 1,000 women: under 20, 20–24, …, 45+), scaled so that the 0–4 share of the living
 * population matches the ONS estimate.
 */
const FERTILITY = [9, 41, 76, 97, 60, 14, 1.2].map((r) => r / 1000);
const FERTILITY_SCALE = 1.12;
function fertilityRate(age: number): number {
  if (age < 15 || age > 49) return 0;
  return FERTILITY_SCALE * FERTILITY[age < 20 ? 0 : Math.min(6, Math.floor(age / 5) - 3)]!;
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
    const target = spec.prevalence * (spec.survivorUplift ?? 1);
    const base = eligible.map((s) => conditionLogit(spec, s.age, s.male, s.latents, s.has));
    let lo = -20;
    let hi = 10;
    for (let it = 0; it < 36; it++) {
      const mid = (lo + hi) / 2;
      let sum = 0;
      for (const b of base) sum += sigmoid(mid + b);
      if (sum / denominator > target) hi = mid;
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

export interface Coded {
  code: string;
  display: string;
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
  /** Onset day of each long-term condition the person has (none after their death). */
  conditions: Partial<Record<ConditionKey, number>>;
  /** The code each condition is recorded under (subtype: type 1 diabetes, Alzheimer's, …), fixed per person. */
  conditionCodes: Partial<Record<ConditionKey, Coded>>;
  latents: Latents;
  smoking?: SmokingStatus;
  homeHospital: string;
  penicillinAllergy: boolean;
  /** Medicine key → first prescribed day (never before its indication's onset, never after death). */
  medicines: Partial<Record<string, number>>;
  /** Own centiles for height and BMI, kept through life; and the chance of following the immunisation schedule. */
  growth: { heightZ: number; bmiZ: number };
  immunisation: 'complete' | 'partial' | 'none';
  baseline: { systolic: number; hba1c: number; egfr: number; cholesterol: number };
  /** For a baby born in the window: the mother's person id. */
  motherId?: string;
}

function formatPersonId(index: number): string {
  return 'person-' + String(index + 1).padStart(7, '0');
}

/** Indication keys a person has on a day: condition keys, with diabetes as diabetesType1 or diabetesType2. */
export function indicationsOn(person: Person, day: number): Set<string> {
  const out = new Set<string>();
  for (const [k, onset] of Object.entries(person.conditions)) {
    if (onset! > day) continue;
    if (k === 'diabetes') out.add(person.conditionCodes.diabetes?.code === TYPE1_CODE ? 'diabetesType1' : 'diabetesType2');
    else out.add(k);
  }
  return out;
}
const TYPE1_CODE = (conditionData.subtypes.diabetes as { code: string }).code;

/** A baby born to a woman in the population: registered at her practice, at her address. */
export interface Newborn {
  mother: Person;
  day: number;
}

/** Creates one synthetic resident (or, with `born`, a baby born in the window). */
export function createPerson(rng: Random, index: number, nhsNumber: string, locality: Locality, window: SimWindow, born?: Newborn): Person {
  const mother = born?.mother;
  const ageAtEnd = born ? ageOn(born.day, window.end) : sampleAge(rng);
  const female = born ? rng.chance(0.488) : rng.chance(femaleShare(ageAtEnd));
  const sex = female ? 'female' : 'male';
  const birthDay = born ? born.day : window.end - ageAtEnd * 365 - rng.int(0, 364);
  const latents = sampleLatents(rng);

  const practice = mother ? mother.practice : locality.practices[rng.weighted(locality.practices.map((p) => p.weight))]!;
  // Most people live in their practice's neighbourhood; some cross a boundary.
  const neighbourhood = mother ? mother.neighbourhood : rng.chance(0.9) ? NEIGHBOURHOODS.find((n) => n.key === practice.neighbourhood)! : rng.pick(NEIGHBOURHOODS);
  const address = (): Address => {
    const { postcode, town } = randomPostcode(rng, neighbourhood);
    return { line: `${rng.int(1, 180)} ${rng.pick(STREETS)}`, town, postcode };
  };
  const given = female ? rng.pick(FEMALE_GIVEN) : rng.pick(MALE_GIVEN);
  let middle: string | undefined;
  if (rng.chance(0.4)) middle = female ? rng.pick(FEMALE_GIVEN) : rng.pick(MALE_GIVEN);
  if (middle === given) middle = undefined;
  let family: string = mother ? mother.family : rng.pick(SURNAMES);
  const motherAddress = mother ? (mother.movedDay !== undefined && birthDay < mother.movedDay ? mother.previousAddress! : mother.address) : undefined;

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
    address: motherAddress ?? address(),
    // A baby is registered at the mother's practice within a few weeks of birth.
    registeredDay: born ? Math.min(window.end, birthDay + rng.int(7, 42)) : Math.max(birthDay, window.start - Math.floor(rng.exponential(9 * 365))),
    conditions: {},
    conditionCodes: {},
    latents,
    homeHospital: mother ? mother.homeHospital : rng.chance(0.85) ? neighbourhood.mainHospital : locality.hospitals.find((h) => h.facility !== neighbourhood.mainHospital)!.facility,
    penicillinAllergy: rng.chance(0.08),
    medicines: {},
    growth: { heightZ: rng.normal(), bmiZ: rng.normal() },
    immunisation: 'complete',
    baseline: { systolic: 0, hba1c: 0, egfr: 0, cholesterol: 0 },
    ...(mother ? { motherId: mother.personId } : {}),
  };
  const r = rng.next();
  person.immunisation = r < IMMUNISATION_COVERAGE.complete ? 'complete' : r < IMMUNISATION_COVERAGE.complete + IMMUNISATION_COVERAGE.partial ? 'partial' : 'none';

  // A surname change (marriage) for some women of that age, before or during the window.
  const ageAtStart = ageOn(birthDay, window.start);
  if (female && ageAtStart >= 20 && ageAtStart <= 45 && rng.chance(0.06)) {
    person.previousFamily = family;
    do family = rng.pick(SURNAMES);
    while (family === person.previousFamily);
    person.family = family;
    person.familyChangedDay = rng.int(window.start - 365, window.end - 30);
  }
  // A move within the locality during the window (a family moves with its baby: not modelled).
  if (!born && rng.chance(0.08)) {
    person.previousAddress = person.address;
    person.address = address();
    person.movedDay = rng.int(window.start + 30, window.end - 30);
  }

  // Long-term conditions, with an onset date before or during the window, never before the minimum age.
  for (const spec of CONDITIONS) {
    if (ageAtEnd < spec.minAge) continue;
    const p = sigmoid(conditionIntercepts()[spec.key] + conditionLogit(spec, ageAtEnd, !female, latents, person.conditions));
    if (!rng.chance(p)) continue;
    const earliest = Math.max(addYears(birthDay, spec.minAge), spec.key === 'learningDisability' ? birthDay : window.start - 20 * 365);
    // Palliative care starts late; otherwise about one case in six is diagnosed during the window.
    const duringWindow = spec.key === 'palliative' ? rng.chance(0.75) : rng.chance(0.17);
    let onset: number;
    if (duringWindow || earliest >= window.start) onset = rng.int(Math.max(earliest, window.start), Math.max(Math.max(earliest, window.start), window.end - 14));
    else onset = rng.int(earliest, window.start - 1);
    person.conditions[spec.key] = onset;
    person.conditionCodes[spec.key] = conditionCode(spec, sex, rng);
  }

  if (ageAtEnd >= 16) {
    const r2 = rng.next();
    if (person.conditions.copd !== undefined) person.smoking = r2 < 0.45 ? 'current' : 'ex';
    else person.smoking = r2 < 0.13 + 0.05 * latents.resp ? 'current' : r2 < 0.36 + (ageAtEnd > 50 ? 0.12 : 0) ? 'ex' : 'never';
  }

  // Baseline measurements that later observations vary around.
  const age = Math.max(ageAtStart, 0);
  const has = (k: ConditionKey) => person.conditions[k] !== undefined;
  if (has('diabetes') && person.conditionCodes.diabetes!.code !== TYPE1_CODE) person.growth.bmiZ = Math.abs(person.growth.bmiZ) * 0.8 + 0.9;
  person.baseline = {
    systolic: 116 + 0.4 * Math.max(0, age - 30) + (has('hypertension') ? 14 : 0) + rng.normal(0, 9),
    hba1c: has('diabetes') ? Math.min(120, Math.max(40, rng.normal(58, 12))) : rng.normal(37, 3.5),
    egfr: has('ckd') ? Math.min(59, Math.max(16, rng.normal(46, 10))) : Math.min(125, 112 - 0.75 * Math.max(0, age - 30) + rng.normal(0, 9)),
    cholesterol: Math.max(2.5, rng.normal(5.1, 0.9)),
  };

  // Repeat medicines follow from the conditions (each justified by one, codes/indications.csv),
  // one medicine per therapeutic class; polypharmacy rises with the number of conditions.
  const byCondition = medicineData.byCondition as unknown as Record<string, [string, number][]>;
  const classes = new Set<string>();
  for (const key of CONDITION_KEYS) {
    const onset = person.conditions[key];
    if (onset === undefined) continue;
    const indication = key === 'diabetes' ? (person.conditionCodes.diabetes!.code === TYPE1_CODE ? 'diabetesType1' : 'diabetesType2') : key;
    for (const [med, prob] of byCondition[indication] ?? []) {
      if (!rng.chance(prob)) continue;
      const rule = MEDICINE_RULES[med];
      if (!rule || !rule.indications.includes(indication)) continue;
      const start = onset + rng.int(0, 60);
      if (person.medicines[med] !== undefined) {
        if (start < person.medicines[med]!) person.medicines[med] = start;
        continue;
      }
      if (classes.has(rule.class)) continue;
      classes.add(rule.class);
      person.medicines[med] = start;
    }
  }
  return person;
}

function conditionCode(spec: ConditionSpec, sex: 'male' | 'female', rng: Random): Coded {
  const sub = (conditionData.subtypes as Record<string, unknown>)[spec.key];
  if (Array.isArray(sub)) {
    const options = (sub as { code: string; display: string; sex?: string; weight: number }[]).filter((s) => !s.sex || s.sex === sex);
    const pick = options[rng.weighted(options.map((s) => s.weight))]!;
    return { code: pick.code, display: pick.display };
  }
  if (sub && rng.chance((sub as { share: number }).share)) return { code: (sub as Coded).code, display: (sub as Coded).display };
  return { code: spec.code, display: spec.display };
}

// ---------------------------------------------------------------------------------------------
// History

export type ObservationKey = 'hba1c' | 'egfr' | 'cholesterol' | 'bloodPressure' | 'weight' | 'height' | 'haemoglobin' | 'potassium' | 'creatinine' | 'crp';

export interface Moment {
  day: number;
  minute: number;
}

export interface Spell extends Moment {
  kind: 'emergency' | 'elective' | 'maternity';
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
  /** Ward code (PV1-3 point of care) where the service has its own wards (maternity, mental health). */
  ward?: string;
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
  /** The reference range the laboratory applies for the person's age and sex. */
  low?: number;
  high?: number;
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
  key: 'bloodPressure' | 'weight' | 'height';
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

/** A contact with a community mental health team. */
export interface MentalHealthContact extends Moment {
  team: string;
  serviceLine: 'Severe mental illness' | 'Dementia and memory' | 'Learning disability';
  contactType: 'Face to face' | 'Telephone' | 'Video';
  cpa: boolean;
  coordinator: string;
  coordinatorRole: string;
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

export interface Immunisation {
  /** Key into codes/immunisations.json (`influenza` or a childhood schedule dose). */
  key: string;
  day: number;
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
  /** Inpatient stays at the mental health trust. */
  mentalHealthSpells: Spell[];
  attendances: Attendance[];
  labs: LabTest[];
  gpEncounters: GpEncounter[];
  gpObservations: GpObservation[];
  /** Medicine key and the day of each repeat issue. */
  issues: { med: string; day: number }[];
  procedures: { key: 'medicationReview' | 'diabeticFootExamination' | 'spirometry' | 'palliativeCare'; day: number }[];
  immunizations: Immunisation[];
  frailtyRecorded?: number;
  community: CommunityContact[];
  mentalHealth: MentalHealthContact[];
  assessments: SocialCareAssessment[];
  packages: CarePackage[];
  /** Babies delivered (the day), each a new person in the locality. */
  births: number[];
}

/** Log-odds added to emergency admission risk by each long-term condition. */
const ADMISSION_WEIGHTS: Record<ConditionKey, number> = {
  hypertension: 0.1, diabetes: 0.3, chd: 0.4, heartFailure: 0.9, ckd: 0.4, asthma: 0.25, copd: 0.85, dementia: 0.6,
  depression: 0.25, smi: 0.5, learningDisability: 0.45, cancer: 0.5, hypothyroidism: 0.05, osteoarthritis: 0.1, palliative: 1.2,
};
const ADMISSION_INTERCEPT = -3.36;

const SERVICES_BY_CONDITION: [ConditionKey, string][] = [
  ['diabetes', 'DIA'], ['chd', 'CAR'], ['heartFailure', 'CAR'], ['copd', 'RES'], ['asthma', 'RES'], ['ckd', 'REN'],
  ['cancer', 'ONC'], ['dementia', 'GER'], ['osteoarthritis', 'TOR'],
];

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

/** Days a person is in a bed (any hospital, any trust), so that no two stays overlap and nothing else happens during one. */
class BedDays {
  private stays: [number, number][] = [];
  /** True when [from, to] (inclusive days) touches no existing stay. */
  free(from: number, to: number): boolean {
    for (const [a, b] of this.stays) if (from <= b && to >= a) return false;
    return true;
  }
  book(from: number, to: number): void {
    this.stays.push([from, to]);
  }
  /** True when the day falls inside a stay. */
  inStay(day: number): boolean {
    for (const [a, b] of this.stays) if (day >= a && day <= b) return true;
    return false;
  }
}

/** The last day a spell occupies a bed: its discharge (one day later if cancelled and re-entered), or open. */
function bedUntil(s: Spell): number {
  return s.discharge ? s.discharge.day : Infinity;
}

const CARE_COORDINATOR_ROLES = ['Community Psychiatric Nurse', 'Social Worker', 'Occupational Therapist'];

/** Simulates one person's use of services over the window. */
export function simulateHistory(person: Person, rng: Random, window: SimWindow, locality: Locality): History {
  const h: History = { years: [], spells: [], mentalHealthSpells: [], attendances: [], labs: [], gpEncounters: [], gpObservations: [], issues: [], procedures: [], immunizations: [], community: [], mentalHealth: [], assessments: [], packages: [], births: [] };
  const otherHospital = locality.hospitals.find((x) => x.facility !== person.homeHospital)!.facility;
  const facility = () => (rng.chance(0.9) ? person.homeHospital : otherHospital);
  const has = (k: ConditionKey, day: number) => (person.conditions[k] ?? Infinity) <= day;
  const beds = new BedDays();
  const sex = person.sex;

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
      priorAe = rng.poisson(aeRate(age, p)) + priorEm;
    }
  }

  let openPackage: CarePackage | undefined;
  let everAssessed = false;
  let lastDelivery = -Infinity;
  let coordinator: { name: string; role: string } | undefined;

  // Death is decided year by year first, so that nothing is placed after it.
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
    let q = sigmoid(-10.75 + 0.092 * age + 0.45 * (hasK('heartFailure') ? 1 : 0) + 0.45 * (hasK('copd') ? 1 : 0) + 0.6 * (hasK('cancer') ? 1 : 0) + 0.5 * (hasK('dementia') ? 1 : 0) + 1.5 * frailty);
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
    const ageOnDay = (d: number) => ageOn(person.birthDay, d);
    /** A service for this person on a day: the preferred one if it admits them, else a general one that does. */
    const serviceFor = (preferred: string | undefined, d: number) => {
      const a = ageOnDay(d);
      if (preferred && serviceAdmits(preferred, sex, a)) return preferred;
      const general = generalServicesFor(sex, a);
      return rng.pick(general);
    };

    // Pregnancy and birth: a maternity spell, antenatal appointments, and a baby.
    if (sex === 'female' && rng.chance(fertilityRate(age))) {
      const d = dayIn();
      if (d - lastDelivery > 400 && ageOnDay(d) >= 15 && ageOnDay(d) <= 49) {
        const los = rng.chance(0.55) ? rng.int(0, 1) : rng.chance(0.6) ? 2 : rng.int(3, 4);
        let discharge = Math.min(d + los, lastDay);
        if (beds.free(d - 1, discharge + 1)) {
          lastDelivery = d;
          const fac = person.homeHospital;
          const minute = randomMinute(rng, 0, 1200);
          let dischargeMinute = discharge === d ? minute + rng.int(240, 600) : randomMinute(rng, 600, 1200);
          if (dischargeMinute > 1439) {
            if (d + 1 <= lastDay) [discharge, dischargeMinute] = [d + 1, 600];
            else dischargeMinute = 1439;
          }
          const spell: Spell = { kind: 'maternity', day: d, minute, facility: fac, diedInHospital: false, dischargeCancelled: false, admitEnteredInError: false, service: 'OBS', ward: 'LABOUR' };
          if (discharge <= window.end) spell.discharge = { day: discharge, minute: dischargeMinute };
          beds.book(d, bedUntil(spell));
          h.spells.push(spell);
          h.births.push(d);
          // Booking (about 10 weeks), the anomaly scan (20 weeks) and a late review (36 weeks).
          for (const before of [210, 140, 28]) {
            const ad = d - before + rng.int(-5, 5);
            if (ad >= window.start && ad >= person.registeredDay - 300 && !beds.inStay(ad)) {
              const m = 540 + 15 * rng.int(0, 28);
              h.attendances.push({ kind: 'outpatient', day: ad, minute: m, facility: fac, service: 'OBS', leave: { day: ad, minute: m + rng.int(15, 45) } });
            }
          }
        }
      }
    }

    // Emergency admissions: sampled from the recorded probability, then counted.
    const admitted = p > 0 && rng.chance(p);
    const nEm = admitted ? 1 + rng.poisson(0.2 + 1.0 * p) : 0;
    const emDays = Array.from({ length: nEm }, dayIn).sort((a, b) => a - b);
    const meanLos = 2.8 + 0.087 * Math.max(0, age - 50) + 6.5 * frailty;
    let aeCount = 0;
    let previousEnd = -Infinity;
    emDays.forEach((d, i) => {
      const los = rng.chance(0.2) ? 0 : Math.min(120, Math.ceil(rng.exponential(meanLos)));
      let admitDay = Math.max(d, previousEnd + 1);
      let diesHere = h.deathDay !== undefined && i === emDays.length - 1 && rng.chance(0.55);
      if (diesHere) {
        const at = Math.max(from, h.deathDay! - los, previousEnd + 1);
        if (at <= h.deathDay! && beds.free(at, h.deathDay!)) admitDay = at;
        else diesHere = false;
      }
      if (admitDay > lastDay) return;
      let dischargeDay = diesHere ? h.deathDay! : admitDay + los;
      if (h.deathDay !== undefined && dischargeDay >= h.deathDay) {
        dischargeDay = h.deathDay;
        diesHere = true;
      }
      // Another stay (maternity, mental health) in the way: the admission comes after it, or not at all.
      if (!beds.free(admitDay, dischargeDay > window.end ? Infinity : dischargeDay)) return;
      const viaAe = rng.chance(0.78);
      if (viaAe) aeCount++;
      const arrival = randomMinute(rng, 0, 1439);
      const admitMinute = viaAe ? Math.min(1439, arrival + rng.int(120, 420)) : arrival;
      const admitOn = admitDay;
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
          const a = ageOnDay(admitOn);
          const s = SERVICES_BY_CONDITION.filter(([k]) => hasK(k));
          const preferred = s.length && rng.chance(0.6) ? rng.pick(s)[1] : a < 16 ? 'PAE' : a >= 75 ? 'GER' : 'GMED';
          return serviceAdmits(preferred, sex, a) ? preferred : a < 16 ? 'PAE' : 'GMED';
        })(),
      };
      if (spell.aeArrival && spell.aeArrival.minute < 0) spell.aeArrival.minute = 0;
      if (dischargeDay <= window.end) {
        spell.discharge = { day: dischargeDay, minute: dischargeDay === admitOn ? Math.min(1439, admitMinute + rng.int(60, 300)) : randomMinute(rng, 600, 1200) };
        if (spell.discharge.day === admitOn && spell.discharge.minute <= admitMinute) spell.discharge.minute = Math.min(1439, admitMinute + 1);
        spell.dischargeCancelled = !diesHere && dischargeDay < window.end && dischargeDay + 1 < (h.deathDay ?? Infinity) && beds.free(dischargeDay + 1, dischargeDay + 1) && rng.chance(0.01);
        if (spell.dischargeCancelled) spell.discharge = { day: dischargeDay + 1, minute: spell.discharge.minute };
      }
      if (los >= 2 && rng.chance(0.3)) spell.transfer = { day: admitOn + 1, minute: randomMinute(rng, 480, 1200) };
      previousEnd = bedUntil(spell);
      beds.book(admitOn, previousEnd);
      h.spells.push(spell);
      // Admission bloods.
      h.labs.push(admissionBloods(rng, person, spell));
    });
    h.years.push({ label: year.label, admissionProbability: p, emergencyAdmissions: h.spells.filter((s) => s.kind === 'emergency' && s.day >= year.start && s.day < year.end).length });
    // Only years the person was alive at the start count in the truth; a birth mid-year has p = 0.
    if (person.birthDay > year.start) h.years.pop();

    // Elective admissions (about four in five are day cases), never during another stay.
    const nEl = rng.poisson(0.065 + 0.0036 * Math.max(0, age - 40) + (hasK('cancer') ? 0.43 : 0) + 0.043 * active.length);
    for (let i = 0; i < nEl; i++) {
      const day = dayIn();
      const los = rng.chance(0.78) ? 0 : rng.int(1, 6);
      let dd = Math.min(day + los, h.deathDay ?? Infinity);
      if (!beds.free(day, dd > window.end ? Infinity : dd)) continue;
      const minute = randomMinute(rng, 420, 660);
      const cancerOnc = hasK('cancer') && age >= 16 && rng.chance(0.5);
      const spell: Spell = {
        kind: 'elective', day, minute, facility: facility(), diedInHospital: h.deathDay !== undefined && dd === h.deathDay, dischargeCancelled: false, admitEnteredInError: false,
        service: cancerOnc ? 'ONC' : serviceFor(undefined, day),
      };
      if (dd <= window.end) spell.discharge = { day: dd, minute: dd === day ? minute + rng.int(120, 480) : randomMinute(rng, 600, 1080) };
      beds.book(day, bedUntil(spell));
      h.spells.push(spell);
    }

    // Mental health inpatient stays (acute adult, older adult and learning disability wards).
    const mhAdmit = (hasK('smi') ? 0.07 : 0) + (hasK('dementia') ? 0.012 : 0) + (hasK('learningDisability') && age >= 18 ? 0.006 : 0) + (hasK('depression') ? 0.002 : 0);
    if (age >= 18 && rng.chance(mhAdmit)) {
      const day = dayIn();
      const los = Math.min(240, 1 + Math.ceil(rng.exponential(hasK('dementia') ? 55 : hasK('learningDisability') && !hasK('smi') ? 80 : 35)));
      let dd = Math.min(day + los, h.deathDay ?? Infinity);
      if (beds.free(day, dd > window.end ? Infinity : dd)) {
        const service = hasK('smi') || hasK('depression') ? (age >= 65 ? 'MHO' : 'MHA') : hasK('dementia') ? (age >= 55 ? 'MHO' : 'MHA') : 'LDS';
        const ward = service === 'MHA' ? rng.pick(['MOSS', 'BRAMBLE', 'ASH']) : service === 'MHO' ? 'ROWAN' : 'ATU';
        const minute = randomMinute(rng, 600, 1320);
        const spell: Spell = { kind: rng.chance(0.85) ? 'emergency' : 'elective', day, minute, facility: MENTAL_HEALTH_TRUST, diedInHospital: h.deathDay !== undefined && dd === h.deathDay, dischargeCancelled: false, admitEnteredInError: false, service, ward };
        if (dd <= window.end) spell.discharge = { day: dd, minute: dd === day ? Math.min(1439, minute + 60) : randomMinute(rng, 600, 1080) };
        if (spell.discharge && spell.discharge.day === day && spell.discharge.minute <= minute) spell.discharge.minute = Math.min(1439, minute + 1);
        beds.book(day, bedUntil(spell));
        h.mentalHealthSpells.push(spell);
      }
    }

    // A&E attendances that did not lead to admission (none while the person is in a bed).
    const nAe = rng.poisson(aeRate(age, p));
    for (let i = 0; i < nAe; i++) {
      const day = dayIn();
      if (beds.inStay(day)) continue;
      const minute = randomMinute(rng, 0, 1200);
      const fac = facility();
      h.attendances.push({ kind: 'ae', day, minute, facility: fac, service: 'AE', leave: { day, minute: minute + rng.int(60, 239) } });
      if (rng.chance(age < 16 ? 0.12 : 0.35)) h.labs.push(hospitalPanel(rng, person, { day, minute: minute + 45 }, fac, ['ue', 'fbc', 'crp']));
    }
    priorEm = nEm;
    priorAe = nAe + aeCount;

    // Outpatient attendances: a few people (cancer, several conditions, older) have many follow-ups.
    const nOp = rng.poisson(1.05 + 0.8 * active.length + 0.037 * Math.max(0, age - 40) + (hasK('cancer') ? 6 : 0) + (hasK('ckd') ? 1.5 : 0) + (age < 1 ? 0.9 : 0));
    for (let i = 0; i < nOp; i++) {
      const day = dayIn();
      if (beds.inStay(day)) continue;
      const minute = 540 + 15 * rng.int(0, 28);
      const s = SERVICES_BY_CONDITION.filter(([k]) => hasK(k));
      const preferred = s.length && rng.chance(0.7) ? rng.pick(s)[1] : undefined;
      h.attendances.push({ kind: 'outpatient', day, minute, facility: facility(), service: serviceFor(preferred, day), leave: { day, minute: minute + rng.int(15, 45) } });
    }

    // GP consultations (all staff, all modes: NHS Digital "Appointments in General Practice").
    const nGp = rng.poisson(4.35 + 1.0 * active.length + 0.035 * Math.max(0, age - 50) + 3 * frailty + (age < 5 ? 2.2 : 0) + (sex === 'female' && age >= 16 && age <= 60 ? 0.8 : 0));
    for (let i = 0; i < nGp; i++) {
      const day = dayIn();
      if (beds.inStay(day) || day < person.registeredDay) continue;
      const r = rng.next();
      const homeShare = frailty > 0.3 ? 0.3 : 0.03;
      h.gpEncounters.push({ day, minute: 480 + 10 * rng.int(0, 56), kind: r < homeShare ? 'homeVisit' : r < homeShare + 0.3 ? 'telephone' : 'faceToFace' });
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
        const d = dayIn();
        h.gpObservations.push({ key: 'weight', day: d, minute: 480 + 10 * rng.int(0, 56), values: [weightOn(person, d, rng)] });
      }
      const gpBloods = (panel: string) => {
        const t = { day: dayIn(), minute: 480 + 10 * rng.int(0, 30) };
        const lab = hospitalPanel(rng, person, t, person.homeHospital, [panel]);
        lab.gp = true;
        lab.hospital = rng.chance(0.7);
        lab.requestedBy = 'gp';
        h.labs.push(lab);
        // Now and then the hospital repeats a test the practice has just done (a duplicate test).
        if (panel === 'hba1c' && rng.chance(0.04) && t.day + 60 <= lastDay) {
          const dup = hospitalPanel(rng, person, { day: t.day + rng.int(7, 60), minute: 600 }, facility(), ['hba1c']);
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

    // Repeat prescriptions, reviews, flu immunisation.
    const medsNow = Object.entries(person.medicines).filter(([, start]) => start! <= lastDay);
    for (const [med, start] of medsNow) h.issues.push({ med, day: rng.int(Math.max(from, start!), lastDay) });
    if (medsNow.length >= 4 && rng.chance(0.8)) h.procedures.push({ key: 'medicationReview', day: dayIn() });
    if (hasK('diabetes') && rng.chance(0.75)) h.procedures.push({ key: 'diabeticFootExamination', day: dayIn() });
    if ((hasK('copd') || hasK('asthma')) && rng.chance(0.15)) h.procedures.push({ key: 'spirometry', day: dayIn() });
    if (palliativeOnset !== undefined && palliativeOnset >= year.start && palliativeOnset < year.end && palliativeOnset <= lastDay) h.procedures.push({ key: 'palliativeCare', day: palliativeOnset });
    if ((age >= 65 && rng.chance(0.75)) || (age >= 18 && active.length > 0 && rng.chance(0.45))) {
      const d = Math.min(lastDay, year.start + rng.int(270, 355));
      if (d >= from) h.immunizations.push({ key: 'influenza', day: d });
    }
    if (frailty > 0.3 && h.frailtyRecorded === undefined) h.frailtyRecorded = dayIn();

    // Community nursing and therapy: mostly older, frail or palliative people, and after discharge.
    const communityNeed = Math.max(0, frailty - 0.18) * 40 + (hasK('palliative') ? 20 : 0) + (hasK('heartFailure') ? 2 : 0) + (hasK('copd') ? 1.5 : 0);
    const nCommunity = rng.poisson(communityNeed * (age >= 65 ? 1 : 0.4)) + (age >= 18 && rng.chance(0.01) ? rng.int(3, 6) : 0);
    for (let i = 0; i < nCommunity; i++) {
      const d = dayIn();
      if (!beds.inStay(d)) h.community.push(communityContact(rng, d, { palliative: hasK('palliative'), heartFailure: hasK('heartFailure'), copd: hasK('copd'), frailty }));
    }
    for (const s of h.spells) {
      if (s.kind === 'emergency' && s.discharge && s.day >= year.start && s.day < year.end && age >= 75 && !s.diedInHospital && rng.chance(0.5)) {
        const n = rng.int(2, 6);
        for (let i = 0; i < n; i++) {
          const d = s.discharge.day + rng.int(1, 30);
          if (d <= Math.min(lastDay + 30, window.end) && (h.deathDay === undefined || d < h.deathDay) && !beds.inStay(d)) h.community.push(communityContact(rng, d, { palliative: false, heartFailure: false, copd: false, frailty }));
        }
      }
    }

    // Community mental health: SMI (early intervention or the community team), memory service, learning disability team.
    if (age >= 18) {
      let team: string | undefined;
      let serviceLine: MentalHealthContact['serviceLine'] = 'Severe mental illness';
      let n = 0;
      let cpa = false;
      const smiOnset = person.conditions.smi;
      if (hasK('smi') && rng.chance(0.75)) {
        team = smiOnset! > from - 3 * 365 && age < 65 ? 'Early Intervention in Psychosis' : age >= 65 ? 'Older Adult Community Mental Health Team' : 'Trafford Community Mental Health Team';
        n = 1 + rng.poisson(9);
        cpa = rng.chance(0.55);
      } else if (hasK('dementia') && (person.conditions.dementia! >= from - 365 || rng.chance(0.35))) {
        team = 'Memory Assessment Service';
        serviceLine = 'Dementia and memory';
        n = person.conditions.dementia! >= from - 365 ? rng.int(2, 4) : 1;
      } else if (hasK('learningDisability') && rng.chance(0.45)) {
        team = 'Community Learning Disability Team';
        serviceLine = 'Learning disability';
        n = 1 + rng.poisson(4);
      }
      if (team) {
        if (!coordinator || rng.chance(0.2)) coordinator = { name: `${rng.pick([...FEMALE_GIVEN, ...MALE_GIVEN])} ${rng.pick(SURNAMES)}`, role: serviceLine === 'Dementia and memory' ? 'Memory Nurse' : rng.pick(CARE_COORDINATOR_ROLES) };
        const start = serviceLine === 'Dementia and memory' ? Math.max(from, person.conditions.dementia! - 60) : from;
        for (let i = 0; i < n; i++) {
          const d = rng.int(Math.min(start, lastDay), lastDay);
          if (beds.inStay(d)) continue;
          const r = rng.next();
          h.mentalHealth.push({ day: d, minute: 540 + 15 * rng.int(0, 30), team, serviceLine, contactType: r < 0.7 ? 'Face to face' : r < 0.92 ? 'Telephone' : 'Video', cpa, coordinator: coordinator.name, coordinatorRole: coordinator.role });
        }
      }
    }

    // Social care: assessments and packages for older, frail people, dementia, learning disability, and some younger disabled adults.
    if (age >= 18) {
      const need = frailty + (hasK('dementia') ? 0.3 : 0) + (hasK('learningDisability') ? 0.35 : 0) + (hasK('palliative') ? 0.2 : 0) + (hasK('smi') ? 0.15 : 0);
      const qa = sigmoid(-6.1 + 0.05 * Math.max(0, age - 60) + 5.5 * frailty + 1.8 * (hasK('dementia') ? 1 : 0) + 3.4 * (hasK('learningDisability') ? 1 : 0) + 1.2 * (hasK('palliative') ? 1 : 0) + 1.3 * (hasK('smi') ? 1 : 0) + (person.latents.frail > 2.2 ? 2.5 : 0));
      if (rng.chance(openPackage ? Math.max(qa, 0.8) : qa)) {
        const day = dayIn();
        const review = openPackage !== undefined;
        let outcome: string;
        if (review) outcome = need > 0.55 && rng.chance(0.3) ? 'Increased support' : 'Continue current support';
        else if (need > 0.2 || rng.chance(0.55)) outcome = rng.chance(0.8) ? 'Long-term support' : 'Short-term support (reablement)';
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
            h.packages.push({ start, end: Math.min(start + 42, window.end, h.deathDay ?? Infinity), serviceType: 'Reablement', hoursPerWeek: 10, weeklyCost: 0, provider: 'Trafford Reablement Service' });
          }
        }
      }
    }
  }

  // Childhood immunisations on the UK schedule, given a little after the due age.
  if (person.immunisation !== 'none') {
    const lastAlive = Math.min(window.end, (h.deathDay ?? Infinity) - 1);
    for (const dose of CHILDHOOD_SCHEDULE) {
      if (person.immunisation === 'partial' && !rng.chance(IMMUNISATION_COVERAGE.perDosePartial)) continue;
      const late = rng.chance(0.06) ? rng.int(30, 240) : Math.floor(rng.exponential(12));
      const day = person.birthDay + dose.ageDays + late;
      if (day < window.start || day > lastAlive || day < person.registeredDay || beds.inStay(day)) continue;
      h.immunizations.push({ key: dose.key, day });
      // The infant checks and preschool booster visit record growth.
      if (dose.key === 'dtap-ipv-hib-hepb-1' || dose.key === 'mmr-1' || dose.key === 'mmr-2') {
        const minute = 540 + 10 * rng.int(0, 40);
        h.gpObservations.push({ key: 'weight', day, minute, values: [weightOn(person, day, rng)] });
        h.gpObservations.push({ key: 'height', day, minute, values: [Math.round(heightOn(person, day) * 10) / 10] });
      }
    }
  }

  if (h.deathDay !== undefined && openPackage && openPackage.end === undefined) openPackage.end = h.deathDay;
  // Social care records the death: the case is closed on the date of death.
  if (h.deathDay !== undefined && (h.assessments.length > 0 || h.packages.length > 0)) h.assessments.push({ day: h.deathDay, type: 'Case closure', outcome: 'Died' });
  // Follow-up contacts planned in one year for the next stop at a death there.
  if (h.deathDay !== undefined) h.community = h.community.filter((c) => c.day <= h.deathDay!);
  // Nothing is diagnosed or started after death: onsets and first prescriptions later than it are dropped.
  if (h.deathDay !== undefined) {
    for (const k of CONDITION_KEYS) if ((person.conditions[k] ?? -Infinity) > h.deathDay) delete person.conditions[k];
    for (const [m, start] of Object.entries(person.medicines)) if (start! > h.deathDay) delete person.medicines[m];
  }
  return h;
}

/** Yearly rate of A&E attendances not followed by admission. */
function aeRate(age: number, p: number): number {
  return 0.14 + 1.1 * p + (age >= 16 && age <= 30 ? 0.08 : 0) + (age < 5 ? 0.16 : 0);
}

/** Height in cm on a day, from the growth reference and the person's own centile. */
export function heightOn(person: Person, day: number): number {
  return heightFor(person.sex, Math.max(0, (day - person.birthDay) / 365.25), person.growth.heightZ);
}

/** Weight in kg on a day: BMI for age on the person's centile, times height squared, with day-to-day variation. */
export function weightOn(person: Person, day: number, rng: Random): number {
  const years = Math.max(0, (day - person.birthDay) / 365.25);
  const hm = heightOn(person, day) / 100;
  const bmi = bmiFor(person.sex, years, person.growth.bmiZ) * (1 + rng.normal(0, 0.015));
  const kg = bmi * hm * hm;
  return Math.round(kg * (kg < 20 ? 100 : 10)) / (kg < 20 ? 100 : 10);
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

/** A result drawn for the person's age and sex: adults around their own baseline, children around the paediatric mean. */
function labValue(rng: Random, person: Person, key: ObservationKey, ageDays: number): number {
  const b = person.baseline;
  const range = referenceRange(key, person.sex, ageDays);
  const adult = ageDays >= 6570;
  switch (key) {
    case 'hba1c':
      return Math.round(Math.max(25, b.hba1c + rng.normal(0, 5)));
    case 'egfr':
      return Math.round(Math.max(8, Math.min(120, b.egfr + rng.normal(0, 5))));
    case 'cholesterol':
      return Math.round(Math.max(2, b.cholesterol - (person.medicines.atorvastatin !== undefined || person.medicines.simvastatin !== undefined ? 1.1 : 0) + rng.normal(0, 0.4)) * 10) / 10;
    case 'creatinine':
      if (adult) return Math.round(Math.max(30, (person.sex === 'male' ? 7400 : 6200) / Math.max(10, b.egfr) + rng.normal(0, 6)));
      return Math.round(Math.max(8, rng.normal(range!.mean!, range!.sd!)));
    case 'potassium':
      return Math.round(rng.normal(range!.mean!, range!.sd!) * 10) / 10;
    case 'haemoglobin':
      return Math.round(rng.normal(range!.mean!, range!.sd!) - (adult && person.conditions.ckd !== undefined ? 10 : 0));
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

function hospitalPanel(rng: Random, person: Person, t: Moment, facility: string, panels: string[]): LabTest {
  const results: LabResult[] = [];
  const ageDays = t.day - person.birthDay;
  const years = ageOn(person.birthDay, t.day);
  for (const panel of panels) {
    for (const key of PANELS[panel]!) {
      if (!reportedAt(key, years)) continue;
      const range = referenceRange(key, person.sex, ageDays);
      results.push({ key, value: labValue(rng, person, key, ageDays), ...(range?.low !== undefined ? { low: range.low } : {}), ...(range?.high !== undefined ? { high: range.high } : {}) });
    }
  }
  return { day: t.day, minute: Math.min(1439, t.minute), panel: panels.join('+'), results, gp: false, hospital: true, facility, requestedBy: 'hospital' };
}

function admissionBloods(rng: Random, person: Person, spell: Spell): LabTest {
  const t = spell.aeArrival ? { day: spell.aeArrival.day, minute: spell.aeArrival.minute + 40 } : { day: spell.day, minute: spell.minute + 30 };
  return hospitalPanel(rng, person, t, spell.facility, ['ue', 'fbc', 'crp']);
}
