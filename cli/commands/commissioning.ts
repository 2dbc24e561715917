/**
 * `bevan commissioning report`: use and cost of care by month per practice, neighbourhood,
 * setting or (pseudonymised) person, costed from analytics/commissioning/tariff.csv, with the shift
 * of contacts out of hospital and each source's data freshness. Aggregate secondary use: an
 * analyst's figures, under disclosure control (under 8 suppressed "*", others rounded to 5).
 */
import type { Command } from 'commander';
import { defaultPurposeFor, invalid, notFound } from '../../access/context.ts';
import { CohortDefinitionError, type CohortDefinition } from '../../analytics/cohorts/definition.ts';
import { findRegister, loadRegisters } from '../../analytics/cohorts/registers.ts';
import { showControlled } from '../../analytics/cohorts/sdc.ts';
import { commissioningReport, GROUPINGS, type CommissioningReport, type Grouping } from '../../analytics/commissioning/report.ts';
import { loadSources, loadTariff, TariffError } from '../../analytics/commissioning/tariff.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface ReportOptions extends DatabaseOptions, WhoOptions {
  by: string;
  months: string;
  asOf?: string;
  cohort?: string;
  tariff?: string;
  json?: boolean;
}

export function registerCommissioning(program: Command): void {
  const c = program.command('commissioning').description('commissioning intelligence: use and cost of care (aggregate secondary use, disclosure controlled)');
  databaseOption(
    c
      .command('report')
      .description('use and cost of care by month, costed from the tariff, with the shift out of hospital and data freshness per source')
      .option('--by <grouping>', `group by ${GROUPINGS.join(', ')} (person: pseudonymised)`, 'setting')
      .option('--months <n>', 'the months ending with the --as-of month', '12')
      .option('--as-of <date>', 'last day counted (YYYY-MM-DD), default today')
      .option('--cohort <register>', 'only the people on this register (a name or a cohort file)')
      .option('--tariff <file>', 'a tariff CSV (activity,setting,unit,price_gbp,source) instead of the shipped one')
      .option('--json', 'print the report as one JSON object')
      .option('--user <name>', 'the local user (an analyst); default $BEVAN_USER')
      .option('--purpose <purpose>', "purpose of use (default: the role's own)"),
  ).action(async (opts: ReportOptions) =>
    runWithExitCode(async () => {
      const months = Number(opts.months);
      if (!(GROUPINGS as readonly string[]).includes(opts.by)) throw invalid(`--by must be one of ${GROUPINGS.join(', ')}, got "${opts.by}"`);
      let tariff, sources, registers: ReturnType<typeof loadRegisters> | undefined;
      let cohort: CohortDefinition | undefined;
      try {
        tariff = loadTariff(opts.tariff);
        sources = loadSources();
        if (opts.cohort) {
          registers = loadRegisters();
          cohort = findRegister(opts.cohort, registers, true);
          if (!cohort) throw notFound(`no register "${opts.cohort}" (bevan cohort list shows them)`);
        }
      } catch (err) {
        if (err instanceof TariffError || err instanceof CohortDefinitionError) throw invalid(err.message, err.problems);
        throw err;
      }
      await withDatabase(opts, async (db) => {
        const ctx = await cliContext(db, opts);
        if (!opts.purpose) ctx.purpose = defaultPurposeFor(ctx.principal.role);
        const r = await commissioningReport(ctx, { by: opts.by as Grouping, months, asOf: opts.asOf, tariff: tariff!, sources: sources!, cohort, resolve: (n) => registers?.get(n) });
        if (opts.json) return printJson(r);
        process.stdout.write(describe(r));
      });
    }),
  );
}

const money = (v: number | null) => (v === null ? '*' : `£${Math.round(v).toLocaleString('en-GB')}`);

function describe(r: CommissioningReport): string {
  const out = [`Use and cost of care by ${r.by}, ${r.months[0]} to ${r.months.at(-1)} (as of ${r.asOf}${r.cohort ? `, cohort ${r.cohort}` : ''}); under 8 suppressed (*), others rounded to 5`];
  out.push('', 'month    key                              people       cost  sources (latest activity)');
  for (const x of r.rows) {
    const fresh = x.freshness.map((f) => `${f.source} ${f.latestActivity ?? '?'}`).join(', ');
    out.push(`${x.month}  ${String(x.key ?? '(none)').padEnd(32)} ${showControlled(x.people).padStart(6)} ${money(x.costGbp).padStart(10)}  ${fresh}`);
    for (const [a, n] of Object.entries(x.activity).sort()) out.push(`           ${a.padEnd(30)} ${showControlled(n).padStart(6)}`);
  }
  out.push('', 'Shift out of hospital (contacts): month, hospital, out of hospital, share out of hospital');
  for (const s of r.shift) out.push(`  ${s.month}  ${showControlled(s.hospital).padStart(7)}  ${showControlled(s.outOfHospital).padStart(7)}  ${s.outOfHospitalShare === null ? '-' : `${(s.outOfHospitalShare * 100).toFixed(1)}%`}`);
  out.push('', 'Data freshness per source: source, setting, last received, latest activity');
  for (const f of r.freshness) out.push(`  ${f.source.padEnd(24)} ${String(f.setting ?? '(no setting)').padEnd(14)} ${f.lastReceived ?? '-'}  ${f.latestActivity ?? '-'}`);
  out.push(`  (${r.seconds} s)`);
  return out.join('\n') + '\n';
}
