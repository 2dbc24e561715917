/**
 * Bulk Data $export through the HTTP API on loopback: a system-level export by an analyst, from
 * kick-off through status polling to streaming every NDJSON file, with the server (and its
 * export worker) in this process. Prints the people and resources exported, the rate of the job
 * (resources/s, people/s), the rate of the downloads, and the peak RSS of the process.
 *
 *   node --import tsx bench/bulk-export.ts --data DIR          # a PGlite folder already loaded (bevan ingest --data DIR)
 *   DATABASE_URL=postgres://… node --import tsx bench/bulk-export.ts
 *   node --import tsx bench/bulk-export.ts --people 3000 [--seed 7] [--data DIR]
 *        # generates the locality and loads it first, with `bevan generate` and `bevan ingest`
 *        # in child processes (so their memory is not counted here)
 *   options: --batch N (people per batch, default 100), --page N (resource rows per query, 5000),
 *            --slices N (slices a job is cut into, 8), --slots N (slices this server runs at once, 2),
 *            --type T,T (_type), --level system|patient (kick off /fhir/$export, the default, or
 *            /fhir/Patient/$export: every person's Patient compartment), --keep (do not delete the export afterwards)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { issueToken } from '../access/tokens.ts';
import { openDatabase } from '../db/open.ts';
import Fastify from 'fastify';
import { bevanApi, registerOpenApi } from '../http/app.ts';
import { arg } from './util.ts';

const has = (name: string) => process.argv.includes(`--${name}`);
const people = has('people') ? Number(arg('people', '3000')) : null;
const seed = arg('seed', '7');
const url = process.env.DATABASE_URL;
const dataDir = has('data') ? arg('data', '') : people ? join(tmpdir(), `bevan-bench-export-${people}-${seed}`) : null;
const batchPeople = Number(arg('batch', '100'));
const pageRows = Number(arg('page', '5000'));
const types = has('type') ? arg('type', '') : null;
const slices = Number(arg('slices', '8'));
const slots = Number(arg('slots', '2'));
const level = arg('level', 'system');
if (level !== 'system' && level !== 'patient') throw new Error('--level system or --level patient');
if (!url && !dataDir) throw new Error('give --data DIR (a loaded PGlite folder), DATABASE_URL, or --people N to generate and load a locality');

const bin = join(import.meta.dirname, '..', 'bin', 'bevan.mjs');
function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  if (r.status !== 0) throw new Error(`bevan ${args.join(' ')} failed (${r.status})`);
}

if (people) {
  const out = join(tmpdir(), `bevan-bench-locality-${people}-${seed}`);
  if (!existsSync(join(out, 'truth', 'summary.json'))) {
    const t = performance.now();
    cli(['generate', '--people', String(people), '--seed', seed, '--out', out]);
    console.log(`generated ${people} people in ${((performance.now() - t) / 1000).toFixed(1)} s (${out})`);
  }
  const marker = url ? null : join(dataDir!, '.bench-loaded');
  if (url || !existsSync(marker!)) {
    const t = performance.now();
    cli(['ingest', out, ...(url ? [] : ['--data', dataDir!])]);
    if (marker) spawnSync('touch', [marker]);
    console.log(`loaded into ${url ? 'PostgreSQL' : dataDir} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}

let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const sampler = setInterval(sample, 50);

const db = await openDatabase({ dataDir: dataDir ?? undefined, databaseUrl: url });
const counts = (await db.query<{ people: number; resources: number }>(`SELECT (SELECT count(*)::int FROM person WHERE status = 'active') AS people, (SELECT count(*)::int FROM resource WHERE resource_type <> 'Patient') AS resources`)).rows[0]!;
// Fresh planner statistics, as autovacuum would have after a load (a just-loaded table has none).
await db.exec('ANALYZE person; ANALYZE source_identity; ANALYZE resource;');
console.log(`database: ${db.kind}; ${counts.people} people, ${counts.resources} resources besides the source Patients`);
await db.query(`INSERT INTO app_user (username, role) VALUES ('bench-analyst', 'analyst') ON CONFLICT (username) DO NOTHING`);
const token = await issueToken(db, { user: 'bench-analyst', role: 'analyst', organisation: null });

const app = Fastify({ logger: false });
await registerOpenApi(app);
await app.register(bevanApi, { db, bulkExport: { slices, worker: { batchPeople, pageRows, pollMs: 1000, concurrency: slots } } });
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as { port: number }).port;
const base = `http://127.0.0.1:${port}`;
const auth = { authorization: `Bearer ${token}` };
const rssBefore = process.memoryUsage().rss;

/**
 * CPU seconds used so far by the server backends serving this database (PostgreSQL on this
 * machine only: /proc), each pid's total remembered so that a backend that exits is still counted.
 */
const backendCpu = new Map<number, number>();
async function serverCpuSeconds(): Promise<number | null> {
  if (db.kind !== 'postgres') return null;
  try {
    const pids = (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)).rows.map((x) => x.pid);
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      backendCpu.set(pid, (Number(f[11]) + Number(f[12])) / 100);
    }
    return [...backendCpu.values()].reduce((a, b) => a + b, 0);
  } catch {
    return null;
  }
}
const serverCpu0 = await serverCpuSeconds();
const serverSampler = setInterval(() => void serverCpuSeconds(), 1000);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const kick = await fetch(`${base}/fhir/${level === 'patient' ? 'Patient/' : ''}$export${types ? `?_type=${types}` : ''}`, { headers: { ...auth, prefer: 'respond-async', accept: 'application/fhir+json' } });
if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
const status = kick.headers.get('content-location')!;
let manifest: { output: { type: string; url: string; count: number }[] } | null = null;
let lastProgress = '';
for (;;) {
  const s = await fetch(status, { headers: auth });
  if (s.status === 200) {
    manifest = (await s.json()) as typeof manifest;
    break;
  }
  if (s.status !== 202) throw new Error(`status: ${s.status} ${await s.text()}`);
  const progress = s.headers.get('x-progress') ?? '';
  if (progress !== lastProgress && process.stderr.isTTY) process.stderr.write(`\r${progress}   `);
  lastProgress = progress;
  await new Promise((r) => setTimeout(r, Math.min(1000, Number(s.headers.get('retry-after') ?? 1) * 1000)));
}
const jobSeconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const jobCpuSeconds = (cpu.user + cpu.system) / 1e6;
clearInterval(serverSampler);
const serverCpu1 = await serverCpuSeconds();
const serverJobCpu = serverCpu0 !== null && serverCpu1 !== null ? serverCpu1 - serverCpu0 : null;
if (process.stderr.isTTY) process.stderr.write('\n');
const total = manifest!.output.reduce((n, o) => n + o.count, 0);
const patients = manifest!.output.filter((o) => o.type === 'Patient').reduce((n, o) => n + o.count, 0);
const peakJob = Math.max(peak, process.memoryUsage().rss);

// Download every file as a client would, streaming: count lines and bytes, keep nothing.
const t1 = performance.now();
let lines = 0;
let bytes = 0;
for (const o of manifest!.output) {
  const f = await fetch(o.url, { headers: { ...auth, accept: 'application/fhir+ndjson' } });
  if (f.status !== 200) throw new Error(`${o.url}: ${f.status}`);
  let n = 0;
  for await (const chunk of f.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) n++;
    sample();
  }
  if (n !== o.count) throw new Error(`${o.url}: ${n} lines, the manifest says ${o.count}`);
  lines += n;
}
const downloadSeconds = (performance.now() - t1) / 1000;
clearInterval(sampler);
sample();

const r = (x: number) => Math.round(x).toLocaleString('en-GB');
console.log(`${level === 'patient' ? 'Patient/' : ''}$export (${db.kind}, batch ${batchPeople}, page ${pageRows}, ${slices} slices, ${slots} slots${types ? `, _type=${types}` : ''}):`);
console.log(`  job:      ${r(patients)} people, ${r(total)} resources in ${manifest!.output.length} files in ${jobSeconds.toFixed(1)} s = ${r(total / jobSeconds)} resources/s, ${r(patients / jobSeconds)} people/s`);
console.log(`            this process used ${jobCpuSeconds.toFixed(1)} s of CPU for it (${r((jobCpuSeconds * 1e6) / total)} µs a resource${db.kind === 'pglite' ? ', the embedded database included' : ', the database server not included'}); load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
if (serverJobCpu !== null) console.log(`            the database server's backends used ${serverJobCpu.toFixed(1)} s of CPU (${r((serverJobCpu * 1e6) / total)} µs a resource); together ${r(total / (jobCpuSeconds + serverJobCpu))} resources per CPU-second`);
console.log(`  download: ${r(lines)} lines, ${(bytes / 1048576).toFixed(1)} MiB in ${downloadSeconds.toFixed(1)} s = ${r(lines / downloadSeconds)} resources/s, ${(bytes / 1048576 / downloadSeconds).toFixed(1)} MiB/s`);
console.log(`  end to end: ${r(total / (jobSeconds + downloadSeconds))} resources/s`);
console.log(`  RSS: ${Math.round(rssBefore / 1048576)} MiB before the kick-off, peak ${Math.round(peakJob / 1048576)} MiB while the job ran, peak ${Math.round(peak / 1048576)} MiB overall (max RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB)`);

if (!has('keep')) await fetch(status, { method: 'DELETE', headers: auth });
await app.close();
await db.close();
