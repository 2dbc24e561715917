/**
 * `bevan duplicate-tests [--practice ODS] [--since DATE] [--until DATE] [--count] [--csv|--json] --user NAME`:
 * laboratory tests repeated across primary and secondary care within the test's minimum
 * retesting interval (analytics/duplicate-tests/retest-intervals.csv), counted by practice and
 * listed (person, test, the two dates, the two sources). Through the access policy: a GP sees
 * their own practice identified; an analyst disclosure-controlled counts and pseudonymised lists.
 */
import type { Command } from 'commander';
import { defaultPurposeFor, invalid } from '../../access/context.ts';
import { showControlled } from '../../analytics/cohorts/sdc.ts';
import { loadSources, TariffError } from '../../analytics/commissioning/tariff.ts';
import { loadIntervals, RetestIntervalError } from '../../analytics/duplicate-tests/intervals.ts';
import { duplicateTests, duplicateTestsCsv, type DuplicateTestsResult, type IdentifiedRepeat, type PseudonymisedRepeat } from '../../analytics/duplicate-tests/service.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface DuplicateOptions extends DatabaseOptions, WhoOptions {
  practice?: string;
  since?: string;
  until?: string;
  intervals?: string;
  count?: boolean;
  csv?: boolean;
  json?: boolean;
}

export function registerDuplicateTests(program: Command): void {
  databaseOption(
    program
      .command('duplicate-tests')
      .description('laboratory tests repeated across GP and hospital within the minimum retesting interval, by practice and listed (through the access policy)')
      .option('--practice <ods>', "only people registered at this practice (a GP's own practice is the default and the limit)")
      .option('--since <date>', 'only repeats on or after this date (YYYY-MM-DD)')
      .option('--until <date>', 'only repeats on or before this date (YYYY-MM-DD), default today')
      .option('--intervals <file>', 'a retesting intervals CSV (test,title,interval_days,system,code,display,source) instead of the shipped one')
      .option('--count', 'counts by practice and test only, no list')
      .option('--csv', 'CSV: the repeats (or, with --count, the counts per practice and test)')
      .option('--json', 'one JSON object')
      .option('--user <name>', 'the local user running it; default $BEVAN_USER')
      .option('--purpose <purpose>', "purpose of use (default: the role's own: direct-care, or secondary-use for an analyst)"),
  ).action(async (opts: DuplicateOptions) =>
    runWithExitCode(async () => {
      let intervals, sources;
      try {
        intervals = loadIntervals(opts.intervals);
        sources = loadSources();
      } catch (err) {
        if (err instanceof RetestIntervalError || err instanceof TariffError) throw invalid(err.message, err.problems);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw invalid(`cannot read ${opts.intervals}: no such file`);
        throw err;
      }
      await withDatabase(opts, async (db) => {
        const ctx = await cliContext(db, opts);
        if (!opts.purpose) ctx.purpose = defaultPurposeFor(ctx.principal.role);
        const r = await duplicateTests(ctx, { intervals: intervals!, sources: sources!, practice: opts.practice ?? null, since: opts.since ?? null, until: opts.until ?? null, output: opts.count ? 'count' : 'list' });
        if (opts.json) return printJson(r);
        if (opts.csv) return void process.stdout.write(duplicateTestsCsv(r));
        process.stdout.write(describe(r));
      });
    }),
  );
}

function describe(r: DuplicateTestsResult): string {
  const c = showControlled;
  const out = [
    `Tests repeated across primary and secondary care within the minimum retesting interval${r.since ? `, ${r.since}` : ''} to ${r.until}${r.practice ? `, practice ${r.practice}` : ''} (${r.view}${r.disclosureControl ? '; under 8 suppressed (*), others rounded to 5' : ''})`,
    `  ${c(r.total.repeats)} repeats, ${c(r.total.people)} people; withheld: ${c(r.withheld.restricted)} restricted, ${c(r.withheld.optedOut)} opted out, ${c(r.withheld.dissent)} dissent`,
    '',
    'practice     repeats  people  by test',
  ];
  for (const p of r.byPractice) out.push(`${String(p.practice ?? '(none)').padEnd(12)} ${c(p.repeats).padStart(7)} ${c(p.people).padStart(7)}  ${Object.entries(p.byTest).map(([t, n]) => `${t} ${c(n)}`).join(', ')}`);
  if (r.repeats?.length) {
    out.push('', 'who                               test              first (setting, source)                       repeat (setting, source)                      days');
    for (const x of r.repeats as (IdentifiedRepeat | PseudonymisedRepeat)[]) {
      const who = 'pseudonym' in x ? x.pseudonym : `${x.nhsNumber ?? x.personId} ${x.name ?? ''}`.trim();
      const side = (t: typeof x.first) => `${t.at.slice(0, 16)} ${t.setting} ${t.sources.join(' ')}`.padEnd(45);
      out.push(`${who.slice(0, 33).padEnd(33)} ${x.test.padEnd(17)} ${side(x.first)} ${side(x.repeat)} ${x.daysApart} (< ${x.intervalDays})`);
    }
  }
  out.push('', `Intervals: ${r.intervals.map((i) => `${i.test} ${i.days} d`).join(', ')} (analytics/duplicate-tests/retest-intervals.csv)`, `  (${r.seconds} s)`);
  return out.join('\n') + '\n';
}
