// Measures for variation monitoring as data (analytics/spc/measures.json): each names its
// polarity, unit, the clinical panel's tolerance band and, for a panel aim, a target and a date.
import { readFileSync } from 'node:fs';
import { ENCOUNTER_KINDS, type EncounterKind } from '../cohorts/definition.ts';
import { xmrChart, type Point, type Polarity, type Tolerance, type XmrChart } from './xmr.ts';

/**
 * How a measure's monthly series is computed from the store (analytics/dashboards/series.ts):
 * `register` — the people on a register at the end of each month (`of`: as a percentage of the
 * people on another register then); `activity` — encounters of a kind in each month (of the people
 * on a register today, when `register` names one; of one service type; `per`: per N registered people).
 */
export type SeriesDefinition =
  | { register: string; of?: string }
  | { activity: Exclude<EncounterKind, 'any'>; register?: string; serviceTypes?: string[]; per?: number };

export interface MeasureDefinition {
  id: string;
  title: string;
  panel: string;
  unit: string;
  polarity: Polarity;
  tolerance?: Tolerance;
  /** A panel aim: the value to reach and by when (ISO date). */
  aim?: { target: number; by: string; statement: string };
  /** How the series is computed from the store; a measure without one is charted from series given. */
  series?: SeriesDefinition;
}

const POLARITIES: readonly Polarity[] = ['higher-is-better', 'lower-is-better', 'neither'];
const FIELDS = new Set(['id', 'title', 'panel', 'unit', 'polarity', 'tolerance', 'aim', 'series']);
const NAME = /^[a-z0-9][a-z0-9-]{0,79}$/;
const CODE = /^[A-Za-z0-9._-]{1,64}$/;

/** Validates a list of measure definitions, naming each problem. */
export function parseMeasures(input: unknown): MeasureDefinition[] {
  if (!Array.isArray(input)) throw new TypeError('measures: expected a JSON array');
  const errors: string[] = [];
  const seen = new Set<string>();
  input.forEach((m: Record<string, unknown>, i) => {
    const at = `measures[${i}]`;
    if (typeof m !== 'object' || m === null) return void errors.push(`${at}: expected an object`);
    for (const k of Object.keys(m)) if (!FIELDS.has(k)) errors.push(`${at}: unknown field "${k}"`);
    for (const k of ['id', 'title', 'panel', 'unit']) if (typeof m[k] !== 'string' || m[k] === '') errors.push(`${at}.${k}: expected a non-empty string`);
    if (typeof m.id === 'string') {
      if (seen.has(m.id)) errors.push(`${at}.id: duplicate "${m.id}"`);
      seen.add(m.id);
    }
    if (!POLARITIES.includes(m.polarity as Polarity)) errors.push(`${at}.polarity: expected one of ${POLARITIES.join(', ')}`);
    if (m.tolerance !== undefined) {
      const t = m.tolerance as Record<string, unknown>;
      if (typeof t !== 'object' || t === null) errors.push(`${at}.tolerance: expected an object`);
      else {
        for (const k of Object.keys(t)) if (k !== 'lower' && k !== 'upper') errors.push(`${at}.tolerance: unknown field "${k}"`);
        for (const k of ['lower', 'upper']) if (t[k] !== undefined && typeof t[k] !== 'number') errors.push(`${at}.tolerance.${k}: expected a number`);
        if (typeof t.lower === 'number' && typeof t.upper === 'number' && t.lower > t.upper) errors.push(`${at}.tolerance: lower is above upper`);
      }
    }
    if (m.aim !== undefined) {
      const a = m.aim as Record<string, unknown>;
      if (typeof a !== 'object' || a === null) errors.push(`${at}.aim: expected an object`);
      else {
        if (typeof a.target !== 'number') errors.push(`${at}.aim.target: expected a number`);
        if (typeof a.by !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(a.by)) errors.push(`${at}.aim.by: expected a date YYYY-MM-DD`);
        if (typeof a.statement !== 'string') errors.push(`${at}.aim.statement: expected a string`);
      }
    }
    if (m.series !== undefined) checkSeries(m.series, `${at}.series`, errors);
  });
  if (errors.length) throw new TypeError(errors.join('; '));
  return input as MeasureDefinition[];
}

function checkSeries(v: unknown, at: string, errors: string[]): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return void errors.push(`${at}: expected an object`);
  const s = v as Record<string, unknown>;
  const name = (k: string) => {
    if (s[k] !== undefined && (typeof s[k] !== 'string' || !NAME.test(s[k] as string))) errors.push(`${at}.${k}: expected a register name (lower case letters, digits, -)`);
  };
  if ('activity' in s) {
    for (const k of Object.keys(s)) if (!['activity', 'register', 'serviceTypes', 'per'].includes(k)) errors.push(`${at}: unknown field "${k}"`);
    const kinds = ENCOUNTER_KINDS.filter((k) => k !== 'any');
    if (!(kinds as readonly unknown[]).includes(s.activity)) errors.push(`${at}.activity: expected one of ${kinds.join(', ')}`);
    name('register');
    if (s.serviceTypes !== undefined && (!Array.isArray(s.serviceTypes) || !s.serviceTypes.length || !s.serviceTypes.every((c) => typeof c === 'string' && CODE.test(c)))) errors.push(`${at}.serviceTypes: expected a non-empty list of codes`);
    if (s.per !== undefined && (typeof s.per !== 'number' || !Number.isInteger(s.per) || s.per < 1)) errors.push(`${at}.per: expected a whole number from 1`);
  } else if ('register' in s) {
    for (const k of Object.keys(s)) if (k !== 'register' && k !== 'of') errors.push(`${at}: unknown field "${k}"`);
    name('register');
    name('of');
  } else errors.push(`${at}: expected "register" or "activity"`);
}

/** Charts a measure's monthly series against its tolerance and aim. */
export function chartMeasure(measure: MeasureDefinition, series: readonly Point[]): XmrChart & { measure: MeasureDefinition } {
  return {
    measure,
    ...xmrChart(series, { polarity: measure.polarity, tolerance: measure.tolerance, target: measure.aim?.target }),
  };
}

export const MEASURES_FILE = new URL('./measures.json', import.meta.url);

/** The measures file (default: the shipped analytics/spc/measures.json), checked. */
export function loadMeasures(path: string | URL = MEASURES_FILE): MeasureDefinition[] {
  return parseMeasures(JSON.parse(readFileSync(path, 'utf8')));
}
