/**
 * The results charted over time: HbA1c, eGFR, blood pressure and weight, found by their codes
 * (SNOMED CT as the GP and hospital systems send them, LOINC as other FHIR sources do) or, from a
 * source that sends no code, by name; each with the reference band the chart shades: the
 * laboratory's own range when it sent one, else the usual clinical threshold (NICE NG28 for
 * HbA1c, the KDIGO G1–G2 band for eGFR, NICE NG136 clinic blood pressure); weight's band is the
 * healthy BMI range (18.5 to 24.9) at the person's latest height, when one was recorded. Pure.
 */
import type { Observation } from '@medplum/fhirtypes';
import { codeText } from './fhir-values.ts';

export const CHART_KEYS = ['hba1c', 'egfr', 'bp', 'weight'] as const;
export type ChartKey = (typeof CHART_KEYS)[number];

interface ChartDef {
  title: string;
  codes: string[];
  name: RegExp;
  unit: string;
  band: { low: number | null; high: number | null; label: string } | null;
}

const SYSTOLIC = ['271649006', '72313002', '8480-6'];
const DIASTOLIC = ['271650006', '1091811000000102', '8462-4'];
const HEIGHT = ['50373000', '248333004', '8302-2'];

export const CHARTS: Record<ChartKey, ChartDef> = {
  hba1c: { title: 'HbA1c', codes: ['999791000000106', '1019431000000105', '4548-4', '59261-8', '17856-6'], name: /hba1c|haemoglobin a1c|hemoglobin a1c|glycated h/i, unit: 'mmol/mol', band: { low: null, high: 41, label: 'below 42 mmol/mol (no diabetes)' } },
  egfr: { title: 'eGFR', codes: ['80274001', '1011481000000105', '1020291000000106', '33914-3', '62238-1', '69405-9', '98979-8'], name: /\begfr\b|glomerular filtration/i, unit: 'mL/min/1.73m2', band: { low: 60, high: null, label: '60 or more (CKD stage G1–G2)' } },
  bp: { title: 'Blood pressure', codes: ['75367002', '163020007', '85354-9', '55284-4', ...SYSTOLIC], name: /blood pressure/i, unit: 'mmHg', band: { low: null, high: 140, label: 'systolic below 140 mmHg (clinic)' } },
  weight: { title: 'Weight', codes: ['27113001', '363808001', '29463-7', '3141-9'], name: /body weight|^weight$/i, unit: 'kg', band: null },
};

export interface ChartPoint {
  /** Milliseconds since 1970 (the x axis). */
  t: number;
  date: string;
  value: number;
  /** Blood pressure: the diastolic value beside the systolic. */
  value2?: number;
  source: string;
}

export interface ChartSeries {
  key: ChartKey;
  title: string;
  unit: string;
  points: ChartPoint[];
  band: { low: number | null; high: number | null; label: string } | null;
}

function codesOf(o: { code?: Observation['code'] }): string[] {
  return (o.code?.coding ?? []).map((c) => c.code ?? '').filter(Boolean);
}

function matches(o: Observation, def: ChartDef): boolean {
  const codes = codesOf(o);
  if (codes.length) return codes.some((c) => def.codes.includes(c));
  return def.name.test(codeText(o.code) ?? '');
}

function dateOf(o: Observation): string | null {
  return o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued ?? null;
}

/** The series for one chart, oldest first; the same measurement sent by two sources is kept once. */
export function chartSeries(observations: readonly Observation[], key: ChartKey): ChartSeries {
  const def = CHARTS[key];
  const points: ChartPoint[] = [];
  let rangeBand: ChartSeries['band'] = null;
  let rangeDate = '';
  for (const o of observations) {
    if (o.status === 'entered-in-error' || o.status === 'cancelled') continue;
    const date = dateOf(o);
    const t = date ? Date.parse(date) : NaN;
    if (!date || Number.isNaN(t)) continue;
    const source = o.meta?.source ?? '';
    if (key === 'bp') {
      const comp = (codes: string[]) => o.component?.find((c) => codesOf(c).some((x) => codes.includes(x)))?.valueQuantity?.value;
      const own = codesOf(o);
      const sys = own.some((c) => SYSTOLIC.includes(c)) ? o.valueQuantity?.value : comp(SYSTOLIC);
      if (!matches(o, def) || sys === undefined) continue;
      const dia = comp(DIASTOLIC);
      points.push({ t, date, value: sys, ...(dia !== undefined ? { value2: dia } : {}), source });
      continue;
    }
    const v = o.valueQuantity?.value;
    if (!matches(o, def) || v === undefined) continue;
    points.push({ t, date, value: v, source });
    const r = o.referenceRange?.[0];
    if (r && (r.low?.value !== undefined || r.high?.value !== undefined) && date > rangeDate) {
      rangeDate = date;
      rangeBand = { low: r.low?.value ?? null, high: r.high?.value ?? null, label: `the laboratory's range${r.text ? ` (${r.text})` : ''}` };
    }
  }
  points.sort((a, b) => a.t - b.t);
  const kept = points.filter((p, i) => i === 0 || !(p.t === points[i - 1]!.t && p.value === points[i - 1]!.value));
  let band = rangeBand ?? def.band;
  if (key === 'weight') band = healthyWeightBand(observations);
  return { key, title: def.title, unit: def.unit, points: kept, band };
}

/** Healthy weight for the latest recorded height (BMI 18.5 to 24.9), else no band. */
function healthyWeightBand(observations: readonly Observation[]): ChartSeries['band'] {
  let height: { m: number; date: string } | null = null;
  for (const o of observations) {
    if (!codesOf(o).some((c) => HEIGHT.includes(c))) continue;
    const q = o.valueQuantity;
    const date = dateOf(o) ?? '';
    if (q?.value === undefined) continue;
    const unit = (q.code ?? q.unit ?? '').toLowerCase();
    const m = unit === 'cm' ? q.value / 100 : unit === 'm' ? q.value : null;
    if (m && m > 0.4 && m < 2.5 && (!height || date > height.date)) height = { m, date };
  }
  if (!height) return null;
  const low = Math.round(18.5 * height.m * height.m * 10) / 10;
  const high = Math.round(24.9 * height.m * height.m * 10) / 10;
  return { low, high, label: `healthy weight for ${Math.round(height.m * 100)} cm (BMI 18.5 to 24.9)` };
}
