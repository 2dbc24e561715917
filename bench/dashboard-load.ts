/**
 * Dashboard endpoints under load: 20 concurrent clients (autocannon) against the real server,
 * each endpoint for a few seconds, printing requests, p50/p95/p99 latency (from every response's
 * time, not autocannon's buckets), CPU ms per request (server and load generator together, one
 * process) and the load average before and after.
 *   node --import tsx bench/dashboard-load.ts [--data DIR | DATABASE_URL=… [--schema NAME]] [--people 1000] [--seconds 10] [--connections 20] [--no-refresh]
 * `--schema NAME` reads that schema first, then public (`search_path NAME,public`), without migrating:
 * the borough-size copies of `bench/analytics-scale.ts --keep` (schema bench_scale). Migrating there
 * would make a second, empty migrations table in it and run every migration again, one of which
 * empties the flat watermark, so that the next refresh rebuilds the copy's flat tables from its
 * `resource` (which holds only Patients and CarePlans): empty. The summary it rebuilds is written to
 * public's summary tables (the copy has none): a bench database only.
 * With --data (a PGlite folder holding an ingested locality) or DATABASE_URL it uses that store;
 * otherwise it generates a locality of --people in memory (web/test-locality.ts). The dashboards'
 * summary is rebuilt first (its time printed) unless --no-refresh. Target: p95 ≤ 200 ms.
 */
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { issueToken } from '../access/tokens.ts';
import { addUser, findUser } from '../access/users.ts';
import { refreshDashboards } from '../analytics/dashboards/refresh.ts';
import type { Database } from '../db/database.ts';
import { openDatabase } from '../db/open.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { buildServer } from '../http/server.ts';
import { startTestLocality } from '../web/test-locality.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const SECONDS = Number(arg('seconds', '10'));
const CONNECTIONS = Number(arg('connections', '20'));
const PEOPLE = Number(arg('people', '1000'));
const DATA = process.argv.includes('--data') ? arg('data', '') : null;
const SCHEMA = process.argv.includes('--schema') ? arg('schema', '') : null;
if (SCHEMA !== null && (!/^[a-z_][a-z0-9_]*$/.test(SCHEMA) || !process.env.DATABASE_URL)) throw new Error('--schema takes a plain lower-case schema name, with DATABASE_URL');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

let db: Database;
let url: string;
let close: () => Promise<void>;
let where: string;
if (DATA || process.env.DATABASE_URL) {
  db = SCHEMA ? await openPostgres(process.env.DATABASE_URL!, { schema: `${SCHEMA},public` }) : await openDatabase({ dataDir: DATA ?? undefined });
  const app = buildServer({ db });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  close = async () => {
    await app.close();
    await db.close();
  };
  where = SCHEMA ? `${db.location}, schema ${SCHEMA}` : db.location;
} else {
  const t0 = performance.now();
  const loc = await startTestLocality({ people: PEOPLE });
  console.log(`generated and ingested ${PEOPLE} people in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  db = loc.db;
  url = loc.url;
  close = () => loc.close();
  where = `PGlite in memory, ${PEOPLE} people`;
}

try {
  const people = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM person WHERE status = 'active'`)).rows[0]!.n;
  if (!process.argv.includes('--no-refresh')) {
    const r = await refreshDashboards(db, { actor: 'bench/dashboard-load' });
    console.log(`refresh: ${r.measureRows} series rows, ${r.useRows} use rows in ${r.seconds.total} s (measures ${r.seconds.measures} s, use ${r.seconds.use} s)`);
  }
  const practice = (await db.query<{ key: string }>(`SELECT key FROM analytics_measure_month WHERE level = 'practice' AND key <> '' ORDER BY key LIMIT 1`)).rows[0]?.key ?? 'P91001';
  for (const [u, role, org] of [['bench-analyst', 'analyst', 'ICB'], ['bench-gp', 'gp', practice]] as const) if (!(await findUser(db, u))) await addUser(db, { username: u, role, organisation: org });
  const analyst = `Bearer ${await issueToken(db, { user: 'bench-analyst', role: 'analyst', organisation: 'ICB' })}`;
  const gp = `Bearer ${await issueToken(db, { user: 'bench-gp', role: 'gp', organisation: practice })}`;
  const endpoints: [string, string, string][] = [
    ['panel diabetes (analyst, locality)', '/analytics/dashboard/panel/diabetes', analyst],
    ['panel diabetes (GP, own practice)', '/analytics/dashboard/panel/diabetes', gp],
    ['panel urgent care (analyst, a practice)', `/analytics/dashboard/panel/urgent-care?practice=${practice}`, analyst],
    ['SPC emergency admissions per 1,000', '/analytics/spc/emergency-admissions-per-1000', analyst],
    ['aims', '/analytics/aims', analyst],
    ['commissioning by setting (12 months)', '/analytics/commissioning?by=setting', analyst],
    ['commissioning by practice (12 months)', '/analytics/commissioning?by=practice', analyst],
    ['commissioning by cohort (12 months)', '/analytics/commissioning?by=cohort', analyst],
  ];
  console.log(`dashboard load: ${where}; ${people} active people; ${CONNECTIONS} connections × ${SECONDS} s per endpoint; load average ${load()}`);
  console.log('endpoint | requests | non-2xx | p50 ms | p95 ms | p99 ms | CPU ms/request | load average after');
  for (const [name, path, auth] of endpoints) {
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const inst = autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration: SECONDS, headers: { authorization: auth } }, (err, res) => (err ? reject(err) : resolve(res)));
      inst.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => times.push(ms));
    });
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    const q = (p: number) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1) : '–');
    const bad = result.non2xx + result.errors;
    console.log(`${name} | ${times.length} | ${bad} | ${q(0.5)} | ${q(0.95)} | ${q(0.99)} | ${((cpu.user + cpu.system) / 1000 / Math.max(times.length, 1)).toFixed(2)} | ${load()}`);
  }
} finally {
  await close();
}
