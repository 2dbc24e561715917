/**
 * The matcher at scale on PostgreSQL: a generated locality ingested once with `--no-match` into a
 * template database, copied afresh for every run (so each run starts from the same PENDING
 * identities, resources included), then `runMatcher` timed: wall, this process's CPU, the
 * database backends' CPU, peak RSS, the load average, pairs compared, and accuracy against the
 * generator's truth. The run database is dropped afterwards unless --keep.
 *
 *   node bin/bevan.mjs generate --people 50000 --seed 11 --out /tmp/loc
 *   createdb -h 127.0.0.1 -U postgres loc
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/loc node bin/bevan.mjs ingest /tmp/loc --no-match --json
 *   node --import tsx bench/mpi-scale.ts --template loc --truth /tmp/loc/truth/persons.ndjson [--round-size 20000] [--keep] [--profile-sql] [--parameters FILE]
 *
 * --profile-sql adds the statements that took longest in total (wall, from this side), by their first words.
 * --parameters FILE writes the fitted model (m, u, λ, household cap, thresholds; `bevan mpi match --json`'s
 * `parameters`) to FILE, to compare two runs.
 *
 * The server URL (any database on it) comes from BEVAN_BENCH_DATABASE_URL or DATABASE_URL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import type { Database, Queryable } from '../db/database.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { evaluateAgainstTruth } from '../mpi/evaluate.ts';
import { arg, PG_URL } from './util.ts';

const template = arg('template', '');
const truth = arg('truth', '');
const roundSize = Number(arg('round-size', '20000'));
const keep = process.argv.includes('--keep');
const profileSql = process.argv.includes('--profile-sql');
const parametersFile = arg('parameters', '');
if (!/^[a-z_][a-z0-9_]*$/.test(template)) throw new Error('--template NAME (a database ingested with --no-match) is required');
const run = `${template}_run`;

const withDatabase = (name: string) => {
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
};
const admin = new pg.Client({ connectionString: withDatabase('postgres') });
await admin.connect();
const copyStarted = performance.now();
await admin.query(`DROP DATABASE IF EXISTS ${run}`);
// FILE_COPY: a checkpoint and a copy of the files, much faster than WAL-logging every block.
await admin.query(`CREATE DATABASE ${run} TEMPLATE ${template} STRATEGY FILE_COPY`).catch(() => admin.query(`CREATE DATABASE ${run} TEMPLATE ${template}`));
const copySeconds = (performance.now() - copyStarted) / 1000;

// The backends' CPU: the server is on this machine, so /proc shows each backend of the run
// database; polled, keeping each one's last reading (an idle pooled client may be closed).
const ticks = 100; // USER_HZ
const backendCpu = new Map<number, number>();
const readBackends = async () => {
  const r = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [run]);
  for (const { pid } of r.rows) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      backendCpu.set(pid, (Number(f[11]) + Number(f[12])) / ticks);
    } catch {
      // gone, or another machine: keep what was read
    }
  }
};
const poll = setInterval(() => void readBackends().catch(() => {}), 500);

const sqlTime = new Map<string, { calls: number; seconds: number }>();
const timed = <Q extends Queryable>(q: Q): Q => {
  const wrap = Object.create(q) as Q;
  wrap.query = async (sql, params) => {
    const t = performance.now();
    try {
      return await q.query(sql, params);
    } finally {
      const k = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
      const e = sqlTime.get(k) ?? { calls: 0, seconds: 0 };
      e.calls++;
      e.seconds += (performance.now() - t) / 1000;
      sqlTime.set(k, e);
    }
  };
  return wrap;
};
const opened = await openPostgres(withDatabase(run));
const db: Database = profileSql ? Object.assign(timed(opened), { transaction: <T>(fn: (tx: Queryable) => Promise<T>) => opened.transaction((tx) => fn(timed(tx))) }) : opened;
const load = [loadavg()[0]!];
const lines: string[] = [];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let m: Awaited<ReturnType<typeof runMatcher>>;
try {
  m = await runMatcher(db, {
    roundSize,
    log: (s) => {
      const line = `${((performance.now() - t0) / 1000).toFixed(1)} s ${s}`;
      lines.push(line);
      console.error(`  ${line}`);
    },
  });
} finally {
  clearInterval(poll);
}
const wall = (performance.now() - t0) / 1000;
if (parametersFile) writeFileSync(parametersFile, `${JSON.stringify(m.parameters, null, 1)}\n`);
const cpu = process.cpuUsage(cpu0);
await readBackends();
load.push(loadavg()[0]!);
const e = truth ? await evaluateAgainstTruth(db, truth) : null;
const twoNumbers = await db.query<{ n: number }>(
  `SELECT count(*)::int AS n FROM (SELECT person_id FROM source_identity WHERE nhs_number_valid GROUP BY person_id HAVING count(DISTINCT nhs_number) > 1) x`,
);
const identities = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM source_identity');
await db.close();
if (!keep) await admin.query(`DROP DATABASE IF EXISTS ${run}`);
await admin.end();

const r1 = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  template,
  identities: identities.rows[0]!.n,
  roundSize,
  copySeconds: r1(copySeconds),
  matcherWallSeconds: r1(wall),
  nodeCpuSeconds: r1((cpu.user + cpu.system) / 1e6),
  databaseCpuSeconds: r1([...backendCpu.values()].reduce((s, x) => s + x, 0)),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  loadAverage: load.map(r1),
  pending: m.pending,
  pairs: m.pairs,
  matched: m.matched,
  possible: m.possible,
  noMatch: m.noMatch,
  confirmed: m.confirmed,
  nhsConflicts: m.nhsConflicts,
  personsWithTwoValidNhsNumbers: twoNumbers.rows[0]!.n,
  ...(e ? { precision: e.precision, recall: e.recall, f1: e.f1, falsePositives: e.falsePositives, falseNegatives: e.falseNegatives } : {}),
  log: lines,
  ...(profileSql ? { sql: [...sqlTime].sort((x, y) => y[1].seconds - x[1].seconds).slice(0, 15).map(([k, v]) => `${v.seconds.toFixed(1)} s ${v.calls}× ${k}`) } : {}),
}, null, 1));
