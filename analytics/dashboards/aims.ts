// A panel aim (a measure's target and date, analytics/spc/measures.json) tracked month by month,
// as a plan-do-study-act cycle reads it: from the first month with a value (the baseline) a
// straight trajectory to the target by the aim's date; each month is met, on track (on the
// target's side of the trajectory) or behind; the aim as a whole is achieved, on track, off
// track, or (its date passed without reaching it) missed. Pure: numbers in, a status out.
import type { Polarity } from '../spc/xmr.ts';

export interface Aim {
  target: number;
  /** The date the aim is to be met by (YYYY-MM-DD). */
  by: string;
  statement: string;
}

export interface SeriesValue {
  month: string;
  /** null: no figure (none yet, or suppressed under disclosure control). */
  value: number | null;
}

export type MonthStatus = 'met' | 'on-track' | 'behind' | 'no-data';
export type AimStatus = 'achieved' | 'on-track' | 'off-track' | 'missed' | 'no-data';

export interface AimMonth extends SeriesValue {
  /** Where the trajectory from the baseline to the target stands this month. */
  trajectory: number | null;
  status: MonthStatus;
}

export interface AimProgress {
  target: number;
  by: string;
  statement: string;
  baseline: SeriesValue | null;
  latest: SeriesValue | null;
  status: AimStatus;
  /** The share of the way from the baseline to the target reached by the latest value (0–1). */
  progress: number | null;
  months: AimMonth[];
}

/** Months between two YYYY-MM labels (b − a). */
export function monthsBetween(a: string, b: string): number {
  return (Number(b.slice(0, 4)) - Number(a.slice(0, 4))) * 12 + (Number(b.slice(5, 7)) - Number(a.slice(5, 7)));
}

/** Whether a value meets the target, for the measure's polarity (a measure with no preferred direction meets it at or above). */
export function meets(value: number, target: number, polarity: Polarity): boolean {
  return polarity === 'lower-is-better' ? value <= target : value >= target;
}

/** Tracks an aim over a monthly series (oldest first) up to asOf (YYYY-MM-DD). */
export function trackAim(aim: Aim, polarity: Polarity, series: readonly SeriesValue[], asOf: string): AimProgress {
  const byMonth = aim.by.slice(0, 7);
  const valued = series.filter((s) => s.value !== null);
  const baseline = valued[0] ?? null;
  const span = baseline ? Math.max(monthsBetween(baseline.month, byMonth), 0) : 0;
  const trajectoryAt = (month: string): number | null => {
    if (!baseline) return null;
    if (span === 0) return aim.target;
    const k = Math.min(Math.max(monthsBetween(baseline.month, month) / span, 0), 1);
    return round(baseline.value! + (aim.target - baseline.value!) * k);
  };
  const onTargetSide = (value: number, line: number) => (polarity === 'lower-is-better' ? value <= line : value >= line);
  const months: AimMonth[] = series.map((s) => {
    const trajectory = trajectoryAt(s.month);
    if (s.value === null || trajectory === null) return { ...s, trajectory, status: 'no-data' };
    const status: MonthStatus = meets(s.value, aim.target, polarity) ? 'met' : onTargetSide(s.value, trajectory) ? 'on-track' : 'behind';
    return { ...s, trajectory, status };
  });
  const latest = valued.at(-1) ?? null;
  const out = { target: aim.target, by: aim.by, statement: aim.statement, baseline, latest, months };
  if (!latest || !baseline) return { ...out, status: 'no-data', progress: null };
  const gap = aim.target - baseline.value!;
  const progress = meets(baseline.value!, aim.target, polarity) || gap === 0 ? 1 : round(Math.min(Math.max((latest.value! - baseline.value!) / gap, 0), 1), 3);
  let status: AimStatus;
  if (asOf.slice(0, 10) > aim.by) {
    // The date has passed: judged on the last figure up to the aim's month.
    const atDate = valued.filter((s) => s.month <= byMonth).at(-1);
    status = atDate && meets(atDate.value!, aim.target, polarity) ? 'achieved' : 'missed';
  } else {
    const last = months.filter((m) => m.status !== 'no-data').at(-1)!;
    status = last.status === 'met' ? 'achieved' : last.status === 'on-track' ? 'on-track' : 'off-track';
  }
  return { ...out, status, progress };
}

function round(x: number, places = 2): number {
  const f = 10 ** places;
  return Math.round(x * f) / f;
}
