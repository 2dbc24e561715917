/**
 * The whole borough into PostgreSQL, as an operator runs it: generate a locality once (kept in a
 * folder outside the repository, reused by later runs), then into a new, empty database:
 *   0. the schema and the locality's reference data (locality.json: practices, neighbourhoods), untimed;
 *   1. the feeds, one `bevan ingest --no-match --json` per format (GP FHIR, HL7 v2, CSV), so each
 *      format's rate is its own;
 *   2. the matcher (`bevan mpi match --json`);
 *   3. a replay of the whole folder (`bevan ingest DIR --no-match --json`: nothing new, nothing written).
 * Each phase is a child process run under /usr/bin/time: wall seconds, its CPU seconds, its peak
 * RSS; the PostgreSQL backends of the phase's connections (application_name, PGAPPNAME) are
 * sampled for their CPU seconds (/proc, when the server runs on this machine).
 *   node --import tsx bench/borough.ts [--people 20000] [--seed 11] [--out DIR] [--database NAME] [--delete-data]
 * The server: BEVAN_BENCH_DATABASE_URL (or BEVAN_TEST_DATABASE_URL, DATABASE_URL), default
 * postgres://postgres@127.0.0.1:5432/test; a database `bevan_borough_<pid>` is created on it for
 * the run and dropped after (BEVAN_BENCH_KEEP=1 keeps it). --database NAME creates that database
 * instead (it must not exist yet) and keeps it, for later benches over the loaded borough. --delete-data removes the generated
 * folder at the end (a 215,000-person locality is about 8 GB).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import pg from 'pg';
import { arg, PG_URL, procCpu } from './util.ts';

const people = Number(arg('people', '20000'));
const seed = Number(arg('seed', '11'));
const out = arg('out', join(tmpdir(), `bevan-borough-${people}-${seed}`));
const deleteData = process.argv.includes('--delete-data');
const named = arg('database', '');
if (named && !/^[a-z_][a-z0-9_]*$/.test(named)) throw new Error(`--database ${named}: lower-case letters, digits and _ only`);
const ROOT = new URL('..', import.meta.url).pathname;
const BEVAN = join(ROOT, 'bin', 'bevan.mjs');

interface Phase {
  name: string;
  seconds: number;
  cpu: number;
  serverCpu: number | null;
  maxRssMiB: number;
  json: Record<string, unknown> | null;
}


/** Runs `node bin/bevan.mjs ...args` under /usr/bin/time, sampling its server backends. */
async function phase(name: string, args: string[], env: NodeJS.ProcessEnv, probe: pg.Client | null): Promise<Phase> {
  const app = `bevan-borough-${process.pid}-${name.replace(/\W+/g, '-')}`;
  const timeFile = join(mkdtempSync(join(tmpdir(), 'bevan-borough-time-')), 'time');
  const started = performance.now();
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let busy = false;
  const sample = async () => {
    if (!probe || busy) return;
    busy = true;
    try {
      const r = await probe.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
      for (const { pid } of r.rows) {
        const c = procCpu(pid);
        if (c === null) continue;
        if (!first.has(pid)) first.set(pid, c);
        last.set(pid, c);
      }
    } catch {
      // a probe that fails misses a sample, nothing more
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void sample(), 250);
  const stdout: Buffer[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, process.execPath, BEVAN, ...args], {
      env: { ...process.env, ...env, PGAPPNAME: app },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  clearInterval(timer);
  await sample();
  const seconds = (performance.now() - started) / 1000;
  const [, user, sys, maxKb] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number, number];
  rmSync(join(timeFile, '..'), { recursive: true, force: true });
  if (code !== 0) throw new Error(`${name}: bevan ${args.join(' ')} exited with ${code}`);
  let server = 0;
  for (const [pid, c] of last) server += c - first.get(pid)!;
  const text = Buffer.concat(stdout).toString('utf8').trim();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text.slice(text.indexOf('{'))) as Record<string, unknown>;
  } catch {
    json = null;
  }
  const p = { name, seconds, cpu: user + sys, serverCpu: probe ? server : null, maxRssMiB: maxKb / 1024, json };
  console.error(`# ${name}: ${seconds.toFixed(1)} s, ${p.cpu.toFixed(1)} CPU-s, server ${p.serverCpu?.toFixed(1) ?? '?'} CPU-s, peak RSS ${Math.round(p.maxRssMiB)} MiB`);
  return p;
}

const filesIn = (sub: string, ext: string) =>
  existsSync(join(out, sub))
    ? readdirSync(join(out, sub))
        .filter((f) => f.endsWith(ext))
        .sort()
        .map((f) => join(out, sub, f))
    : [];

const load1 = loadavg()[0]!;
const phases: Phase[] = [];
let generated: Phase | null = null;
if (!existsSync(join(out, 'truth', 'summary.json'))) {
  generated = await phase('generate', ['generate', '--people', String(people), '--seed', String(seed), '--out', out, '--json'], {}, null);
  phases.push(generated);
}
const summary = JSON.parse(readFileSync(join(out, 'truth', 'summary.json'), 'utf8')) as Record<string, unknown>;

const dbName = named || `bevan_borough_${process.pid}`;
const keep = Boolean(named || process.env.BEVAN_BENCH_KEEP);
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(PG_URL);
url.pathname = `/${dbName}`;
const env = { DATABASE_URL: url.toString() };
const probe = new pg.Client({ connectionString: PG_URL });
await probe.connect();
try {
  const feeds = [
    { name: 'FHIR (GP)', unit: 'resources', files: filesIn('gp', '.ndjson') },
    // The hospital's live messages (hospital/mllp, sent over MLLP by `bevan demo`) are HL7 v2 files too.
    { name: 'HL7 v2', unit: 'messages', files: [...filesIn('hospital', '.hl7'), ...filesIn('hospital/mllp', '.hl7'), ...filesIn('mentalhealth', '.hl7')] },
    { name: 'CSV', unit: 'rows', files: [...filesIn('community', '.csv'), ...filesIn('socialcare', '.csv'), ...filesIn('mentalhealth', '.csv')] },
  ];
  // The schema first, untimed (every command migrates on start; the first would pay for it).
  await phase('migrate', ['migrate'], env, null);
  // The locality's practices and neighbourhoods (reference data) before the feeds, untimed, as an
  // operator loads them: without them a Group export or a record cannot name the practices, and
  // the replay below would be the first to load them (not "nothing new").
  if (existsSync(join(out, 'locality.json'))) await phase('locality', ['ingest', '--no-match', '--json', join(out, 'locality.json')], env, null);
  for (const f of feeds) if (f.files.length) phases.push(await phase(f.name, ['ingest', '--no-match', '--json', ...f.files], env, probe));
  phases.push(await phase('matcher', ['mpi', 'match', '--json'], env, probe));
  phases.push(await phase('replay (all)', ['ingest', '--no-match', '--json', out], env, probe));
} finally {
  await probe.end();
  if (!keep) await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
  await admin.end();
  if (deleteData) rmSync(out, { recursive: true, force: true });
}

const rate = (p: Phase): string => {
  const j = p.json ?? {};
  const n = p.name.startsWith('FHIR') ? Number(j.resources) : p.name === 'matcher' ? Number(j.pending) : p.name === 'generate' ? NaN : Number(j.accepted ?? 0) + Number(j.ignored ?? 0) + Number(j.duplicates ?? 0);
  return Number.isFinite(n) && n > 0 ? `${n} (${Math.round(n / p.seconds)}/s)` : '';
};
const load = phases.filter((p) => p.name !== 'generate' && p.name !== 'replay (all)');
const total = load.reduce((a, p) => a + p.seconds, 0);
console.log(`\nborough · ${people} people (seed ${seed}) · ${out} · load average at start ${load1.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}`);
console.log(`generator counts: ${JSON.stringify(summary.counts)}`);
const head = ['phase', 'seconds', 'items (rate)', 'node CPU-s', 'server CPU-s', 'peak RSS MiB'];
const rows = phases.map((p) => [p.name, p.seconds.toFixed(1), rate(p), p.cpu.toFixed(1), p.serverCpu === null ? '' : p.serverCpu.toFixed(1), String(Math.round(p.maxRssMiB))]);
rows.push(['feeds + matcher', total.toFixed(1), '', load.reduce((a, p) => a + p.cpu, 0).toFixed(1), load.reduce((a, p) => a + (p.serverCpu ?? 0), 0).toFixed(1), String(Math.round(Math.max(...load.map((p) => p.maxRssMiB))))]);
const width = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((x, i) => (i ? x.padStart(width[i]!) : x.padEnd(width[i]!))).join('  '));
for (const p of phases) if (p.json) console.log(`${p.name}: ${JSON.stringify(p.json)}`);
