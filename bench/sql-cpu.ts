/**
 * Runs SQL statements on one connection and prints, for each, its wall time and the server CPU it
 * cost: the backend's and its parallel workers' (bench/util.ts serverCpuMeter: found in
 * pg_stat_activity by their leader's pid, their CPU read from /proc every 20 ms). For comparing variants of a statement on a loaded machine, where
 * wall times are the load's and CPU seconds are the statement's.
 *   DATABASE_URL=… node --import tsx bench/sql-cpu.ts FILE.sql [--repeat 2]
 * FILE holds statements separated by lines of `-- ;;`; a statement starting with `-- label:` is named so.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { arg, serverCpuMeter } from './util.ts';

const file = process.argv[2];
if (!file || !process.env.DATABASE_URL) throw new Error('usage: DATABASE_URL=… sql-cpu.ts FILE.sql');
const REPEAT = Number(arg('repeat', '1'));
const statements = readFileSync(file, 'utf8').split(/^-- ;;\s*$/m).map((s) => s.trim()).filter(Boolean);
const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
await c.connect();
const pid = Number((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p);
// The backend's CPU and its parallel workers' (bench/util.ts).
const meter = await serverCpuMeter(process.env.DATABASE_URL, { backendPid: pid });

for (let r = 0; r < REPEAT; r++) {
  for (const sql of statements) {
    const label = /^-- label:\s*(.*)$/m.exec(sql)?.[1] ?? sql.replace(/\s+/g, ' ').slice(0, 60);
    const t0 = performance.now();
    const { result: rows, cpu } = await meter.measure(async () => {
      try {
        const res = await c.query(sql);
        return Array.isArray(res) ? res.reduce((s, x) => s + (x.rowCount ?? 0), 0) : (res.rowCount ?? 0);
      } catch (e) {
        console.log(`${label}: ERROR ${(e as Error).message}`);
        return 0;
      }
    });
    const wall = (performance.now() - t0) / 1000;
    console.log(`${label}: ${wall.toFixed(2)} s wall, server CPU ${cpu.seconds.toFixed(2)} s (${cpu.processes - 1} workers), ${rows} rows; load ${loadavg()[0]!.toFixed(1)}`);
  }
}
await meter.close();
await c.end();
