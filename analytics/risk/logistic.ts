// Logistic regression by iteratively reweighted least squares (Newton's method on the
// log-likelihood) with an L2 (ridge) penalty. Pure: rows in, coefficients out.
//
// Why here, in TypeScript, and not a statistics library or the database: the model is the
// product's core (a clinician is told *why* a person is high risk), so its fitting must be
// readable, reviewed and tested in the code base, deterministic (the same rows give the same
// coefficients on every machine), and need nothing installed beside Node. A logistic model with
// a few dozen terms over a borough's people is a small dense problem (p × p normal equations):
// Newton converges in a handful of iterations and needs no numerical library.
//
// Columns are standardised (mean 0, sd 1) before fitting, so that one penalty weight treats every
// term alike and the Hessian is well conditioned; the intercept is not penalised. Coefficients
// are returned on the original scale.

export interface LogisticFit {
  intercept: number;
  coefficients: number[];
  iterations: number;
  converged: boolean;
  /** Penalised log-likelihood at the solution. */
  logLikelihood: number;
}

export interface LogisticOptions {
  /** L2 penalty weight on the standardised coefficients (0: none). */
  l2?: number;
  maxIterations?: number;
  /** Stop when no standardised coefficient moves more than this. */
  tolerance?: number;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log(1 + e^x) without overflow. */
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** Fits P(y = 1 | x) = sigmoid(b0 + b·x). `x` is n rows of p numbers; `y` is n outcomes 0/1. */
export function fitLogistic(x: readonly (readonly number[])[], y: readonly number[], opts: LogisticOptions = {}): LogisticFit {
  const n = x.length;
  if (n === 0) throw new Error('no rows to fit');
  if (y.length !== n) throw new Error(`${n} rows but ${y.length} outcomes`);
  const p = x[0]!.length;
  const l2 = opts.l2 ?? 1;
  const maxIterations = opts.maxIterations ?? 50;
  const tolerance = opts.tolerance ?? 1e-8;
  let positives = 0;
  for (const v of y) {
    if (v !== 0 && v !== 1) throw new Error(`outcomes must be 0 or 1, found ${v}`);
    positives += v;
  }
  if (positives === 0 || positives === n) throw new Error(`every outcome is ${positives ? 1 : 0}: nothing to learn from`);

  // Standardise: z = (x − mean) / sd (a constant column keeps sd 1 and, penalised, a zero coefficient).
  const mean = new Array<number>(p).fill(0);
  const sd = new Array<number>(p).fill(0);
  for (const row of x) {
    if (row.length !== p) throw new Error(`every row needs ${p} values`);
    for (let j = 0; j < p; j++) mean[j]! += row[j]!;
  }
  for (let j = 0; j < p; j++) mean[j]! /= n;
  for (const row of x) for (let j = 0; j < p; j++) sd[j]! += (row[j]! - mean[j]!) ** 2;
  for (let j = 0; j < p; j++) sd[j] = Math.sqrt(sd[j]! / n) || 1;
  const m = p + 1; // intercept first
  const z = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    z[i * m] = 1;
    for (let j = 0; j < p; j++) z[i * m + j + 1] = (x[i]![j]! - mean[j]!) / sd[j]!;
  }

  const beta = new Float64Array(m);
  const base = positives / n;
  beta[0] = Math.log(base / (1 - base));
  let iterations = 0;
  let converged = false;
  let logLikelihood = -Infinity;
  const h = new Float64Array(m * m);
  const g = new Float64Array(m);
  // The penalised log-likelihood at a coefficient vector.
  const objective = (b: Float64Array): number => {
    let ll = 0;
    for (let i = 0; i < n; i++) {
      let eta = 0;
      const off = i * m;
      for (let j = 0; j < m; j++) eta += z[off + j]! * b[j]!;
      // log σ(η) = −log(1 + e^−η), computed without overflow.
      ll -= y[i] ? softplus(-eta) : softplus(eta);
    }
    for (let a = 1; a < m; a++) ll -= 0.5 * l2 * b[a]! ** 2;
    return ll;
  };
  logLikelihood = objective(beta);
  const trial = new Float64Array(m);
  for (; iterations < maxIterations && !converged; iterations++) {
    h.fill(0);
    g.fill(0);
    for (let i = 0; i < n; i++) {
      let eta = 0;
      const off = i * m;
      for (let j = 0; j < m; j++) eta += z[off + j]! * beta[j]!;
      const mu = sigmoid(eta);
      const w = Math.max(mu * (1 - mu), 1e-12);
      const r = y[i]! - mu;
      for (let a = 0; a < m; a++) {
        const za = z[off + a]!;
        if (za === 0) continue;
        g[a]! += za * r;
        const wza = w * za;
        for (let b = a; b < m; b++) h[a * m + b]! += wza * z[off + b]!;
      }
    }
    for (let a = 1; a < m; a++) {
      h[a * m + a]! += l2;
      g[a]! -= l2 * beta[a]!;
    }
    for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) h[a * m + b] = h[b * m + a]!;
    const step = solveSymmetric(h, g, m);
    // A full Newton step can overshoot (a rare binary term, far from the optimum, makes the
    // quadratic model poor): halve it until the penalised log-likelihood does not fall, as R's glm does.
    let t = 1;
    let next = -Infinity;
    for (let halvings = 0; halvings < 40; halvings++, t /= 2) {
      for (let j = 0; j < m; j++) trial[j] = beta[j]! + t * step[j]!;
      next = objective(trial);
      if (next >= logLikelihood - 1e-12 * Math.abs(logLikelihood)) break;
    }
    let biggest = 0;
    for (let j = 0; j < m; j++) {
      biggest = Math.max(biggest, Math.abs(trial[j]! - beta[j]!));
      beta[j] = trial[j]!;
    }
    logLikelihood = next;
    if (biggest < tolerance) converged = true;
  }
  // Back to the original scale: b_j = β_j / sd_j, b0 = β0 − Σ β_j mean_j / sd_j.
  const coefficients = new Array<number>(p);
  let intercept = beta[0]!;
  for (let j = 0; j < p; j++) {
    coefficients[j] = beta[j + 1]! / sd[j]!;
    intercept -= coefficients[j]! * mean[j]!;
  }
  return { intercept, coefficients, iterations, converged, logLikelihood };
}

/** Solves H s = g for a symmetric positive definite H (Cholesky, H = L Lᵀ). */
export function solveSymmetric(hIn: Float64Array, g: Float64Array, m: number): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = hIn[i * m + j]!;
      for (let k = 0; k < j; k++) s -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) {
        if (s <= 0) throw new Error('the Hessian is not positive definite (a term separates the outcome perfectly or two terms are identical: raise the L2 penalty)');
        l[i * m + i] = Math.sqrt(s);
      } else l[i * m + j] = s / l[j * m + j]!;
    }
  }
  const yv = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = g[i]!;
    for (let k = 0; k < i; k++) s -= l[i * m + k]! * yv[k]!;
    yv[i] = s / l[i * m + i]!;
  }
  const out = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = yv[i]!;
    for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * out[k]!;
    out[i] = s / l[i * m + i]!;
  }
  return out;
}

/** The predicted probability for one row. */
export function predict(fit: Pick<LogisticFit, 'intercept' | 'coefficients'>, row: readonly number[]): number {
  let eta = fit.intercept;
  for (let j = 0; j < row.length; j++) eta += fit.coefficients[j]! * row[j]!;
  return sigmoid(eta);
}
