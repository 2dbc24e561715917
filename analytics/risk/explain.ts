// Why a person's score is what it is: each term's contribution to the log-odds, measured from
// the fitting population's average person (coefficient × (value − population mean)), so that
// "aged 85+: +1.2" reads as "this raises the odds of admission e^1.2 ≈ 3.3 times over an average
// person's". The top contributors that raise the risk are shown. Pure.

export interface StoredTerm {
  name: string;
  label: string;
  coefficient: number;
  /** The term's mean over the people the model was fitted on. */
  mean: number;
}

export interface Factor {
  name: string;
  label: string;
  value: number;
  /** Contribution to the log-odds against the average person. */
  contribution: number;
  /** e^contribution: how many times the odds are raised. */
  oddsRatio: number;
}

/** The top `n` factors that raise this person's risk (positive contributions, largest first). */
export function topFactors(terms: readonly StoredTerm[], values: readonly number[], n = 3): Factor[] {
  const out: Factor[] = [];
  terms.forEach((t, j) => {
    const value = values[j] ?? 0;
    const contribution = t.coefficient * (value - t.mean);
    if (contribution > 1e-9) out.push({ name: t.name, label: t.label, value, contribution: round(contribution, 4), oddsRatio: round(Math.exp(contribution), 3) });
  });
  return out.sort((a, b) => b.contribution - a.contribution || a.name.localeCompare(b.name)).slice(0, n);
}

export const round = (v: number, places: number) => {
  const f = 10 ** places;
  return Math.round(v * f) / f;
};
