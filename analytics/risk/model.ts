// The risk model's use cases over the database: fit (features on two index dates, logistic
// regression on one year's features against the next year's emergency admissions, validation on
// people AND a year not fitted on), evaluate (the stored model on its validation set, beside the
// generator's true probabilities when given), score (every registered person, in SQL from the
// stored coefficients, with tiers) and the stored model itself. These are population jobs: they
// show no one's record; the risk lists that do are in cohort.ts, through the access policy.
import { invalid, notFound, unprocessable } from '../../access/context.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import { loadCodeLists } from './code-lists.ts';
import { round, type StoredTerm } from './explain.ts';
import { addMonths, FEATURE_SCRATCH, isIsoDate, refreshFeatures } from './features.ts';
import { fitLogistic } from './logistic.ts';
import { calibrationByDecile, cStatistic, validationMetrics, type ValidationMetrics } from './metrics.ts';
import { modelTerms, termExpressions, type Term } from './terms.ts';

/** Risk tiers: the top 0.5 %, 1 %, 5 % and 20 % of the population by score (each person in the smallest that holds them). */
export const TIERS = ['0.5', '1', '5', '20'] as const;
export type Tier = (typeof TIERS)[number];

/** People whose person id hashes to 7, 8 or 9 (of 0–9) are held out of fitting: the validation people. */
export const HELD_OUT_SQL = "(get_byte(decode(md5(f.person_id::text), 'hex'), 0) % 10) >= 7";

export interface RiskModel {
  version: number;
  fittedAt: string;
  method: string;
  l2: number;
  intercept: number;
  terms: StoredTerm[];
  fitIndexDate: string;
  validationIndexDate: string;
  fittedPeople: number;
  validationPeople: number;
  iterations: number;
  metrics: ValidationMetrics;
}

export const METHOD = 'logistic regression, IRLS (Newton) with L2 penalty on standardised terms';

/**
 * The data's end: the latest day on which an encounter in the store started, or null for an empty
 * store. Encounters that record no activity (planned, cancelled, entered in error) and any dated
 * after today (a booking, or a wrong date) are not counted (one sent without a status is), so one future appointment cannot move
 * the validation year past the outcomes. From the flat encounter table (brought up to date first, as
 * the features are): the end of analytics_encounter_window_idx, not a walk over every Encounter's
 * JSON (63.6 s at 215,000 people).
 */
export async function latestActivityDate(db: Queryable | Database, now = new Date()): Promise<string | null> {
  await ensureFlatTablesCurrent(db);
  const r = await db.query<{ d: string | null }>(
    `SELECT max(start_date) AS d FROM analytics_encounter
      WHERE resource_type = 'Encounter' AND start_date <= $1::text AND COALESCE(status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')`,
    [now.toISOString().slice(0, 10)],
  );
  return r.rows[0]?.d ?? null;
}

/**
 * The default validation index date: the start of the last complete year of outcomes, the 12 months
 * that end on the data's last day (`latest`). Its outcome year is wholly inside the data (none of it
 * after the end, where no admission could be seen yet), and it is the newest such year. A generated
 * locality's truth years are these same 12-month periods counted back from its last day (synth
 * `simulationWindow`), whatever day that is: ending 31 December, calendar years; ending 3 December
 * (`--until 2026-12-03`), years from 4 December.
 */
export function defaultValidationIndexDate(latest: string): string {
  return addMonths(new Date(Date.parse(`${latest}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10), -12);
}

function resolveTerms(stored: readonly StoredTerm[]): Term[] {
  const known = new Map(modelTerms(loadCodeLists()).map((t) => [t.name, t]));
  const missing = stored.filter((t) => !known.has(t.name)).map((t) => t.name);
  if (missing.length) throw unprocessable(`the stored model uses terms this version of Bevan does not compute (${missing.join(', ')}): run bevan risk fit again`);
  return stored.map((t) => known.get(t.name)!);
}

/** The SQL for each person's probability under a model, over risk_feature f; parameters appended to `params`. */
export function probabilitySql(model: Pick<RiskModel, 'intercept' | 'terms'>, params: unknown[]): string {
  const exprs = termExpressions(resolveTerms(model.terms), params);
  const parts = [`${bindNumber(params, model.intercept)}`];
  exprs.forEach((e, j) => parts.push(`${bindNumber(params, model.terms[j]!.coefficient)} * ${e}`));
  // The linear predictor is clamped so that exp() never overflows.
  return `(1.0 / (1.0 + exp(-least(greatest(${parts.join(' + ')}, -40.0), 40.0))))`;
}

function bindNumber(params: unknown[], v: number): string {
  params.push(v);
  return `$${params.length}::double precision`;
}

async function designMatrix(db: Queryable, terms: Term[], indexDate: string, heldOut: boolean): Promise<{ x: number[][]; y: number[] }> {
  const params: unknown[] = [indexDate];
  const exprs = termExpressions(terms, params);
  const r = await db.query<Record<string, number>>(
    `SELECT ${exprs.map((e, j) => `${e} AS t${j}`).join(', ')}, (CASE WHEN f.emergency_admissions_next_12m > 0 THEN 1 ELSE 0 END) AS y
       FROM risk_feature f WHERE f.index_date = $1::date AND ${heldOut ? '' : 'NOT '}${HELD_OUT_SQL}
      ORDER BY f.person_id`,
    params,
  );
  const x = r.rows.map((row) => terms.map((_, j) => Number(row[`t${j}`])));
  return { x, y: r.rows.map((row) => Number(row.y)) };
}

export interface FitOptions {
  /** The validation year starts here (YYYY-MM-DD); the fitting year starts 12 months before. Default: from the data's end. */
  validationIndexDate?: string;
  /** L2 penalty on the standardised coefficients (default 1). */
  l2?: number;
}

/** Fits a model, validates it, stores it as the next version and returns it. */
export async function fitRiskModel(db: Database, opts: FitOptions = {}): Promise<RiskModel> {
  let validation = opts.validationIndexDate;
  if (validation !== undefined && !isIsoDate(validation)) throw invalid(`--index-date must be a date YYYY-MM-DD, got "${validation}"`);
  if (validation === undefined) {
    const latest = await latestActivityDate(db);
    if (!latest) throw unprocessable('the store holds no encounters: nothing to fit a risk model on (load the feeds first: bevan ingest)');
    validation = defaultValidationIndexDate(latest);
  }
  const l2 = opts.l2 ?? 1;
  if (!(l2 >= 0)) throw invalid(`--l2 must be a number ≥ 0, got ${opts.l2}`);
  const fitDate = addMonths(validation, -12);
  const lists = loadCodeLists();
  const terms = modelTerms(lists);
  return db.transaction(async (tx) => {
    await refreshFeatures(tx, fitDate, lists);
    await refreshFeatures(tx, validation, lists);
    const train = await designMatrix(tx, terms, fitDate, false);
    const admitted = train.y.reduce((s, v) => s + v, 0);
    if (train.x.length < 50 || admitted < 10) throw unprocessable(`too few people to fit on ${fitDate}: ${train.x.length} people, ${admitted} admitted in the following year (at least 50 and 10 are needed)`);
    const fit = fitLogistic(train.x, train.y, { l2 });
    const means = terms.map((_, j) => train.x.reduce((s, row) => s + row[j]!, 0) / train.x.length);
    const stored: StoredTerm[] = terms.map((t, j) => ({ name: t.name, label: t.label, coefficient: fit.coefficients[j]!, mean: means[j]! }));
    const draft = { intercept: fit.intercept, terms: stored };
    const held = await predictions(tx, draft, validation, true);
    if (held.outcomes.length === 0 || held.outcomes.every((v) => v === held.outcomes[0])) {
      throw unprocessable(`the validation year from ${validation} has ${held.outcomes.length} held-out people and no mix of admitted and not: choose another --index-date`);
    }
    const metrics = validationMetrics(held.predicted, held.outcomes);
    const v = await tx.query<{ v: number }>('SELECT COALESCE(max(version), 0) + 1 AS v FROM risk_model');
    const version = Number(v.rows[0]!.v);
    const row = await tx.query<{ fitted_at: Date | string }>(
      `INSERT INTO risk_model (version, method, l2, intercept, terms, fit_index_date, validation_index_date, fitted_people, validation_people, iterations, metrics)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::date, $7::date, $8, $9, $10, $11::jsonb) RETURNING fitted_at`,
      [version, METHOD, l2, fit.intercept, JSON.stringify(stored), fitDate, validation, train.x.length, held.outcomes.length, fit.iterations, JSON.stringify(metrics)],
    );
    return { version, fittedAt: new Date(row.rows[0]!.fitted_at).toISOString(), method: METHOD, l2, intercept: fit.intercept, terms: stored, fitIndexDate: fitDate, validationIndexDate: validation, fittedPeople: train.x.length, validationPeople: held.outcomes.length, iterations: fit.iterations, metrics };
  });
}

async function predictions(db: Queryable, model: Pick<RiskModel, 'intercept' | 'terms'>, indexDate: string, heldOut: boolean): Promise<{ predicted: number[]; outcomes: number[]; nhsNumbers: (string | null)[] }> {
  const params: unknown[] = [indexDate];
  const p = probabilitySql(model, params);
  const r = await db.query<{ p: number; y: number; nhs: string | null }>(
    `SELECT ${p} AS p, (CASE WHEN f.emergency_admissions_next_12m > 0 THEN 1 ELSE 0 END) AS y, pe.nhs_number AS nhs
       FROM risk_feature f LEFT JOIN person pe ON pe.person_id = f.person_id
      WHERE f.index_date = $1::date AND ${heldOut ? '' : 'NOT '}${HELD_OUT_SQL}
      ORDER BY f.person_id`,
    params,
  );
  return { predicted: r.rows.map((x) => Number(x.p)), outcomes: r.rows.map((x) => Number(x.y)), nhsNumbers: r.rows.map((x) => x.nhs) };
}

/** The stored model (the newest, or a version), or null when none has been fitted. */
export async function loadRiskModel(db: Queryable, version?: number): Promise<RiskModel | null> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT version, fitted_at, method, l2, intercept, terms, to_char(fit_index_date, 'YYYY-MM-DD') AS fit_index_date, to_char(validation_index_date, 'YYYY-MM-DD') AS validation_index_date,
            fitted_people, validation_people, iterations, metrics
       FROM risk_model ${version === undefined ? '' : 'WHERE version = $1'} ORDER BY version DESC LIMIT 1`,
    version === undefined ? [] : [version],
  );
  const m = r.rows[0];
  if (!m) return null;
  const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  return {
    version: Number(m.version),
    fittedAt: new Date(m.fitted_at as string).toISOString(),
    method: String(m.method),
    l2: Number(m.l2),
    intercept: Number(m.intercept),
    terms: json(m.terms) as StoredTerm[],
    fitIndexDate: String(m.fit_index_date),
    validationIndexDate: String(m.validation_index_date),
    fittedPeople: Number(m.fitted_people),
    validationPeople: Number(m.validation_people),
    iterations: Number(m.iterations),
    metrics: json(m.metrics) as ValidationMetrics,
  };
}

/** The newest model, or a clear error when none has been fitted. */
export async function requireRiskModel(db: Queryable): Promise<RiskModel> {
  const m = await loadRiskModel(db);
  if (!m) throw notFound('no risk model has been fitted yet: run bevan risk fit');
  return m;
}

/** What `bevan risk evaluate --json` prints (the issue's shape; oracleCStatistic only with --truth). */
export interface Evaluation {
  cStatistic: number;
  oracleCStatistic?: number;
  calibration: { decile: number; predicted: number; observed: number; observedCount: number }[];
  ppv: ValidationMetrics['ppv'];
  sensitivity: ValidationMetrics['sensitivity'];
}

/** The generator's truth: each person's true probability of an emergency admission, by year label. */
export interface TruthProbabilities {
  /** NHS number → probability for the validation year. */
  byNhsNumber: Map<string, number>;
  /** The truth's year label used. */
  label: string;
}

export interface EvaluationDetail {
  evaluation: Evaluation;
  model: RiskModel;
  people: number;
  admitted: number;
  /** With truth: held-out people matched to it, and the model's c-statistic on exactly them. */
  oracle?: { matched: number; cStatistic: number; label: string; calibration: { predicted: number; observed: number }[] };
}

/** The stored model on its validation people and year; with the truth, the oracle's c-statistic beside it. */
export async function evaluateRiskModel(db: Database, truth?: (validationIndexDate: string) => TruthProbabilities): Promise<EvaluationDetail> {
  const model = await requireRiskModel(db);
  const held = await predictions(db, model, model.validationIndexDate, true);
  if (!held.outcomes.length) throw unprocessable(`no features are stored for the validation date ${model.validationIndexDate}: run bevan risk fit again`);
  const m = validationMetrics(held.predicted, held.outcomes);
  const evaluation: Evaluation = {
    cStatistic: round(m.cStatistic, 4),
    calibration: m.calibration.map((c) => ({ decile: c.decile, predicted: round(c.predicted, 5), observed: round(c.observed, 5), observedCount: c.observedCount })),
    ppv: roundAll(m.ppv),
    sensitivity: roundAll(m.sensitivity),
  };
  const detail: EvaluationDetail = { evaluation, model, people: m.people, admitted: m.admitted };
  if (truth) {
    const t = truth(model.validationIndexDate);
    const oracle: number[] = [];
    const mine: number[] = [];
    const outcomes: number[] = [];
    held.nhsNumbers.forEach((nhs, i) => {
      const p = nhs ? t.byNhsNumber.get(nhs) : undefined;
      if (p === undefined) return;
      oracle.push(p);
      mine.push(held.predicted[i]!);
      outcomes.push(held.outcomes[i]!);
    });
    if (!oracle.length) throw unprocessable('no held-out person matches the truth file by NHS number: is it the truth of the locality loaded?');
    // Keys in the issue's order: cStatistic, oracleCStatistic, calibration, ppv, sensitivity.
    detail.evaluation = { cStatistic: evaluation.cStatistic, oracleCStatistic: round(cStatistic(oracle, outcomes), 4), calibration: evaluation.calibration, ppv: evaluation.ppv, sensitivity: evaluation.sensitivity };
    // The true probabilities' own calibration on the same people: how far from observed even a perfect model lands by chance.
    const oc = calibrationByDecile(oracle, outcomes).map((c) => ({ predicted: round(c.predicted, 5), observed: round(c.observed, 5) }));
    detail.oracle = { matched: oracle.length, cStatistic: round(cStatistic(mine, outcomes), 4), label: t.label, calibration: oc };
  }
  return detail;
}

const roundAll = (r: Record<'0.5' | '1' | '5', number>) => ({ '0.5': round(r['0.5'], 4), '1': round(r['1'], 4), '5': round(r['5'], 4) });

export interface ScoreRun {
  runId: number;
  modelVersion: number;
  indexDate: string;
  people: number;
  tiers: Record<Tier, number>;
  featureSeconds: number;
  scoreSeconds: number;
}

/** The default as-of date for scoring: today, or the day after the data's end when the data end earlier. */
export async function defaultScoreDate(db: Queryable | Database, now = new Date()): Promise<string> {
  const today = now.toISOString().slice(0, 10);
  const latest = await latestActivityDate(db);
  if (!latest) return today;
  const next = new Date(Date.parse(`${latest}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return next < today ? next : today;
}

/**
 * Scores every registered person alive on the as-of date: features refreshed in one statement,
 * then one INSERT … SELECT computing each probability from the stored coefficients and the
 * population rank and tier (a window over the whole population). Kept per run: tier history.
 */
export async function scoreRiskPopulation(db: Database, opts: { asOf?: string; now?: Date } = {}): Promise<ScoreRun> {
  if (opts.asOf !== undefined && !isIsoDate(opts.asOf)) throw invalid(`--as-of must be a date YYYY-MM-DD, got "${opts.asOf}"`);
  const model = await requireRiskModel(db);
  const asOf = opts.asOf ?? (await defaultScoreDate(db, opts.now));
  return db.transaction(async (tx) => {
    const t0 = performance.now();
    const people = await refreshFeatures(tx, asOf, loadCodeLists(), { keep: true });
    const t1 = performance.now();
    if (people === 0) throw unprocessable(`there is no one to score on ${asOf}: no living person registered with a GP practice was born before that date (load the GP feeds first: bevan ingest)`);
    const run = await tx.query<{ run_id: string }>('INSERT INTO risk_score_run (model_version, index_date) VALUES ($1, $2::date) RETURNING run_id', [model.version, asOf]);
    const runId = Number(run.rows[0]!.run_id);
    // From the features' scratch table: the same rows, not read back from risk_feature's pages.
    await insertScores(tx, model, runId, asOf, FEATURE_SCRATCH);
    const t2 = performance.now();
    const counts = await tx.query<{ tier: string | null; n: string }>('SELECT tier, count(*) AS n FROM risk_score WHERE run_id = $1 GROUP BY tier', [runId]);
    const tiers = { '0.5': 0, '1': 0, '5': 0, '20': 0 } as Record<Tier, number>;
    for (const c of counts.rows) if (c.tier) tiers[c.tier as Tier] = Number(c.n);
    const scoreSeconds = round((t2 - t1) / 1000, 3);
    await tx.query('UPDATE risk_score_run SET people = $2, seconds = $3 WHERE run_id = $1', [runId, people, round((t2 - t0) / 1000, 3)]);
    return { runId, modelVersion: model.version, indexDate: asOf, people, tiers, featureSeconds: round((t1 - t0) / 1000, 3), scoreSeconds };
  });
}

/**
 * One INSERT … SELECT: every person's probability from the stored coefficients over their stored
 * features for the index date (risk_feature, or refreshFeatures' scratch table of the same rows), their rank in the population and their tier (a window over the
 * whole population: on Citus this last step gathers the scores on the coordinator, see the docs).
 */
export async function insertScores(tx: Queryable, model: Pick<RiskModel, 'intercept' | 'terms'>, runId: number, indexDate: string, features: 'risk_feature' | typeof FEATURE_SCRATCH = 'risk_feature'): Promise<number> {
  const params: unknown[] = [runId, indexDate];
  const p = probabilitySql(model, params);
  const cut = (percent: string) => `ceil(s.n * ${percent} / 100.0)`;
  const r = await tx.query(
    `INSERT INTO risk_score (person_id, run_id, probability, population_rank, tier)
     SELECT s.person_id, $1::bigint, s.p, s.rk,
            CASE WHEN s.rk <= ${cut('0.5')} THEN '0.5' WHEN s.rk <= ${cut('1')} THEN '1' WHEN s.rk <= ${cut('5')} THEN '5' WHEN s.rk <= ${cut('20')} THEN '20' END
       FROM (SELECT x.person_id, x.p, row_number() OVER (ORDER BY x.p DESC, x.person_id) AS rk, count(*) OVER () AS n
               FROM (SELECT f.person_id, ${p} AS p FROM ${features} f WHERE f.index_date = $2::date) x) s
      ORDER BY s.person_id`,
    params,
  );
  return r.rowCount;
}
