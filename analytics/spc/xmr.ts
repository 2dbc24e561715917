// XmR (individuals and moving range) charts with the NHS England "Making Data Count" rules for
// special-cause variation. Pure: numbers in, a chart out; no I/O.
//
// Limits: centre = mean of the values; process limits = mean ± 2.66 × mean moving range
// (2.66 = 3 / d2 with d2 = 1.128 for ranges of two points, so each limit is "3 sigma").
// Rules (Making Data Count, as implemented by the NHS-R "plot the dots" tools):
//   astronomical — a point beyond a process limit;
//   shift        — 7 or more consecutive points on the same side of the mean (a point on the
//                  mean breaks the run);
//   trend        — 7 or more consecutive points each higher (or each lower) than the one before
//                  (an equal value breaks the run);
//   twoOfThree   — 2 of 3 consecutive points beyond two-thirds of the way from the mean to a
//                  limit (beyond "2 sigma"), on the same side; the points so placed are flagged.

export type Polarity = 'higher-is-better' | 'lower-is-better' | 'neither';
export type Rule = 'astronomical' | 'shift' | 'trend' | 'twoOfThree';
/** A point's reading: a special cause in the good or bad direction, or neutral (common cause, or
 *  a special cause on a measure with no preferred direction). */
export type Signal = 'improvement' | 'concern' | 'neutral';
/** Making Data Count's assurance icon: will the process meet the target? */
export type Assurance = 'consistently-passes' | 'consistently-fails' | 'hit-and-miss' | 'no-target';

export interface Point {
  label: string;
  value: number;
}

export interface ChartPoint extends Point {
  movingRange: number | null;
  rules: Rule[];
  /** 'high' when the special cause lies above the mean, 'low' below, null when common cause. */
  direction: 'high' | 'low' | null;
  signal: Signal;
  /** Outside the measure's tolerance band (when the measure has one). */
  outsideTolerance: boolean;
}

export interface Tolerance {
  lower?: number;
  upper?: number;
}

export interface ChartOptions {
  polarity: Polarity;
  target?: number;
  tolerance?: Tolerance;
  /** Compute the limits from the first N points only (a baseline), then apply them to all. */
  baselinePoints?: number;
}

export interface XmrChart {
  mean: number;
  meanMovingRange: number;
  upperProcessLimit: number;
  lowerProcessLimit: number;
  /** Two-thirds of the way from the mean to each limit (the "2 sigma" lines). */
  upperTwoThirds: number;
  lowerTwoThirds: number;
  points: ChartPoint[];
  assurance: Assurance;
  /** The latest point's signal: Making Data Count's variation icon. */
  latestVariation: Signal;
}

export const RUN_LENGTH = 7;
export const LIMIT_FACTOR = 2.66;

/** Builds an XmR chart for a series of at least two points. */
export function xmrChart(series: readonly Point[], options: ChartOptions): XmrChart {
  if (series.length < 2) throw new RangeError(`an XmR chart needs at least 2 points, got ${series.length}`);
  for (const p of series) {
    if (typeof p.value !== 'number' || !Number.isFinite(p.value)) throw new TypeError(`point "${p.label}" has no finite value`);
  }
  const baseN = options.baselinePoints ?? series.length;
  if (!Number.isInteger(baseN) || baseN < 2 || baseN > series.length) {
    throw new RangeError(`baselinePoints must be an integer from 2 to ${series.length}, got ${baseN}`);
  }
  const values = series.map((p) => p.value);
  const base = values.slice(0, baseN);
  const mean = base.reduce((a, b) => a + b, 0) / base.length;
  const ranges = base.slice(1).map((v, i) => Math.abs(v - base[i]!));
  const meanMovingRange = ranges.reduce((a, b) => a + b, 0) / ranges.length;
  const halfWidth = LIMIT_FACTOR * meanMovingRange;
  const upper = mean + halfWidth;
  const lower = mean - halfWidth;
  const upper23 = mean + (2 / 3) * halfWidth;
  const lower23 = mean - (2 / 3) * halfWidth;

  const n = values.length;
  const rules: Set<Rule>[] = values.map(() => new Set<Rule>());
  const dir: ('high' | 'low' | null)[] = values.map(() => null);
  const mark = (i: number, rule: Rule, d: 'high' | 'low') => {
    rules[i]!.add(rule);
    // A point flagged both ways (a trend crossing the mean) takes its side of the mean.
    dir[i] = dir[i] === null || dir[i] === d ? d : values[i]! >= mean ? 'high' : 'low';
  };

  for (let i = 0; i < n; i++) {
    if (values[i]! > upper) mark(i, 'astronomical', 'high');
    else if (values[i]! < lower) mark(i, 'astronomical', 'low');
  }
  // Shift: runs on one side of the mean.
  markRuns(n, (i) => (values[i]! > mean ? 1 : values[i]! < mean ? -1 : 0), (s) => s !== 0, (from, to, s) => {
    for (let i = from; i <= to; i++) mark(i, 'shift', s > 0 ? 'high' : 'low');
  });
  // Trend: runs of points each rising (or falling) from the one before; the run of 7 points
  // is 6 consecutive differences of one sign.
  const step = (i: number) => (i === 0 ? 0 : Math.sign(values[i]! - values[i - 1]!));
  for (let i = 1; i < n; ) {
    const s = step(i);
    let j = i;
    while (s !== 0 && j + 1 < n && step(j + 1) === s) j++;
    if (s !== 0 && j - i + 2 >= RUN_LENGTH) {
      for (let k = i - 1; k <= j; k++) mark(k, 'trend', s > 0 ? 'high' : 'low');
    }
    i = j + 1;
  }
  // Two of three beyond two-thirds on the same side.
  for (let i = 0; i + 2 < n; i++) {
    for (const side of ['high', 'low'] as const) {
      const beyond = [i, i + 1, i + 2].filter((k) => (side === 'high' ? values[k]! > upper23 : values[k]! < lower23));
      if (beyond.length >= 2) for (const k of beyond) mark(k, 'twoOfThree', side);
    }
  }

  const points: ChartPoint[] = series.map((p, i) => {
    const d = dir[i]!;
    const tol = options.tolerance;
    return {
      label: p.label,
      value: p.value,
      movingRange: i === 0 ? null : Math.abs(p.value - series[i - 1]!.value),
      rules: [...rules[i]!].sort(),
      direction: d,
      signal: signalFor(d, options.polarity),
      outsideTolerance: tol !== undefined && ((tol.lower !== undefined && p.value < tol.lower) || (tol.upper !== undefined && p.value > tol.upper)),
    };
  });
  return {
    mean,
    meanMovingRange,
    upperProcessLimit: upper,
    lowerProcessLimit: lower,
    upperTwoThirds: upper23,
    lowerTwoThirds: lower23,
    points,
    assurance: assuranceFor(options.target, options.polarity, lower, upper),
    latestVariation: points[points.length - 1]!.signal,
  };
}

function markRuns(n: number, key: (i: number) => number, counts: (k: number) => boolean, onRun: (from: number, to: number, k: number) => void): void {
  for (let i = 0; i < n; ) {
    const k = key(i);
    let j = i;
    while (j + 1 < n && key(j + 1) === k) j++;
    if (counts(k) && j - i + 1 >= RUN_LENGTH) onRun(i, j, k);
    i = j + 1;
  }
}

/** Improvement or concern for a special cause on the given side, by the measure's polarity. */
export function signalFor(direction: 'high' | 'low' | null, polarity: Polarity): Signal {
  if (direction === null || polarity === 'neither') return 'neutral';
  const good = polarity === 'higher-is-better' ? 'high' : 'low';
  return direction === good ? 'improvement' : 'concern';
}

/** Making Data Count assurance: a target outside the process limits is met (or missed) every
 *  time; a target between them is met by chance ("hit and miss"). */
export function assuranceFor(target: number | undefined, polarity: Polarity, lower: number, upper: number): Assurance {
  if (target === undefined || polarity === 'neither') return 'no-target';
  if (target >= lower && target <= upper) return 'hit-and-miss';
  const targetBelow = target < lower;
  if (polarity === 'higher-is-better') return targetBelow ? 'consistently-passes' : 'consistently-fails';
  return targetBelow ? 'consistently-fails' : 'consistently-passes';
}
