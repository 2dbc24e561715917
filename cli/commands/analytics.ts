/**
 * `bevan analytics refresh`: rebuilds the dashboards' summary (analytics/dashboards/refresh.ts,
 * migration 0032) from the store — every register's size at each month end, every measure's
 * monthly series, and use and cost of care by practice, neighbourhood, setting and cohort. The
 * dashboards (GET /analytics/dashboard/…, /analytics/spc/…, /analytics/aims,
 * /analytics/commissioning) read it. `bevan ingest` and `bevan demo` run it after each load.
 */
import type { Command } from 'commander';
import { invalid } from '../../access/context.ts';
import { DEFAULT_MONTHS, refreshDashboards, type RefreshResult } from '../../analytics/dashboards/refresh.ts';
import { SeriesError } from '../../analytics/dashboards/series.ts';
import { refreshMaterialisedViews, type MaterialiseResult } from '../../analytics/views/materialised.ts';
import type { Database } from '../../db/database.ts';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { runWithExitCode } from './cli-context.ts';

export function registerAnalytics(program: Command): void {
  const a = program.command('analytics').description("the dashboards' summary of registers, measures and use and cost of care");
  databaseOption(
    a
      .command('refresh')
      .description('bring analytics\' flat tables up to date (the resources received since the last refresh), then rebuild the dashboards\' summary from them (register sizes and measures by month, use and cost by practice, neighbourhood, setting, cohort), and bring the materialised views (bevan view materialise) up to date')
      .option('--as-of <date>', 'the last day counted (YYYY-MM-DD), default today')
      .option('--months <n>', 'the months ending with the --as-of month', String(DEFAULT_MONTHS))
      .option('--json', 'print one JSON object: {"asOf","months","registers","measures","measureRows","useRows","seconds"}'),
  ).action(async (opts: { data?: string; asOf?: string; months: string; json?: boolean }) =>
    runWithExitCode(async () => {
      const months = Number(opts.months);
      await withDatabase(opts, async (db) => {
        const r = await refreshSummary(db, { asOf: opts.asOf, months, actor: 'bevan analytics refresh' });
        if (opts.json) printJson(r);
        else console.log(describeRefresh(r));
      });
    }),
  );
}

/** Refreshes the summary; a bad option is an invalid-input error. */
export async function refreshSummary(db: Database, o: { asOf?: string; months?: number; actor: string }): Promise<RefreshResult & { views?: MaterialiseResult[] }> {
  try {
    const r = await refreshDashboards(db, o);
    // The materialised views (bevan view materialise): the people a load changed made again.
    const views = await refreshMaterialisedViews(db);
    return views.length ? { ...r, views } : r;
  } catch (err) {
    if (err instanceof SeriesError) throw invalid(err.message);
    throw err;
  }
}

export function describeRefresh(r: RefreshResult & { views?: MaterialiseResult[] }): string {
  const views = (r.views ?? []).map((v) => `; view ${v.name ?? v.fingerprint} ${v.mode}${v.mode === 'current' ? '' : ` (${v.people} people, ${v.rows} rows)`}`).join('');
  return `analytics: ${r.registers} registers and ${r.measures} measures over ${r.months} months to ${r.asOf} (${r.measureRows} series rows), use and cost ${r.useRows} rows, in ${r.seconds.total}s${views}`;
}
