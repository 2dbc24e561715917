// Measures for variation monitoring as data (analytics/spc/measures.json): each names its
// polarity, unit, the clinical panel's tolerance band and, for a panel aim, a target and a date.
import { xmrChart, type Point, type Polarity, type Tolerance, type XmrChart } from './xmr.ts';

export interface MeasureDefinition {
  id: string;
  title: string;
  panel: string;
  unit: string;
  polarity: Polarity;
  tolerance?: Tolerance;
  /** A panel aim: the value to reach and by when (ISO date). */
  aim?: { target: number; by: string; statement: string };
}

const POLARITIES: readonly Polarity[] = ['higher-is-better', 'lower-is-better', 'neither'];
const FIELDS = new Set(['id', 'title', 'panel', 'unit', 'polarity', 'tolerance', 'aim']);

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
  });
  if (errors.length) throw new TypeError(errors.join('; '));
  return input as MeasureDefinition[];
}

/** Charts a measure's monthly series against its tolerance and aim. */
export function chartMeasure(measure: MeasureDefinition, series: readonly Point[]): XmrChart & { measure: MeasureDefinition } {
  return {
    measure,
    ...xmrChart(series, { polarity: measure.polarity, tolerance: measure.tolerance, target: measure.aim?.target }),
  };
}
