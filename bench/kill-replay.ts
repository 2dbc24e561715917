/**
 * Kill and replay: SIGKILL `bevan ingest` (and, separately, the PostgreSQL server) at random
 * moments during a load, run it again until it finishes, replay it once more, and check that
 * the database holds exactly what a clean load holds: no record lost, none doubled.
 *   node --import tsx bench/kill-replay.ts [--people 2000] [--kills 5] [--db pglite,postgres]
 *     [--server-kills 3] [--seed 1] [--pg-cluster 15/main] [--pg-data /var/lib/postgresql/15/main]
 * The ingest runs as a child process (`node bin/bevan.mjs ingest DIR --no-match --json`), so the
 * kill is real: no finally blocks, no close, a stale PGlite lock file left behind. The server
 * scenario kills the postmaster with SIGKILL (kill -9 the pid in postmaster.pid) and restarts the
 * cluster with pg_ctlcluster; it needs to run as root or postgres on the server's machine.
 * Prints one PASS/FAIL line per scenario and exits 1 on any FAIL. Kill moments are seeded.
 * PostgreSQL: the server of BEVAN_BENCH_DATABASE_URL (or BEVAN_TEST_DATABASE_URL, DATABASE_URL);
 * the scenarios' databases are named after its database (`h1_bench` → `h1_bench_kill_ref`, …), so
 * a run stays among its owner's databases; created and dropped by the run.
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Database } from '../db/database.ts';
import { openPglite } from '../db/pglite-adapter.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { migrate } from '../db/migrator.ts';
import { arg, benchLocality, PG_URL } from './util.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const BEVAN = join(ROOT, 'bin', 'bevan.mjs');

const people = Number(arg('people', '2000'));
const kills = Number(arg('kills', '5'));
const serverKills = Number(arg('server-kills', '3'));
const kinds = arg('db', 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];
const seed = Number(arg('seed', '1'));
const [pgVersion, pgCluster] = arg('pg-cluster', '15/main').split('/') as [string, string];
const pgData = arg('pg-data', `/var/lib/postgresql/${pgVersion}/${pgCluster}`);
/** How long the server stays dead before it is started again. */
const SERVER_PAUSE_MS = Number(arg('server-pause-ms', '1500'));
const KEEP = !!process.env.BEVAN_BENCH_KEEP;

/** xorshift32: a tiny seeded generator, so a failing run can be repeated with the same kill moments. */
function seededRandom(s: number): () => number {
  // Small seeds give tiny first outputs: scramble the seed and drop a few values first.
  let x = Math.imul((s >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  for (let i = 0; i < 8; i++) next();
  return next;
}
const random = seededRandom(seed);
const between = (lo: number, hi: number) => Math.round(lo + random() * Math.max(0, hi - lo));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => (ms / 1000).toFixed(1);

// ---------------------------------------------------------------- targets

type Target = { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string; name: string };

const pgUrlFor = (name: string) => {
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
};

/** The database of PG_URL: the scenarios' databases are named after it (default `bevan`, as before: `bevan_kill_…`). */
const pgBase = (() => {
  const name = decodeURIComponent(new URL(PG_URL).pathname.replace(/^\//, ''));
  return name && name !== 'test' && name !== 'postgres' ? name : 'bevan';
})();

/** A fresh, migrated, empty database; migrated here so kills land in the ingest, not in initdb. */
async function freshTarget(kind: 'pglite' | 'postgres', label: string): Promise<Target> {
  let target: Target;
  if (kind === 'pglite') {
    target = { kind, dir: join(mkdtempSync(join(tmpdir(), `bevan-kill-${label}-`)), 'data') };
  } else {
    const name = `${pgBase}_kill_${label}`;
    // Database names cannot be bound as parameters: this one is a plain identifier or nothing.
    if (!/^[a-z_][a-z0-9_]*$/.test(name) || name.length > 63) throw new Error(`bad database name ${name}`);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    target = { kind, url: pgUrlFor(name), name };
  }
  const db = await openTarget(target);
  const m = await migrate(db);
  await db.close();
  if (m.kind !== 'ok') throw new Error(`migration ${m.migration} failed: ${m.error}`);
  return target;
}

const openTarget = (t: Target): Promise<Database> => (t.kind === 'pglite' ? openPglite(t.dir) : openPostgres(t.url, { max: 2 }));

async function dropTarget(t: Target): Promise<void> {
  if (KEEP) return console.log(`  kept ${t.kind === 'pglite' ? t.dir : t.url}`);
  if (t.kind === 'pglite') return rmSync(join(t.dir, '..'), { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${t.name} WITH (FORCE)`);
  await admin.end();
}

// ---------------------------------------------------------------- the ingest child process

interface IngestJson {
  accepted: number;
  ignored: number;
  quarantined: number;
  duplicates: number;
  resources: number;
  seconds: number;
  files: number;
}

interface RunResult {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  out?: IngestJson;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
  exited: () => boolean;
}

function startIngest(t: Target, folder: string): Running {
  const env = { ...process.env };
  const args = [BEVAN, 'ingest', folder, '--no-match', '--json'];
  if (t.kind === 'pglite') {
    delete env.DATABASE_URL; // the CLI prefers the server when DATABASE_URL is set
    args.push('--data', t.dir);
  } else env.DATABASE_URL = t.url;
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true;
      let out: IngestJson | undefined;
      const line = stdout.trim().split('\n').pop();
      try {
        if (line) out = JSON.parse(line) as IngestJson;
      } catch {
        /* killed mid-write, or an error: no JSON */
      }
      resolve({ pid: child.pid ?? 0, code, signal, ms: performance.now() - started, ...(out ? { out } : {}), stderr });
    }),
  );
  return { child, done, exited: () => exited };
}

/** Runs to the end, or SIGKILLs the child after killAfterMs if it is still running then. */
async function runIngest(t: Target, folder: string, killAfterMs?: number): Promise<RunResult> {
  const r = startIngest(t, folder);
  if (killAfterMs !== undefined) {
    const timer = setTimeout(() => r.child.kill('SIGKILL'), killAfterMs);
    void r.done.then(() => clearTimeout(timer));
  }
  return r.done;
}

/** The error a crashed child printed: its first "…Error: …"/"error: …" line, else its last line. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = (lines.find((l) => /^(\w*Error|error)\b.*:/.test(l)) ?? lines.pop() ?? '').slice(0, 200);
  // An 'error' event nobody listens for kills the process before any retry can run: say so.
  return stderr.includes("Unhandled 'error' event") ? `unhandled 'error' event: ${line}` : line;
}
const describeExit = (r: RunResult) => (r.signal ? r.signal : `exit ${r.code}${r.code ? ` (${errorLine(r.stderr)})` : ''}`);

// ---------------------------------------------------------------- what the database holds

interface Snapshot {
  resourcesByType: Map<string, number>;
  resources: number;
  resourceDigest: string;
  /** `key → version` for every resource above version 1. */
  versions: Map<string, number>;
  messages: number;
  messageDigest: string;
  identities: number;
  identityDigest: string;
  quarantine: number;
  quarantineDigest: string;
  persons: number;
  /** Which identities share a person, independent of the (random) person ids. */
  linkageDigest: string;
  /** Which resources share a person, in the same terms. */
  resourceLinkDigest: string;
  runsByStatus: string;
}

const digest = (lines: string[]) => createHash('sha256').update(lines.sort().join('\n')).digest('hex').slice(0, 16);

async function snapshot(t: Target): Promise<Snapshot> {
  const db = await openTarget(t);
  try {
    const res = await db.query<{ source_system: string; resource_type: string; source_id: string; content_hash: string; version: number; person_id: string | null }>(
      'SELECT source_system, resource_type, source_id, content_hash, version, person_id FROM resource',
    );
    const resourcesByType = new Map<string, number>();
    const versions = new Map<string, number>();
    const resourceLines: string[] = [];
    for (const r of res.rows) {
      const key = `${r.source_system}|${r.resource_type}|${r.source_id}`;
      resourceLines.push(`${key}|${r.content_hash}`);
      const byType = `${r.source_system} ${r.resource_type}`;
      resourcesByType.set(byType, (resourcesByType.get(byType) ?? 0) + 1);
      if (r.version > 1) versions.set(key, r.version);
    }
    const msg = await db.query<{ source_system: string; message_id: string; content_hash: string }>('SELECT source_system, message_id, content_hash FROM ingest_message');
    const ids = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
    const q = await db.query<{ raw_hash: string; reason: string }>(`SELECT raw_hash, reason FROM quarantine WHERE status = 'open'`);
    const persons = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person')).rows[0]!.n;
    const runs = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM ingest_run GROUP BY status ORDER BY status');

    // A person is named by the smallest identity key linked to it, so two loads can be compared.
    const members = new Map<string, string[]>();
    for (const i of ids.rows) members.set(i.person_id, [...(members.get(i.person_id) ?? []), `${i.source_system}|${i.source_id}`]);
    const personName = new Map([...members].map(([p, keys]) => [p, keys.sort()[0]!]));
    return {
      resourcesByType,
      resources: res.rows.length,
      resourceDigest: digest(resourceLines),
      versions,
      messages: msg.rows.length,
      messageDigest: digest(msg.rows.map((m) => `${m.source_system}|${m.message_id}|${m.content_hash}`)),
      identities: ids.rows.length,
      identityDigest: digest(ids.rows.map((i) => `${i.source_system}|${i.source_id}`)),
      quarantine: q.rows.length,
      quarantineDigest: digest(q.rows.map((r) => `${r.raw_hash}|${r.reason}`)),
      persons,
      linkageDigest: digest([...members.values()].map((keys) => keys.sort().join(','))),
      resourceLinkDigest: digest(
        res.rows.map((r) => `${r.source_system}|${r.resource_type}|${r.source_id}>${r.person_id ? (personName.get(r.person_id) ?? 'no identity') : '-'}`),
      ),
      runsByStatus: runs.rows.map((r) => `${r.status} ${r.n}`).join(', '),
    };
  } finally {
    await db.close();
  }
}

/** Compares a loaded database with the reference; returns the PASS/FAIL line and notes. */
function compare(kind: string, scenario: string, ref: Snapshot, got: Snapshot, extraFailures: string[]): { ok: boolean; lines: string[] } {
  const failures = [...extraFailures];
  const sameTypes = ref.resourcesByType.size === got.resourcesByType.size && [...ref.resourcesByType].every(([k, n]) => got.resourcesByType.get(k) === n);
  if (!sameTypes) {
    const keys = new Set([...ref.resourcesByType.keys(), ...got.resourcesByType.keys()]);
    const diff = [...keys].filter((k) => ref.resourcesByType.get(k) !== got.resourcesByType.get(k)).map((k) => `${k} ${ref.resourcesByType.get(k) ?? 0}→${got.resourcesByType.get(k) ?? 0}`);
    failures.push(`resources by type differ: ${diff.join('; ')}`);
  }
  if (ref.resourceDigest !== got.resourceDigest) failures.push('resource digest differs');
  if (ref.messages !== got.messages || ref.messageDigest !== got.messageDigest) failures.push('message log differs');
  if (ref.identities !== got.identities || ref.identityDigest !== got.identityDigest) failures.push('source identities differ');
  if (ref.quarantine !== got.quarantine || ref.quarantineDigest !== got.quarantineDigest) failures.push('quarantine differs');
  // "None doubled": a resource written twice by a replay would have a higher version than in the clean load.
  const doubled = [...got.versions].filter(([k, v]) => v > (ref.versions.get(k) ?? 1));
  if (doubled.length) failures.push(`${doubled.length} resources have a higher version than in the reference (e.g. ${doubled[0]![0]} v${doubled[0]![1]})`);
  const fewer = [...ref.versions].filter(([k, v]) => (got.versions.get(k) ?? 1) < v).length;

  const eq = (a: number | string, b: number | string) => (a === b ? `${a}` : `${a}≠${b}`);
  const ok = failures.length === 0;
  const lines = [
    `${ok ? 'PASS' : 'FAIL'} ${kind} ${scenario}: resources ${eq(ref.resources, got.resources)} in ${got.resourcesByType.size} (system, type) groups, digest ${ref.resourceDigest === got.resourceDigest ? 'same' : 'DIFFERENT'}; ` +
      `messages ${eq(ref.messages, got.messages)} digest ${ref.messageDigest === got.messageDigest ? 'same' : 'DIFFERENT'}; identities ${eq(ref.identities, got.identities)}; ` +
      `quarantine ${eq(ref.quarantine, got.quarantine)}; versions>1 ${eq(ref.versions.size, got.versions.size)} (${doubled.length} doubled, ${fewer} fewer)`,
    `     persons ${eq(ref.persons, got.persons)}${ref.persons === got.persons ? '' : ' (DIFFERS)'}; identity→person linkage ${ref.linkageDigest === got.linkageDigest ? 'same' : 'DIFFERENT'}; ` +
      `resource→person linkage ${ref.resourceLinkDigest === got.resourceLinkDigest ? 'same' : 'DIFFERENT'}; ingest_run rows: ${got.runsByStatus}`,
    ...failures.map((f) => `     ✗ ${f}`),
  ];
  return { ok, lines };
}

// ---------------------------------------------------------------- the PostgreSQL server

const PG_PID_FILE = join(pgData, 'postmaster.pid');

async function serverReady(): Promise<boolean> {
  try {
    await run('pg_isready', ['-q', '-h', new URL(PG_URL).hostname, '-p', new URL(PG_URL).port || '5432']);
    return true;
  } catch {
    return false;
  }
}

/** Starts the cluster; retries while the killed server's backends still hold its shared memory. */
async function startServer(): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (let tries = 1; ; tries++) {
    try {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion, pgCluster, 'start']);
    } catch (err) {
      // "already running" is fine; any other failure is retried until the deadline.
      if (!/already running/i.test(String((err as { stderr?: string }).stderr ?? err))) {
        if (Date.now() > deadline) throw err;
      }
    }
    if (await serverReady()) return tries;
    if (Date.now() > deadline) throw new Error('the PostgreSQL server did not come back within 120 s');
    await sleep(500);
  }
}

/** kill -9 of the postmaster, a pause, then a restart. Returns what it took. */
async function killServer(): Promise<{ pid: number; downMs: number; startTries: number }> {
  const pid = Number(readFileSync(PG_PID_FILE, 'utf8').split('\n')[0]);
  if (!pid) throw new Error(`no postmaster pid in ${PG_PID_FILE}`);
  const t = performance.now();
  process.kill(pid, 'SIGKILL');
  await sleep(SERVER_PAUSE_MS);
  const startTries = await startServer();
  return { pid, downMs: performance.now() - t, startTries };
}

/** Client connections on the server that are not this benchmark's, so a report can say who else was hit. */
async function otherClients(): Promise<number> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname NOT LIKE 'bevan\\_kill\\_%'`,
    );
    return r.rows[0]!.n;
  } finally {
    await c.end();
  }
}

async function messagesIn(t: Target): Promise<number | string> {
  if (t.kind !== 'postgres') return '?';
  const c = new pg.Client({ connectionString: t.url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n;
  } catch {
    return '?';
  } finally {
    await c.end().catch(() => {});
  }
}

// ---------------------------------------------------------------- scenarios

const folder = await benchLocality(people);
let failed = false;
console.log(`kill-replay: ${people} people (${folder}), ${kills} ingest kills, ${serverKills} server kills, seed ${seed}`);

/** SIGKILLs the ingest `kills` times at random moments, restarting after each, then lets it finish. */
async function processKills(kind: 'pglite' | 'postgres', refMs: number): Promise<{ target: Target; failures: string[]; final?: RunResult }> {
  const target = await freshTarget(kind, 'proc');
  const failures: string[] = [];
  const moments: string[] = [];
  let staleLocks = 0;
  let refused = 0;
  for (let k = 0; k < kills; k++) {
    const at = between(500, refMs);
    const r = await runIngest(target, folder, at);
    let note = '';
    if (target.kind === 'pglite') {
      const lock = join(target.dir, 'bevan.lock');
      // A SIGKILLed process cannot remove its lock: the next start must see that its owner is dead.
      if (r.signal === 'SIGKILL' && existsSync(lock) && Number(readFileSync(lock, 'utf8')) === r.pid) staleLocks++;
    }
    if (r.signal === 'SIGKILL') note = target.kind === 'postgres' ? `${secs(at)}s (${await messagesIn(target)} msgs committed)` : `${secs(at)}s`;
    else if (r.code === 0) note = `${secs(at)}s: finished first in ${secs(r.ms)}s`;
    else {
      note = `${secs(at)}s: ${describeExit(r)}`;
      if (/in use by process/.test(r.stderr)) refused++;
      failures.push(`restart ${k + 1} exited with an error: ${describeExit(r)}`);
    }
    moments.push(note);
  }
  console.log(`  ${kind} SIGKILL of the ingest at: ${moments.join(', ')}`);
  if (target.kind === 'pglite') console.log(`  ${kind} stale PGlite lock files left by a kill: ${staleLocks}; restarts refused because of a lock: ${refused}`);
  const final = await runIngest(target, folder);
  if (final.code !== 0) failures.push(`the run after the kills failed: ${describeExit(final)}`);
  else console.log(`  ${kind} run after the kills: ${final.out?.accepted} accepted, ${final.out?.duplicates} duplicates, ${final.out?.resources} resources in ${secs(final.ms)}s`);
  return { target, failures, final };
}

/** Kills the PostgreSQL server `serverKills` times while one ingest runs; reruns the ingest if it gives up. */
async function serverKillScenario(refMs: number): Promise<{ target: Target; failures: string[]; crashes: string[] }> {
  const target = await freshTarget('postgres', 'server');
  const failures: string[] = [];
  const crashes: string[] = [];
  let left = serverKills;
  const others = await otherClients();
  if (others) console.log(`  note: ${others} other client connection(s) were open on the server; they lose their connection at each kill`);
  for (let attempt = 1; ; attempt++) {
    const r = startIngest(target, folder);
    const events: string[] = [];
    while (left > 0 && !r.exited()) {
      // Spread the kills over about one clean load time so they land while the ingest runs.
      const wait = between(500, refMs / Math.max(1, serverKills));
      await Promise.race([sleep(wait), r.done]);
      if (r.exited()) break;
      const msgs = await messagesIn(target);
      const k = await killServer();
      left--;
      events.push(`kill -9 ${k.pid} after ${secs(wait)}s (${msgs} msgs), back in ${secs(k.downMs)}s (${k.startTries} start${k.startTries > 1 ? 's' : ''})`);
    }
    const res = await r.done;
    console.log(`  postgres ingest run ${attempt}: ${events.length ? events.join('; ') : 'no server kill during this run'}; ${describeExit(res)} after ${secs(res.ms)}s`);
    if (res.code === 0) {
      console.log(`  postgres run ${attempt} counts: ${res.out?.accepted} accepted, ${res.out?.duplicates} duplicates, ${res.out?.resources} resources`);
      break;
    }
    crashes.push(describeExit(res));
    if (attempt > serverKills + 2) {
      failures.push(`the ingest still fails after ${attempt} runs: ${describeExit(res)}`);
      break;
    }
  }
  return { target, failures, crashes };
}

async function replayAndCompare(kind: string, scenario: string, target: Target, ref: Snapshot, failures: string[]) {
  const replay = await runIngest(target, folder);
  if (replay.code !== 0) failures.push(`the replay failed: ${describeExit(replay)}`);
  else if (replay.out && (replay.out.accepted !== 0 || replay.out.resources !== 0)) failures.push(`the replay wrote: ${replay.out.accepted} accepted, ${replay.out.resources} resources`);
  console.log(`  ${kind} replay: ${replay.out ? `${replay.out.accepted} accepted, ${replay.out.duplicates} duplicates, ${replay.out.resources} resources` : describeExit(replay)} in ${secs(replay.ms)}s`);
  const got = await snapshot(target);
  const c = compare(kind, scenario, ref, got, failures);
  for (const l of c.lines) console.log(l);
  if (!c.ok) failed = true;
}

// An interrupted run must not leave the server down (a kill may be between its kill and restart).
process.once('SIGINT', () => {
  if (kinds.includes('postgres')) spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion, pgCluster, 'start'], { stdio: 'inherit' });
  process.exit(130);
});

const cleanups: Target[] = [];
try {
  for (const kind of kinds) {
    // 1. Reference: a clean load through the same command, timed to pick the kill moments.
    const refTarget = await freshTarget(kind, 'ref');
    cleanups.push(refTarget);
    const refRun = await runIngest(refTarget, folder);
    if (refRun.code !== 0 || !refRun.out) throw new Error(`${kind}: the reference load failed: ${describeExit(refRun)}`);
    const ref = await snapshot(refTarget);
    console.log(
      `  ${kind} reference: ${refRun.out.files} files, ${refRun.out.accepted} accepted, ${refRun.out.quarantined} quarantined, ${refRun.out.resources} resources; ` +
        `${ref.resources} resource rows, ${ref.messages} messages, ${ref.identities} identities, ${ref.persons} persons, ${ref.versions.size} rows above version 1; ${secs(refRun.ms)}s wall`,
    );

    // 2. SIGKILL the ingest process.
    if (kills > 0) {
      const p = await processKills(kind, refRun.ms);
      cleanups.push(p.target);
      await replayAndCompare(kind, `ingest SIGKILL ×${kills}`, p.target, ref, p.failures);
    }

    // 3. SIGKILL the database server (PostgreSQL only: PGlite lives inside the ingest process).
    if (kind === 'postgres' && serverKills > 0) {
      const s = await serverKillScenario(refRun.ms);
      cleanups.push(s.target);
      await replayAndCompare(kind, `server SIGKILL ×${serverKills}`, s.target, ref, s.failures);
      // Target (a) allows running the ingest again; riding the restart out (pipeline withRetry) is
      // what the pipeline promises, so a crash is reported on a line of its own.
      if (s.crashes.length) {
        failed = true;
        console.log(`FAIL postgres ride-out of server kills: the ingest process exited ${s.crashes.length} time(s) and had to be rerun: ${s.crashes.join('; ')}`);
      } else console.log(`PASS postgres ride-out of server kills: one ingest process rode out all ${serverKills} kills`);
    }
  }
} catch (err) {
  failed = true;
  console.log(`FAIL ${err instanceof Error ? err.message : String(err)}`);
} finally {
  // Whatever happened, leave the server running.
  if (kinds.includes('postgres') && !(await serverReady())) {
    console.log('  the PostgreSQL server was down: starting it');
    await startServer();
  }
  for (const t of cleanups) await dropTarget(t).catch((err) => console.log(`  could not drop ${t.kind}: ${String(err)}`));
}
console.log(failed ? 'kill-replay: FAIL' : 'kill-replay: PASS');
process.exit(failed ? 1 : 0);
