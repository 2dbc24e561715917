/**
 * `bevan cohort`: the clinical panels' registers and cohort files, through the access policy.
 *   bevan cohort list                       the registers (name, panel, title)
 *   bevan cohort count REGISTER             how many people (own practice for a GP; controlled for an analyst)
 *   bevan cohort list REGISTER              the people: identified (GP, practice nurse) or pseudonymised (analyst)
 *   bevan cohort export REGISTER            the same list as CSV for use elsewhere
 *   bevan cohort run REGISTER --json        {"name", "count", "seconds"}
 * REGISTER is a shipped register's name (analytics/cohorts/registers/) or a path to a cohort file.
 */
import type { Command } from 'commander';
import { defaultPurposeFor, invalid, notFound } from '../../access/context.ts';
import { CohortDefinitionError } from '../../analytics/cohorts/definition.ts';
import { findRegister, loadRegisters } from '../../analytics/cohorts/registers.ts';
import { showControlled } from '../../analytics/cohorts/sdc.ts';
import { cohortCsv, runCohort, type CohortOutput, type CohortResult, type IdentifiedMember, type PseudonymisedMember } from '../../analytics/cohorts/service.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface CohortOptions extends DatabaseOptions, WhoOptions {
  practice?: string;
  csv?: boolean;
  json?: boolean;
  asOf?: string;
}

export function registerCohort(program: Command): void {
  const cohort = program.command('cohort').description("the clinical panels' registers and cohort definitions (JSON files), counted and listed through the access policy");
  const common = (cmd: Command) =>
    databaseOption(
      cmd
        .option('--practice <ods>', "only people registered at this practice (a GP's own practice is the default and the limit)")
        .option('--as-of <date>', 'run the register for this date (YYYY-MM-DD): windows end here (default today)')
        .option('--user <name>', 'the local user running it (bevan user add); default $BEVAN_USER')
        .option('--purpose <purpose>', "purpose of use (default: the role's own: direct-care, or secondary-use for an analyst)"),
    );
  const act = (output: CohortOutput, mode: 'text' | 'csv' | 'run') => async (register: string | undefined, opts: CohortOptions) =>
    runWithExitCode(async () => {
      const registers = loadOrExplain();
      if (output === 'list' && register === undefined && mode === 'text') return printRegisters(registers, opts.json === true);
      if (!register) throw invalid('name a register (bevan cohort list shows them) or a cohort file');
      let def;
      try {
        def = findRegister(register, registers, true);
      } catch (err) {
        if (err instanceof CohortDefinitionError) throw invalid(err.message, err.problems);
        throw err;
      }
      if (!def) throw notFound(`no register "${register}" (bevan cohort list shows them)`);
      await withDatabase(opts, async (db) => {
        const ctx = await cliContext(db, opts);
        if (!opts.purpose) ctx.purpose = defaultPurposeFor(ctx.principal.role);
        const r = await runCohort(ctx, def, { output, practice: opts.practice ?? null, asOf: opts.asOf, resolve: (n) => registers.get(n) });
        if (mode === 'run') return printJson({ name: r.name, count: r.count, seconds: r.seconds });
        if (mode === 'csv' || opts.csv) return void process.stdout.write(cohortCsv(r));
        if (opts.json) return printJson(r);
        process.stdout.write(describe(r));
      });
    });

  common(cohort.command('count <register>').description('how many people are on the register').option('--csv', 'CSV (per practice for an analyst)').option('--json', 'JSON')).action(act('count', 'text'));
  common(cohort.command('list [register]').description('the registers; with a register, its people (identified or pseudonymised, by the policy)').option('--csv', 'CSV').option('--json', 'JSON')).action(act('list', 'text'));
  common(cohort.command('export <register>').description("the register's people as CSV on stdout (identified or pseudonymised, by the policy)")).action(act('export', 'csv'));
  common(cohort.command('run <register>').description('run a register and print {"name", "count", "seconds"}').option('--json', 'JSON (the default and only form)')).action(act('count', 'run'));
}

function loadOrExplain() {
  try {
    return loadRegisters();
  } catch (err) {
    if (err instanceof CohortDefinitionError) throw invalid(`the shipped registers are invalid: ${err.message}`, err.problems);
    throw err;
  }
}

function printRegisters(registers: ReturnType<typeof loadRegisters>, json: boolean): void {
  const rows = [...registers.values()].map((d) => ({ name: d.name, panel: d.panel, title: d.title }));
  if (json) return printJson({ registers: rows });
  for (const r of rows) process.stdout.write(`${r.name.padEnd(40)} ${r.panel.padEnd(14)} ${r.title}\n`);
}

function describe(r: CohortResult): string {
  const lines = [`${r.title} (${r.name}), as of ${r.asOf}${r.practice ? `, practice ${r.practice}` : ''}: ${showControlled(r.count)} ${r.view === 'identified' ? 'people' : 'people (rounded to 5, under 8 suppressed)'}`];
  const w = r.withheld;
  lines.push(`  not shown: restricted ${showControlled(w.restricted)}, national data opt-out ${showControlled(w.optedOut)}, dissent from sharing ${showControlled(w.dissent)}`);
  for (const p of r.byPractice ?? []) lines.push(`  ${p.practice ?? '(no practice)'}: ${showControlled(p.count)}`);
  if (r.members && r.view === 'identified') for (const m of r.members as IdentifiedMember[]) lines.push(`  ${m.nhsNumber ?? '-'}  ${(m.name ?? '').padEnd(28)} ${m.birthDate ?? ''}  ${m.record}`);
  if (r.members && r.view === 'pseudonymised') for (const m of r.members as PseudonymisedMember[]) lines.push(`  ${m.pseudonym}  ${m.practice ?? ''}  ${m.neighbourhood ?? ''}`);
  lines.push(`  (${r.seconds} s)`);
  return lines.join('\n') + '\n';
}
