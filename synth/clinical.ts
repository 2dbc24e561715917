/**
 * Clinical rules the generator obeys, read from the code lists in ./codes (data, not code):
 * which hospital services admit whom (sex, age), which conditions justify each medicine and its
 * therapeutic class, laboratory reference ranges by age and sex, growth references for height
 * and weight, and the UK immunisation schedule. Pure functions; the coherence test checks the
 * generator's output against the same tables.
 */
import { readFileSync } from 'node:fs';
import growthData from './codes/growth.json' with { type: 'json' };
import immunisationData from './codes/immunisations.json' with { type: 'json' };
import rangeData from './codes/reference-ranges.json' with { type: 'json' };
import serviceData from './codes/services.json' with { type: 'json' };

export type Sex = 'male' | 'female';

// ---------------------------------------------------------------------------------------------
// Hospital services

interface ServiceRule {
  name: string;
  sex?: Sex;
  minAge: number;
  maxAge: number;
}
export const SERVICES = serviceData.services as Record<string, ServiceRule>;
export const GENERAL_SERVICES = serviceData.general;
export const CHILD_SERVICES = serviceData.children;

/** True when the service sees people of this sex and age (whole years). */
export function serviceAdmits(service: string, sex: Sex, age: number): boolean {
  const r = SERVICES[service];
  if (!r) return false;
  return (!r.sex || r.sex === sex) && age >= r.minAge && age < r.maxAge;
}

/** The general services a person of this sex and age can be referred to. */
export function generalServicesFor(sex: Sex, age: number): string[] {
  return (age < 16 ? CHILD_SERVICES : GENERAL_SERVICES).filter((s) => serviceAdmits(s, sex, age));
}

// ---------------------------------------------------------------------------------------------
// Medicines: indication and class (codes/indications.csv)

export interface MedicineRule {
  medicine: string;
  class: string;
  /** Condition keys (diabetes split into diabetesType1 and diabetesType2) any one of which justifies it. */
  indications: string[];
}

/** Parses indications.csv (three plain columns, `|` between indications; no quoting needed). */
function loadIndications(): Record<string, MedicineRule> {
  const text = readFileSync(new URL('./codes/indications.csv', import.meta.url), 'utf8');
  const out: Record<string, MedicineRule> = {};
  for (const line of text.split(/\r?\n/).slice(1)) {
    if (!line.trim()) continue;
    const [medicine, cls, indications] = line.split(',');
    out[medicine!] = { medicine: medicine!, class: cls!, indications: indications!.split('|') };
  }
  return out;
}
export const MEDICINE_RULES = loadIndications();

// ---------------------------------------------------------------------------------------------
// Laboratory reference ranges

interface RangeRow {
  sex?: string;
  minAgeDays: number;
  maxAgeDays: number;
  low?: number;
  high?: number;
  mean?: number;
  sd?: number;
}
const RANGES = rangeData.ranges as Record<string, RangeRow[]>;
const ADULT_ONLY = new Set(rangeData.adultOnly);

/** The reference range row a laboratory applies to a person of this sex and age in days. */
export function referenceRange(test: string, sex: Sex, ageDays: number): RangeRow | undefined {
  return RANGES[test]?.find((r) => (!r.sex || r.sex === sex) && ageDays >= r.minAgeDays && ageDays < r.maxAgeDays);
}

/** True when the laboratory reports this test at this age (eGFR, HbA1c and lipids only for adults). */
export function reportedAt(test: string, ageYears: number): boolean {
  return ageYears >= 18 || !ADULT_ONLY.has(test);
}

/** Printable range as OBX-7 carries it: `low-high`, `<high` or `>low`. */
export function rangeText(r: RangeRow | undefined): string {
  if (!r) return '';
  if (r.low !== undefined && r.high !== undefined) return `${r.low}-${r.high}`;
  if (r.high !== undefined) return `<${r.high}`;
  if (r.low !== undefined) return `>${r.low}`;
  return '';
}

// ---------------------------------------------------------------------------------------------
// Growth: height and BMI for age, each person on their own centile

type GrowthTable = { ages: number[]; height: number[]; bmi: number[] };
const GROWTH = growthData as unknown as Record<Sex, GrowthTable> & { sdHeight: number; sdBmiChild: number; sdBmiAdult: number; bmiRange: [number, number] };

function interpolate(xs: number[], ys: number[], x: number): number {
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) {
      const t = (x - xs[i - 1]!) / (xs[i]! - xs[i - 1]!);
      return ys[i - 1]! + t * (ys[i]! - ys[i - 1]!);
    }
  }
  return ys[ys.length - 1]!;
}

/** Height in cm at an age in (fractional) years, for a person at height z-score `z`. */
export function heightFor(sex: Sex, ageYears: number, z: number): number {
  return interpolate(GROWTH[sex].ages, GROWTH[sex].height, ageYears) * (1 + GROWTH.sdHeight * Math.max(-3, Math.min(3, z)));
}

/** Body mass index at an age, for a person at BMI z-score `z` (log-normal around the median). */
export function bmiFor(sex: Sex, ageYears: number, z: number): number {
  const sd = ageYears < 18 ? GROWTH.sdBmiChild : GROWTH.sdBmiAdult;
  const v = interpolate(GROWTH[sex].ages, GROWTH[sex].bmi, ageYears) * Math.exp(sd * Math.max(-3, Math.min(3.5, z)));
  return Math.max(GROWTH.bmiRange[0], Math.min(GROWTH.bmiRange[1], v));
}

/** The plausible band the coherence test holds weights to: BMI 11–60 on the growth height ±4 SD. */
export function plausibleWeight(sex: Sex, ageYears: number, kg: number): boolean {
  const hLo = heightFor(sex, ageYears, -4) / 100;
  const hHi = heightFor(sex, ageYears, 4) / 100;
  return kg >= GROWTH.bmiRange[0] * hLo * hLo * 0.9 && kg <= GROWTH.bmiRange[1] * hHi * hHi * 1.1;
}

// ---------------------------------------------------------------------------------------------
// Immunisations

export interface ScheduledDose {
  key: string;
  ageDays: number;
  code: string;
  display: string;
  dose: number;
}
export const CHILDHOOD_SCHEDULE = immunisationData.childhood as ScheduledDose[];
export const INFLUENZA_VACCINE = immunisationData.influenza;
export const IMMUNISATION_COVERAGE = immunisationData.coverage;
export const VACCINES: Record<string, { code: string; display: string; dose?: number }> = {
  influenza: INFLUENZA_VACCINE,
  ...Object.fromEntries(CHILDHOOD_SCHEDULE.map((d) => [d.key, d])),
};
