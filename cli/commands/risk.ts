/**
 * `bevan risk`: risk of emergency admission in the next 12 months (analytics/risk/, docs/analytics/risk.md).
 *   bevan risk fit [--index-date D] [--l2 X] [--json]        fit on one year, validate on the next (held-out people)
 *   bevan risk evaluate [--truth FILE] [--json]              the stored model's validation metrics (and the oracle's)
 *   bevan risk score [--as-of D] [--json]                    score every registered person; tiers top 0.5/1/5/20 %
 *   bevan risk model [--json]                                coefficients, version, date fitted, metrics
 *   bevan risk cohort --practice ODS | --neighbourhood N [--tier T] --user NAME [--json]
 * fit, evaluate, score and model are population jobs that show no one's record; cohort lists
 * people and goes through the access policy (action risk) and the audit.
 */
import type { Command } from 'commander';
import { defaultPurposeFor, invalid } from '../../access/context.ts';
import { riskCohort, type IdentifiedRiskPerson, type PseudonymisedRiskPerson } from '../../analytics/risk/cohort.ts';
import { evaluateRiskModel, fitRiskModel, requireRiskModel, scoreRiskPopulation, type RiskModel } from '../../analytics/risk/model.ts';
import { readTruth } from '../../analytics/risk/truth.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface RiskOptions extends DatabaseOptions, WhoOptions {
  json?: boolean;
  indexDate?: string;
  l2?: string;
  truth?: string;
  asOf?: string;
  practice?: string;
  neighbourhood?: string;
  tier?: string;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export function registerRisk(program: Command): void {
  const risk = program.command('risk').description('risk of emergency admission in the next 12 months: fit, evaluate, score, the model, high-risk cohorts');

  databaseOption(
    risk
      .command('fit')
      .description("fit the logistic model on one year's features against the next year's emergency admissions; validate on held-out people in the year after")
      .option('--index-date <date>', 'the validation year starts here (YYYY-MM-DD; the fitting year 12 months before); default: the last complete year, the 12 months ending on the latest encounter')
      .option('--l2 <x>', 'L2 penalty on the standardised coefficients', '1')
      .option('--json', 'JSON'),
  ).action((opts: RiskOptions) =>
    runWithExitCode(() =>
      withDatabase(opts, async (db) => {
        const m = await fitRiskModel(db, { validationIndexDate: opts.indexDate, l2: Number(opts.l2) });
        if (opts.json) return printJson(m);
        process.stdout.write(`fitted risk model version ${m.version}: ${m.fittedPeople} people from ${m.fitIndexDate}, ${m.iterations} IRLS iterations\n`);
        process.stdout.write(`validated on ${m.validationPeople} held-out people from ${m.validationIndexDate}: c-statistic ${m.metrics.cStatistic.toFixed(3)}, PPV top 1% ${pct(m.metrics.ppv['1'])}\n`);
      }),
    ),
  );

  databaseOption(
    risk
      .command('evaluate')
      .description('the stored model on its validation people and year: c-statistic, calibration by decile, PPV and sensitivity at the top 0.5/1/5 %')
      .option('--truth <file>', "the generator's truth/persons.ndjson: print the oracle's c-statistic (true probabilities) beside the model's")
      .option('--json', 'JSON: {"cStatistic", "oracleCStatistic", "calibration": [{"decile", "predicted", "observed", "observedCount"}], "ppv", "sensitivity"}'),
  ).action((opts: RiskOptions) =>
    runWithExitCode(() =>
      withDatabase(opts, async (db) => {
        const d = await evaluateRiskModel(db, opts.truth ? readTruth(opts.truth) : undefined);
        if (opts.json) return printJson(d.evaluation);
        const e = d.evaluation;
        const lines = [`risk model version ${d.model.version} (fitted ${d.model.fittedAt.slice(0, 10)} on ${d.model.fitIndexDate}), validated on ${d.people} held-out people from ${d.model.validationIndexDate}, ${d.admitted} admitted`];
        lines.push(`c-statistic ${e.cStatistic.toFixed(3)}${d.oracle ? `; oracle (true probabilities, truth year ${d.oracle.label}, ${d.oracle.matched} people matched) ${e.oracleCStatistic!.toFixed(3)}, model on the same people ${d.oracle.cStatistic.toFixed(3)}` : ''}`);
        lines.push(`decile  predicted  observed  admitted  off by${d.oracle ? '   true probabilities by their deciles: predicted  observed  off by' : ''}`);
        const off = (p: number, o: number) => (p > 0 ? `${o >= p ? '+' : ''}${(100 * (o / p - 1)).toFixed(0)}%` : '-');
        e.calibration.forEach((c, i) => {
          const oc = d.oracle?.calibration[i];
          lines.push(`${String(c.decile).padStart(6)}  ${pct(c.predicted).padStart(9)}  ${pct(c.observed).padStart(8)}  ${String(c.observedCount).padStart(8)}  ${off(c.predicted, c.observed).padStart(6)}${oc ? `   ${pct(oc.predicted).padStart(46)}  ${pct(oc.observed).padStart(8)}  ${off(oc.predicted, oc.observed).padStart(6)}` : ''}`);
        });
        for (const t of ['0.5', '1', '5'] as const) lines.push(`top ${t}%: PPV ${pct(e.ppv[t])}, sensitivity ${pct(e.sensitivity[t])}`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    ),
  );

  databaseOption(
    risk
      .command('score')
      .description('score every registered person with the stored model; tiers top 0.5/1/5/20 %; each run kept (tier history)')
      .option('--as-of <date>', "features from the record before this date (default: today, or the day after the data's end)")
      .option('--json', 'JSON'),
  ).action((opts: RiskOptions) =>
    runWithExitCode(() =>
      withDatabase(opts, async (db) => {
        const r = await scoreRiskPopulation(db, { asOf: opts.asOf });
        if (opts.json) return printJson(r);
        process.stdout.write(`scored ${r.people} people as of ${r.indexDate} with model version ${r.modelVersion} (run ${r.runId}): features ${r.featureSeconds} s, scores ${r.scoreSeconds} s\n`);
        process.stdout.write(`tiers: top 0.5% ${r.tiers['0.5']}, top 1% ${r.tiers['1']}, top 5% ${r.tiers['5']}, top 20% ${r.tiers['20']}\n`);
      }),
    ),
  );

  databaseOption(risk.command('model').description('the stored model: coefficients, version, date fitted, validation metrics').option('--json', 'JSON')).action((opts: RiskOptions) =>
    runWithExitCode(() =>
      withDatabase(opts, async (db) => {
        const m = await requireRiskModel(db);
        if (opts.json) return printJson(m);
        process.stdout.write(describeModel(m));
      }),
    ),
  );

  databaseOption(
    risk
      .command('cohort')
      .description('the high-risk people of a practice or neighbourhood in the latest scoring, with tier, top factors and tier history (through the access policy)')
      .option('--practice <ods>', "a practice's people (a GP's own practice is the default and the limit)")
      .option('--neighbourhood <code>', "a neighbourhood's people (secondary use: pseudonymised)")
      .option('--tier <percent>', 'top 0.5, 1, 5 or 20 (per cent of the population)', '5')
      .option('--user <name>', 'the local user asking (bevan user add); default $BEVAN_USER')
      .option('--purpose <purpose>', "purpose of use (default: the role's own)")
      .option('--json', 'JSON'),
  ).action((opts: RiskOptions) =>
    runWithExitCode(() =>
      withDatabase(opts, async (db) => {
        if (opts.practice && opts.neighbourhood) throw invalid('give --practice or --neighbourhood, not both');
        const ctx = await cliContext(db, opts);
        if (!opts.purpose) ctx.purpose = defaultPurposeFor(ctx.principal.role);
        const r = await riskCohort(ctx, { practice: opts.practice ?? null, neighbourhood: opts.neighbourhood ?? null, tier: opts.tier });
        if (opts.json) return printJson(r);
        const lines = [`top ${r.tier}% risk of emergency admission${r.practice ? `, practice ${r.practice}` : ''}${r.neighbourhood ? `, neighbourhood ${r.neighbourhood}` : ''}: ${r.people.length} people (${r.view})${r.run ? `, scored ${r.run.indexDate} with model ${r.run.modelVersion}` : ', no scoring yet (bevan risk score)'}`];
        for (const p of r.people) {
          const who = r.view === 'identified' ? `${(p as IdentifiedRiskPerson).nhsNumber ?? '-'}  ${((p as IdentifiedRiskPerson).name ?? '').padEnd(26)}` : `${(p as PseudonymisedRiskPerson).pseudonym}`;
          lines.push(`  ${who} ${pct(p.probability).padStart(6)} top ${p.tier}%  eFI ${p.efi.toFixed(2)} ${p.efiBand}  ${p.factors.map((f) => `${f.label} (×${f.oddsRatio})`).join('; ')}`);
        }
        lines.push(`  not shown: restricted ${r.withheld.restricted}, national data opt-out ${r.withheld.optedOut}, dissent from sharing ${r.withheld.dissent}`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    ),
  );
}

function describeModel(m: RiskModel): string {
  const lines = [`risk model version ${m.version}, fitted ${m.fittedAt} (${m.method}, L2 ${m.l2}, ${m.iterations} iterations)`];
  lines.push(`fitted on ${m.fittedPeople} people, features before ${m.fitIndexDate}, outcome the 12 months after; validated on ${m.validationPeople} held-out people from ${m.validationIndexDate}`);
  lines.push(`c-statistic ${m.metrics.cStatistic.toFixed(3)}; PPV top 0.5/1/5%: ${(['0.5', '1', '5'] as const).map((t) => pct(m.metrics.ppv[t])).join(' / ')}`);
  lines.push(`intercept ${m.intercept.toFixed(4)}`);
  for (const t of m.terms) lines.push(`  ${t.name.padEnd(34)} ${t.coefficient >= 0 ? ' ' : ''}${t.coefficient.toFixed(4)}  (odds ×${Math.exp(t.coefficient).toFixed(2)}; mean ${t.mean.toFixed(3)})`);
  return lines.join('\n') + '\n';
}
