/**
 * Runs SQL statements on one connection and prints, for each, its wall time and the server CPU it
 * cost: the backend's and its parallel workers' (found in /proc by their "parallel worker for PID n"
 * title, sampled every 10 ms). For comparing variants of a statement on a loaded machine, where
 * wall times are the load's and CPU seconds are the statement's.
 *   DATABASE_URL=… node --import tsx bench/sql-cpu.ts FILE.sql [--repeat 2]
 * FILE holds statements separated by lines of `-- ;;`; a statement starting with `-- label:` is named so.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { arg, procCpu } from './util.ts';

const file = process.argv[2];
if (!file || !process.env.DATABASE_URL) throw new Error('usage: DATABASE_URL=… sql-cpu.ts FILE.sql');
const REPEAT = Number(arg('repeat', '1'));
const statements = readFileSync(file, 'utf8').split(/^-- ;;\s*$/m).map((s) => s.trim()).filter(Boolean);
const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
await c.connect();
const pid = Number((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p);
const title = `parallel worker for PID ${pid}`;

function workers(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(title)) out.push(Number(d));
    } catch {}
  }
  return out;
}

for (let r = 0; r < REPEAT; r++) {
  for (const sql of statements) {
    const label = /^-- label:\s*(.*)$/m.exec(sql)?.[1] ?? sql.replace(/\s+/g, ' ').slice(0, 60);
    const seen = new Map<number, { first: number; last: number }>();
    const sample = () => {
      for (const w of [pid, ...workers()]) {
        const t = procCpu(w);
        if (t === null) continue;
        const s = seen.get(w);
        if (s) s.last = t;
        else seen.set(w, { first: w === pid ? t : 0, last: t });
      }
    };
    sample();
    const timer = setInterval(sample, 10);
    const t0 = performance.now();
    let rows = 0;
    try {
      const res = await c.query(sql);
      rows = Array.isArray(res) ? res.reduce((s, x) => s + (x.rowCount ?? 0), 0) : (res.rowCount ?? 0);
    } catch (e) {
      console.log(`${label}: ERROR ${(e as Error).message}`);
    }
    const wall = (performance.now() - t0) / 1000;
    clearInterval(timer);
    sample();
    let cpu = 0;
    for (const s of seen.values()) cpu += s.last - s.first;
    console.log(`${label}: ${wall.toFixed(2)} s wall, server CPU ${cpu.toFixed(2)} s (${seen.size - 1} workers), ${rows} rows; load ${loadavg()[0]!.toFixed(1)}`);
  }
}
await c.end();
