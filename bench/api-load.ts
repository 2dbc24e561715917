/**
 * The read path under load: `bevan serve` in a child process (so the load generator does not
 * share its event loop), a generated locality loaded through `bevan ingest`, a GP signed in
 * with POST /auth/login, and autocannon at 50 connections over real person ids, NHS numbers,
 * family names and birth dates of the people registered at the GP's practice (a legitimate
 * relationship: every request is a permitted, audited read). Prints one table: per scenario the
 * requests, p50/p95/p99 latency, requests/s, non-2xx, audit rows written against the rows the
 * 2xx answers call for, the server's CPU ms per request (user+system of the server process from
 * /proc, which for PGlite includes the database), the PostgreSQL backends' CPU ms per request,
 * the load generator's own CPU ms per request (this process: autocannon shares the machine's cores)
 * and the load average.
 *
 *   node --import tsx bench/api-load.ts [--db pglite|postgres] [--people 3000] [--seed 7]
 *        [--connections 50] [--duration 15] [--warmup 3] [--scenarios everything,nhs,family,birthdate]
 *        [--accept-gzip]  send Accept-Encoding: gzip (a browser does): $everything pages come gzip-coded
 *        scenarios: everything (all the practice's people), typical (those whose record size is in the
 *        practice's interquartile range), nhs, family, birthdate
 *        [--keep]    keep (and on the next run reuse) the loaded database instead of removing it
 *        [--cpu-prof DIR]  run the server under node --cpu-prof, its profile written to DIR when it stops
 *   Each scenario warms up for --warmup seconds, then sends as many requests as the warm-up rate
 *   gives in --duration seconds (a fixed number, so that every answer is counted against the audit).
 *   PostgreSQL: BEVAN_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test, in a schema of its own.
 *   The server gets the environment as it is (BEVAN_DB_POOL_SIZE, BEVAN_DB_PREPARE…).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import pg from 'pg';
import { addUser } from '../access/users.ts';
import type { Database } from '../db/database.ts';
import { openDatabase } from '../db/open.ts';
import { arg, benchLocality, procCpu } from './util.ts';

const has = (name: string) => process.argv.includes(`--${name}`);
const kind = arg('db', 'pglite') as 'pglite' | 'postgres';
if (kind !== 'pglite' && kind !== 'postgres') throw new Error('--db pglite or --db postgres');
const people = Number(arg('people', '3000'));
const seed = Number(arg('seed', '7'));
const connections = Number(arg('connections', '50'));
const duration = Number(arg('duration', '15'));
const warmup = Number(arg('warmup', '3'));
const scenarios = arg('scenarios', 'everything,nhs,family,birthdate').split(',');
const keep = has('keep');
const acceptGzip = has('accept-gzip');
const cpuProf = has('cpu-prof') ? arg('cpu-prof', '') : null;
const PG_BASE = process.env.BEVAN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const bin = join(import.meta.dirname, '..', 'bin', 'bevan.mjs');
const USER = 'bench-gp';
const PASSWORD = 'bench-password-not-secret';

// ---- the database: a PGlite folder, or a schema on the server -------------------------------
const schema = `bench_api_${people}_${seed}`;
const pgUrl = (() => {
  const u = new URL(PG_BASE);
  u.searchParams.set('options', `-c search_path=${schema}`);
  u.searchParams.set('application_name', 'bevan-bench-api');
  return u.toString();
})();
const dataDir = join(tmpdir(), `bevan-bench-api-${people}-${seed}`);
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.DATABASE_URL;
if (kind === 'postgres') env.DATABASE_URL = pgUrl;
const dbArgs = kind === 'pglite' ? ['--data', dataDir] : [];

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_BASE });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function cli(args: string[], input?: string): void {
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit'], input, env });
  if (r.status !== 0) throw new Error(`bevan ${args.join(' ')} failed (${r.status})`);
}

const open = () => openDatabase(kind === 'pglite' ? { dataDir } : { databaseUrl: pgUrl });

async function loaded(): Promise<boolean> {
  if (kind === 'pglite') return existsSync(join(dataDir, '.bench-loaded'));
  return admin(async (c) => (await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'bench_loaded'`, [schema])).rows.length > 0);
}

async function load(): Promise<void> {
  const folder = await benchLocality(people, seed);
  if (kind === 'pglite') rmSync(dataDir, { recursive: true, force: true });
  else await admin(async (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`));
  const t = performance.now();
  cli(['ingest', folder, ...dbArgs]);
  console.error(`loaded ${people} people into ${kind} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  if (kind === 'pglite') writeFileSync(join(dataDir, '.bench-loaded'), '');
  else await admin((c) => c.query(`CREATE TABLE ${schema}.bench_loaded ()`));
}

async function removeDatabase(): Promise<void> {
  if (keep) return;
  if (kind === 'pglite') rmSync(dataDir, { recursive: true, force: true });
  else await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

// ---- what to ask for: the people registered at the biggest practice ------------------------
interface Targets {
  practice: string;
  personIds: string[];
  /** The people whose record (resources) is within the practice's interquartile range of sizes: a typical person. */
  typicalIds: string[];
  /** Resource counts at the quartiles (for the printout). */
  quartiles: [number, number, number];
  nhsNumbers: string[];
  families: string[];
  birthdates: string[];
}

async function prepare(db: Database): Promise<Targets> {
  await db.exec('ANALYZE person; ANALYZE source_identity; ANALYZE resource; ANALYZE audit_log;');
  const top = await db.query<{ practice: string }>(
    `SELECT substr(source_system, 4) AS practice FROM source_identity WHERE source_system LIKE 'gp:%' AND person_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  const practice = top.rows[0]?.practice;
  if (!practice) throw new Error('no GP identities: is the locality loaded?');
  const r = await db.query<{ person_id: string; nhs_number: string | null; family: string | null; birth_date: string | null }>(
    `SELECT DISTINCT ON (p.person_id) p.person_id::text AS person_id, p.nhs_number, si.family, si.birth_date::text AS birth_date
       FROM person p JOIN source_identity si ON si.person_id = p.person_id
      WHERE p.status = 'active' AND si.source_system = $1
      ORDER BY p.person_id, si.updated_at DESC`,
    [`gp:${practice}`],
  );
  await db.query(`DELETE FROM app_user WHERE username = $1`, [USER]);
  await addUser(db, { username: USER, role: 'gp', organisation: practice, password: PASSWORD });
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => !!x))];
  const personIds = r.rows.map((x) => x.person_id);
  // Record sizes: resources of each person (and anyone merged into them: none in a fresh load).
  const sizes = await db.query<{ person_id: string; n: number }>(`SELECT person_id::text AS person_id, count(*)::int AS n FROM resource WHERE person_id = ANY($1::uuid[]) GROUP BY 1`, [personIds]);
  const size = new Map(sizes.rows.map((x) => [x.person_id, x.n]));
  const sorted = personIds.map((id) => size.get(id) ?? 0).sort((a, b) => a - b);
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? 0;
  const quartiles: [number, number, number] = [q(0.25), q(0.5), q(0.75)];
  return {
    practice,
    personIds,
    typicalIds: personIds.filter((id) => (size.get(id) ?? 0) >= quartiles[0] && (size.get(id) ?? 0) <= quartiles[2]),
    quartiles,
    nhsNumbers: uniq(r.rows.map((x) => x.nhs_number)),
    families: uniq(r.rows.map((x) => x.family)),
    birthdates: uniq(r.rows.map((x) => x.birth_date)),
  };
}

// ---- the server ------------------------------------------------------------------------------
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf] : [];
  const child = spawn(process.execPath, [...prof, bin, 'serve', ...dbArgs, '--port', String(port), '--host', '127.0.0.1', '--mllp-port', 'off'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bevan serve exited (${child.exitCode})`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return child;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('bevan serve did not answer /health within 2 minutes');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** user + system CPU of a process, in ms. */
const cpuMs = (pid: number): number => (procCpu(pid) ?? 0) * 1000;

/** Resolves once the process has used no CPU for a second (up to two minutes). */
async function untilIdle(pid: number): Promise<void> {
  let last = cpuMs(pid);
  let quiet = 0;
  for (const deadline = Date.now() + 120_000; quiet < 4 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuMs(pid);
    quiet = now - last <= 10 ? quiet + 1 : 0; // one tick (10 ms) or less
    last = now;
  }
}

/** CPU ms of the PostgreSQL backends serving the bench server (by application_name), by pid. */
async function backendCpu(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (kind !== 'postgres') return out;
  const pids = await admin(async (c) => (await c.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'bevan-bench-api'`)).rows);
  for (const { pid } of pids) out.set(pid, cpuMs(pid));
  return out;
}

// ---- the load --------------------------------------------------------------------------------
interface Scenario {
  name: string;
  action: string;
  paths: string[];
  /** Audit rows a 2xx answer calls for (one per person shown, or one). */
  expected: (body: string) => number;
}

const oneRow = () => 1;
const perMatch = (body: string) => Math.max(1, body.split('"mode":"match"').length - 1);

function scenariosFor(t: Targets): Scenario[] {
  const all: Scenario[] = [
    { name: 'Patient/{id}/$everything', action: 'record.everything', paths: t.personIds.map((id) => `/fhir/Patient/${id}/$everything`), expected: oneRow },
    { name: `$everything, typical (${t.quartiles[0]}–${t.quartiles[2]} resources)`, action: 'record.everything', paths: t.typicalIds.map((id) => `/fhir/Patient/${id}/$everything`), expected: oneRow },
    { name: 'Patient?identifier=nhs-number|N', action: 'patient.search', paths: t.nhsNumbers.map((n) => `/fhir/Patient?identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${n}`)}`), expected: perMatch },
    { name: 'Patient?family=', action: 'patient.search', paths: t.families.map((f) => `/fhir/Patient?family=${encodeURIComponent(f)}`), expected: perMatch },
    { name: 'Patient?birthdate=', action: 'patient.search', paths: t.birthdates.map((b) => `/fhir/Patient?birthdate=${b}`), expected: perMatch },
  ];
  const keys: Record<string, number> = { everything: 0, typical: 1, nhs: 2, family: 3, birthdate: 4 };
  return scenarios.map((s) => {
    const i = keys[s];
    if (i === undefined) throw new Error(`--scenarios: ${s} is not one of ${Object.keys(keys).join(', ')}`);
    return all[i]!;
  });
}

interface Run {
  latencies: number[];
  requests: number;
  non2xx: number;
  /** Answers sent gzip-coded. */
  gzipped: number;
  expectedAudit: number;
  seconds: number;
  start: Date;
  end: Date;
}

async function drive(port: number, token: string, s: Scenario, how: { duration: number } | { amount: number }): Promise<Run> {
  const latencies: number[] = [];
  let non2xx = 0;
  let gzipped = 0;
  let expectedAudit = 0;
  let n = 0;
  const start = new Date();
  const t0 = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    // PGlite serves one transaction at a time: at 50 connections a request may wait many seconds.
    timeout: 120,
    ...how,
    headers: { authorization: `Bearer ${token}`, ...(acceptGzip ? { 'accept-encoding': 'gzip' } : {}) },
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: s.paths[n++ % s.paths.length] }),
        onResponse: (status, body, _context, headers) => {
          // Only $everything pages are gzip-coded (--accept-gzip), and each calls for one audit row whatever it holds.
          if (headers?.['content-encoding'] === 'gzip' || headers?.['Content-Encoding'] === 'gzip') gzipped++;
          if (status >= 200 && status < 300) expectedAudit += s.expected(body);
          else non2xx++;
        },
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  await instance;
  return { latencies, requests: latencies.length, non2xx, gzipped, expectedAudit, seconds: (performance.now() - t0) / 1000, start, end: new Date() };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

// ---- main --------------------------------------------------------------------------------------
if (!keep || !(await loaded())) await load();
let targets: Targets;
{
  const db = await open();
  try {
    targets = await prepare(db);
  } finally {
    await db.close();
  }
}
console.error(`${kind}: GP ${USER} at ${targets.practice}; ${targets.personIds.length} people (${targets.typicalIds.length} typical: ${targets.quartiles[0]}–${targets.quartiles[2]} resources, median ${targets.quartiles[1]}), ${targets.families.length} family names, ${targets.birthdates.length} birth dates`);

const port = await freePort();
const server = await startServer(port);
const results: { s: Scenario; run: Run; cpu: number; dbCpu: number | null; benchCpu: number; load: number }[] = [];
try {
  const login = await fetch(`http://127.0.0.1:${port}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USER, password: PASSWORD }) });
  if (!login.ok) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
  const { access_token: token } = (await login.json()) as { access_token: string };
  for (const s of scenariosFor(targets)) {
    const warm = await drive(port, token, s, { duration: Math.max(1, warmup) });
    const amount = Math.max(connections * 4, Math.round((warm.requests / warm.seconds) * duration));
    // The warm-up's requests still in flight when it stopped finish (and are audited) before the
    // window opens: wait until the server has been idle (no CPU) for a second.
    await untilIdle(server.pid!);
    const cpu0 = cpuMs(server.pid!);
    const db0 = await backendCpu();
    const self0 = process.cpuUsage();
    const run = await drive(port, token, s, { amount });
    const self = process.cpuUsage(self0);
    const cpu1 = cpuMs(server.pid!);
    const db1 = await backendCpu();
    let dbCpu: number | null = null;
    if (kind === 'postgres') {
      dbCpu = 0;
      for (const [pid, ms] of db1) dbCpu += ms - (db0.get(pid) ?? 0);
    }
    results.push({ s, run, cpu: cpu1 - cpu0, dbCpu, benchCpu: (self.user + self.system) / 1000, load: os.loadavg()[0]! });
    await new Promise((r) => setTimeout(r, 300));
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
}

// Audit rows written in each measured window, counted once the server has stopped (a PGlite folder has one user at a time).
const db = await open();
const audited: number[] = [];
let shared: { pages: number; people: number; storedBytes: number; jsonBytes: number } | null = null;
try {
  // The pages kept for every server (migration 0079), where the code has them.
  if ((await db.query<{ t: string | null }>(`SELECT to_regclass('presented_record')::text AS t`)).rows[0]?.t) {
    const r = await db.query<{ pages: number; people: number; stored: string | null; json: string | null }>('SELECT count(*)::int AS pages, count(DISTINCT person_id)::int AS people, sum(length(body))::text AS stored, sum(json_bytes)::text AS json FROM presented_record');
    const x = r.rows[0]!;
    shared = { pages: x.pages, people: x.people, storedBytes: Number(x.stored ?? 0), jsonBytes: Number(x.json ?? 0) };
  }
  for (const { s, run } of results) {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = $1 AND action = $2 AND at >= $3 AND at <= $4`, [USER, s.action, new Date(run.start.getTime() - 50).toISOString(), new Date(run.end.getTime() + 50).toISOString()]);
    audited.push(r.rows[0]!.n);
  }
} finally {
  await db.close();
}
await removeDatabase();

const header = ['scenario', 'requests', 'p50 ms', 'p95 ms', 'p99 ms', 'req/s', 'non-2xx', 'audit rows / 2xx need', 'server CPU ms/req', 'db CPU ms/req', 'load generator CPU ms/req', 'load avg'];
const rows = results.map(({ s, run, cpu, dbCpu, benchCpu, load }, i) => {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return [
    s.name,
    String(run.requests),
    percentile(sorted, 0.5).toFixed(1),
    percentile(sorted, 0.95).toFixed(1),
    percentile(sorted, 0.99).toFixed(1),
    (run.requests / run.seconds).toFixed(0),
    String(run.non2xx),
    `${audited[i]} / ${run.expectedAudit}`,
    (cpu / Math.max(1, run.requests)).toFixed(2),
    dbCpu === null ? '-' : (dbCpu / Math.max(1, run.requests)).toFixed(2),
    (benchCpu / Math.max(1, run.requests)).toFixed(2),
    load.toFixed(2),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
console.log(`\n${kind}, ${people} people (seed ${seed}), ${connections} connections, about ${duration} s per scenario, ${os.cpus().length} CPUs${process.env.BEVAN_DB_POOL_SIZE ? `, BEVAN_DB_POOL_SIZE=${process.env.BEVAN_DB_POOL_SIZE}` : ''}${process.env.BEVAN_DB_PREPARE ? `, BEVAN_DB_PREPARE=${process.env.BEVAN_DB_PREPARE}` : ''}`);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? ':' : '-').padEnd(w + 1, '-') + (i === 0 ? '-' : ':')).join('|')}|`);
for (const r of rows) console.log(line(r));
if (shared) console.log(`shared pages (presented_record): ${shared.pages} for ${shared.people} people, ${(shared.storedBytes / 1e6).toFixed(1)} MB stored for ${(shared.jsonBytes / 1e6).toFixed(1)} MB of JSON`);
const coded = results.reduce((n, { run }) => n + run.gzipped, 0);
if (acceptGzip) console.log(`${coded} answers sent gzip-coded`);
const unaudited = results.reduce((n, { run }, i) => n + Math.max(0, run.expectedAudit - audited[i]!), 0);
console.log(unaudited === 0 ? 'every 2xx answer has its audit rows' : `UNAUDITED: ${unaudited} audit rows missing`);
