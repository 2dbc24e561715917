/**
 * The commissioning classification's statement (analytics/commissioning/report.ts activityCtes,
 * over the flat tables) beside the statement over the stored JSON it replaced (activity-json.ts):
 * the monthly use and cost of the secondary-use population by setting, for the 24 months ending
 * today, on the store in DATABASE_URL (a PostgreSQL server: the server's CPU is read from the
 * backend's /proc entry, so run it on the database's machine). Prints wall seconds, server CPU
 * seconds and rows for each, and the load average.
 *   DATABASE_URL=… node --import tsx bench/commissioning-use.ts [--runs 2] [--explain] [--flat-only]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { openDatabase } from '../db/open.ts';
import { activityCtesFromJson } from '../analytics/commissioning/activity-json.ts';
import { activityCtes } from '../analytics/commissioning/report.ts';
import { loadSources, loadTariff } from '../analytics/commissioning/tariff.ts';
import { ensureFlatTablesCurrent } from '../analytics/flat/refresh.ts';
import { monthsEnding } from '../analytics/commissioning/report.ts';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 2) || 2;
const db = await openDatabase({});
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
try {
  await ensureFlatTablesCurrent(db);
  const asOf = new Date().toISOString().slice(0, 10);
  const months = monthsEnding(asOf, 24);
  const sources = loadSources();
  const tariff = loadTariff();
  console.log(`commissioning use by setting, 24 months to ${asOf}, ${db.location}; load average ${load()}`);
  console.log('statement | run | wall s | server CPU s | rows');
  for (let run = 1; run <= runs; run++) {
    for (const [name, ctes] of ([['stored JSON', activityCtesFromJson], ['flat tables', activityCtes]] as const).filter(([n]) => !process.argv.includes('--flat-only') || n === 'flat tables')) {
      await db.transaction(async (tx) => {
        const params: unknown[] = [];
        const bind = (v: unknown) => (params.push(v), `$${params.length}`);
        const c = ctes(bind, { sources, start: `${months[0]}-01`, asOf });
        const pA = bind(tariff.map((t) => t.activity));
        const pP = bind(tariff.map((t) => t.priceGbp));
        const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const cpu = () => {
          const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return (Number(f[11]) + Number(f[12])) / 100;
        };
        const c0 = cpu();
        const t0 = performance.now();
        const explain = process.argv.includes('--explain') ? 'EXPLAIN (ANALYZE, BUFFERS) ' : '';
        const r = await tx.query(
          `${explain}${c.sql} SELECT to_char(a.day, 'YYYY-MM') AS month, a.setting, a.activity, count(DISTINCT a.person_id) AS people, sum(a.quantity) AS quantity, sum(a.quantity * t.price) AS cost
             FROM activity a JOIN people p ON p.person_id = a.person_id JOIN unnest(${pA}::text[], ${pP}::float8[]) AS t(activity, price) ON t.activity = a.activity
            WHERE a.day >= ${c.start}::date AND a.day <= ${c.asOf}::date GROUP BY 1, 2, 3`,
          params,
        );
        if (explain) console.log(r.rows.map((x) => (x as Record<string, string>)['QUERY PLAN']).join('\n'));
        console.log(`${name} | ${run} | ${((performance.now() - t0) / 1000).toFixed(2)} | ${(cpu() - c0).toFixed(2)} | ${r.rows.length}`);
      });
    }
  }
  console.log(`load average after ${load()}`);
} finally {
  await db.close();
}
