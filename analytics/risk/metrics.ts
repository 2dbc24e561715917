// Validation metrics of a risk score against observed outcomes. Pure.
//   c-statistic: the area under the ROC curve, the chance that a random person who was admitted
//     scored above a random person who was not (ties count half; Mann–Whitney U / (n₁ n₀)).
//   calibration by decile: people in ten equal groups by predicted risk, each group's mean
//     predicted risk beside its observed admission rate and number of people admitted.
//   PPV and sensitivity at the top k %: of the ⌈k % of n⌉ highest scores, the share admitted,
//     and the share of all admitted people they hold.

export interface CalibrationRow {
  decile: number;
  predicted: number;
  observed: number;
  observedCount: number;
  people: number;
}

export interface ValidationMetrics {
  cStatistic: number;
  calibration: CalibrationRow[];
  ppv: Record<'0.5' | '1' | '5', number>;
  sensitivity: Record<'0.5' | '1' | '5', number>;
  people: number;
  admitted: number;
}

export const TOP_PERCENTS = ['0.5', '1', '5'] as const;

/** The c-statistic (area under the ROC curve) of scores against 0/1 outcomes, with mid-ranks for ties. */
export function cStatistic(scores: readonly number[], outcomes: readonly number[]): number {
  const n = scores.length;
  if (n !== outcomes.length) throw new Error('scores and outcomes differ in length');
  const order = [...scores.keys()].sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (outcomes[order[k]!]) (positives++, (rankSum += midRank));
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw new Error('the c-statistic needs people with and without the outcome');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Calibration in ten groups of (nearly) equal size, lowest predicted risk first. */
export function calibrationByDecile(predicted: readonly number[], outcomes: readonly number[], groups = 10): CalibrationRow[] {
  const n = predicted.length;
  const order = [...predicted.keys()].sort((a, b) => predicted[a]! - predicted[b]! || a - b);
  const rows: CalibrationRow[] = [];
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * n) / groups);
    const to = Math.floor(((g + 1) * n) / groups);
    let p = 0;
    let o = 0;
    for (let k = from; k < to; k++) (p += predicted[order[k]!]!), (o += outcomes[order[k]!]!);
    const people = to - from;
    rows.push({ decile: g + 1, predicted: people ? p / people : 0, observed: people ? o / people : 0, observedCount: o, people });
  }
  return rows;
}

/** PPV and sensitivity among the top `percent` % of scores (ties broken by position, so the group has exactly ⌈percent % of n⌉ people). */
export function topPercent(scores: readonly number[], outcomes: readonly number[], percent: number): { ppv: number; sensitivity: number; people: number } {
  const n = scores.length;
  const k = Math.max(1, Math.ceil((n * percent) / 100));
  const order = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  let hits = 0;
  for (let i = 0; i < k; i++) hits += outcomes[order[i]!]!;
  const total = outcomes.reduce((s, v) => s + v, 0);
  return { ppv: hits / k, sensitivity: total ? hits / total : 0, people: k };
}

/** Every metric at once, as `bevan risk evaluate` prints it. */
export function validationMetrics(predicted: readonly number[], outcomes: readonly number[]): ValidationMetrics {
  const ppv = {} as ValidationMetrics['ppv'];
  const sensitivity = {} as ValidationMetrics['sensitivity'];
  for (const t of TOP_PERCENTS) {
    const r = topPercent(predicted, outcomes, Number(t));
    ppv[t] = r.ppv;
    sensitivity[t] = r.sensitivity;
  }
  return { cStatistic: cStatistic(predicted, outcomes), calibration: calibrationByDecile(predicted, outcomes), ppv, sensitivity, people: predicted.length, admitted: outcomes.reduce((s, v) => s + v, 0) };
}
