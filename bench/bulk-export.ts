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
 *            --type T,T (_type), --level system|patient|group (kick off /fhir/$export, the default,
 *            /fhir/Patient/$export: every person's Patient compartment, or /fhir/Group/ID/$export with
 *            --group ID: a practice's registered people, e.g. --group P91001), --keep (do not delete the export afterwards),
 *            --restrict N (before the kick-off, mark N active people restricted, as governance does in
 *            person_restriction; removed again at the end), --verify (after the job: every (type, id) in
 *            the files once, every Patient reference to an exported Patient, no restricted person's
 *            Patient or reference in the files, each person weighed once, and the files' counts per
 *            type against the store's rows of the exported people and the audit's counts)
 * RSS is also printed against the job's progress (every tenth of the people, or two minutes), to show it flat as the files grow.
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
import { KeySet64, keyOf, LineSplitter, patientReferences, topLevelId } from './export-check.ts';
import { pseudonymFor, pseudonymKey, SECONDARY_USE_KEY } from '../analytics/cohorts/pseudonym.ts';

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
const restrict = Number(arg('restrict', '0'));
const verify = has('verify');
const group = arg('group', '');
if (level !== 'system' && level !== 'patient' && level !== 'group') throw new Error('--level system, patient or group');
if ((level === 'group') !== Boolean(group)) throw new Error('--level group goes with --group ID (and --group with --level group)');
const levelPath = level === 'patient' ? 'Patient/' : level === 'group' ? `Group/${encodeURIComponent(group)}/` : '';
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
// Restricted people for the run (a generated locality has none): chosen by a hash of their id, so spread over every slice.
const RESTRICT_REASON = 'bench/bulk-export.ts: restricted for the run';
if (restrict > 0) {
  const r = await db.query(
    `INSERT INTO person_restriction (person_id, reason)
     SELECT p.person_id, $2 FROM person p WHERE p.status = 'active' AND NOT EXISTS (SELECT 1 FROM person_restriction x WHERE x.person_id = p.person_id)
      ORDER BY md5(p.person_id::text) LIMIT $1`,
    [restrict, RESTRICT_REASON],
  );
  console.log(`restricted ${r.rowCount} people for the run`);
}
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
const cpuSoFar = () => {
  const c = process.cpuUsage(cpu0);
  return ((c.user + c.system) / 1e6).toFixed(1);
};
const kick = await fetch(`${base}/fhir/${levelPath}$export${types ? `?_type=${types}` : ''}`, { headers: { ...auth, prefer: 'respond-async', accept: 'application/fhir+json' } });
if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
const status = kick.headers.get('content-location')!;
let manifest: { output: { type: string; url: string; count: number }[] } | null = null;
let lastProgress = '';
const rssByProgress: string[] = [];
let nextTenth = 1;
let lastRecorded = performance.now();
for (;;) {
  const s = await fetch(status, { headers: auth });
  if (s.status === 200) {
    manifest = (await s.json()) as typeof manifest;
    break;
  }
  if (s.status !== 202) throw new Error(`status: ${s.status} ${await s.text()}`);
  const progress = s.headers.get('x-progress') ?? '';
  const pct = Number(/^(\d+)%/.exec(progress)?.[1] ?? 0);
  if (pct >= nextTenth * 10 || performance.now() - lastRecorded > 120_000) {
    lastRecorded = performance.now();
    const stored = (await db.query<{ mib: number; n: number }>(`SELECT coalesce(sum(bytes), 0)::float8 / 1048576 AS mib, coalesce(sum(resources), 0)::float8 AS n FROM export_file WHERE job_id = $1`, [status.split('/').pop()])).rows[0]!;
    rssByProgress.push(`${pct}%: RSS ${Math.round(process.memoryUsage().rss / 1048576)} MiB (heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB), ${Math.round(stored.n).toLocaleString('en-GB')} resources ${Math.round(stored.mib)} MiB in the files, ${((performance.now() - t0) / 1000).toFixed(0)} s, CPU ${cpuSoFar()} s (process) + ${(((await serverCpuSeconds()) ?? NaN) - (serverCpu0 ?? NaN)).toFixed(1)} s (server), load ${os.loadavg()[0]!.toFixed(1)}`);
    // As it goes too, so that a run stopped early still shows its rate and memory.
    console.error(`# ${rssByProgress.at(-1)}`);
    while (nextTenth * 10 <= pct) nextTenth++;
  }
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

// Download every file as a client would, streaming: count lines and bytes, keep nothing
// (--verify: each line's (type, id) as a 64-bit key, and the Patient ids referenced).
const t1 = performance.now();
let lines = 0;
let bytes = 0;
let verifyMs = 0;
const keys = verify ? new KeySet64(total) : null;
const duplicates: string[] = [];
const patientIds = new Set<string>();
const referenced = new Set<string>();
let noId = 0;
for (const o of manifest!.output) {
  const f = await fetch(o.url, { headers: { ...auth, accept: 'application/fhir+ndjson' } });
  if (f.status !== 200) throw new Error(`${o.url}: ${f.status}`);
  let n = 0;
  const decoder = new TextDecoder();
  const splitter = new LineSplitter();
  const check = (ls: string[]) => {
    const v0 = performance.now();
    for (const line of ls) {
      const id = topLevelId(line);
      if (id === null) {
        noId++;
        continue;
      }
      const [hi, lo] = keyOf(o.type, id);
      if (!keys!.add(hi, lo) && duplicates.length < 10) duplicates.push(`${o.type}/${id}`);
      if (o.type === 'Patient') patientIds.add(id);
      else for (const ref of patientReferences(line)) referenced.add(ref);
    }
    verifyMs += performance.now() - v0;
  };
  for await (const chunk of f.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) n++;
    if (keys) check(splitter.push(decoder.decode(chunk, { stream: true })));
    sample();
  }
  if (keys) {
    const rest = splitter.end();
    if (rest) check([rest]);
  }
  if (n !== o.count) throw new Error(`${o.url}: ${n} lines, the manifest says ${o.count}`);
  lines += n;
}
const downloadSeconds = (performance.now() - t1) / 1000;
clearInterval(sampler);
sample();

const r = (x: number) => Math.round(x).toLocaleString('en-GB');
console.log(`${levelPath}$export (${db.kind}, batch ${batchPeople}, page ${pageRows}, ${slices} slices, ${slots} slots${types ? `, _type=${types}` : ''}):`);
console.log(`  job:      ${r(patients)} people, ${r(total)} resources in ${manifest!.output.length} files in ${jobSeconds.toFixed(1)} s = ${r(total / jobSeconds)} resources/s, ${r(patients / jobSeconds)} people/s`);
console.log(`            this process used ${jobCpuSeconds.toFixed(1)} s of CPU for it (${r((jobCpuSeconds * 1e6) / total)} µs a resource${db.kind === 'pglite' ? ', the embedded database included' : ', the database server not included'}); load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
if (serverJobCpu !== null) console.log(`            the database server's backends used ${serverJobCpu.toFixed(1)} s of CPU (${r((serverJobCpu * 1e6) / total)} µs a resource); together ${r(total / (jobCpuSeconds + serverJobCpu))} resources per CPU-second`);
console.log(`  download: ${r(lines)} lines, ${(bytes / 1048576).toFixed(1)} MiB in ${downloadSeconds.toFixed(1)} s = ${r(lines / downloadSeconds)} resources/s, ${(bytes / 1048576 / downloadSeconds).toFixed(1)} MiB/s${verify ? ` (${(verifyMs / 1000).toFixed(1)} s of it checking lines: ${r(lines / (downloadSeconds - verifyMs / 1000))} resources/s without)` : ''}`);
console.log(`  end to end: ${r(total / (jobSeconds + downloadSeconds))} resources/s`);
console.log(`  RSS: ${Math.round(rssBefore / 1048576)} MiB before the kick-off, peak ${Math.round(peakJob / 1048576)} MiB while the job ran, peak ${Math.round(peak / 1048576)} MiB overall${verify ? ' (the download\'s checks hold a 64-bit key per resource)' : ''} (max RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB)`);
for (const line of rssByProgress) console.log(`    ${line}`);

let failed = false;
if (verify) {
  const jobId = status.split('/').pop()!;
  const problems: string[] = [];
  const v0 = performance.now();
  const transactionTime = (manifest as unknown as { transactionTime: string }).transactionTime;
  // Each person weighed once: one record.export row per person for the job.
  const audit = (await db.query<{ decision: string; rows: number; people: number; withheld: number }>(
    `SELECT decision, count(*)::int AS rows, count(DISTINCT person_id)::int AS people, coalesce(sum((detail->>'withheld')::int), 0)::int AS withheld
       FROM audit_log WHERE action = 'record.export' AND detail->>'job' = $1 GROUP BY decision ORDER BY decision`, [jobId])).rows;
  for (const a of audit) if (a.rows !== a.people) problems.push(`${a.decision}: ${a.rows} audit rows for ${a.people} people (someone weighed twice)`);
  const permitted = audit.find((a) => a.decision === 'permit');
  const auditTypes = new Map((await db.query<{ type: string; n: number }>(
    `SELECT t.key AS type, sum(t.value::int)::int AS n FROM audit_log a, jsonb_each_text(a.detail->'resources') t
      WHERE a.action = 'record.export' AND a.decision = 'permit' AND a.detail->>'job' = $1 GROUP BY 1`, [jobId])).rows.map((x) => [x.type, x.n]));
  // The store's rows of the exported people (and of the people merged into them), as of the transaction time.
  const store = new Map((await db.query<{ type: string; n: number }>(
    `WITH RECURSIVE permitted AS (
       SELECT DISTINCT person_id FROM audit_log WHERE action = 'record.export' AND decision = 'permit' AND detail->>'job' = $1
     ), m(member, depth) AS (
       SELECT person_id, 0 FROM permitted
       UNION ALL SELECT p.person_id, m.depth + 1 FROM person p JOIN m ON p.merged_into = m.member WHERE m.depth < 16
     )
     SELECT type, sum(n)::int AS n FROM (
       SELECT r.resource_type AS type, count(*) AS n FROM resource r WHERE r.person_id IN (SELECT member FROM m)
          AND r.resource_type <> 'Patient' AND r.received_at <= $2 GROUP BY 1
       UNION ALL
       -- A resource changed after the transaction time counts as the version it had then (as the export reads it).
       SELECT h.resource_type, count(*) FROM resource_history h WHERE h.person_id IN (SELECT member FROM m)
          AND h.resource_type <> 'Patient' AND h.received_at <= $2 AND h.replaced_at > $2 GROUP BY 1
     ) x GROUP BY 1`, [jobId, transactionTime])).rows.map((x) => [x.type, x.n]));
  const fileTypes = new Map<string, number>();
  for (const o of manifest!.output) fileTypes.set(o.type, (fileTypes.get(o.type) ?? 0) + o.count);
  console.log('  verify: type, lines in the files, audit (record.export), store rows of the exported people');
  let storeTotal = 0;
  let fileTotal = 0;
  for (const type of [...new Set([...fileTypes.keys(), ...store.keys()])].sort()) {
    const files = fileTypes.get(type) ?? 0;
    const st = type === 'Patient' ? (permitted?.people ?? 0) : (store.get(type) ?? 0);
    const au = auditTypes.get(type) ?? 0;
    if (type !== 'Patient') {
      storeTotal += st;
      fileTotal += files;
    }
    console.log(`    ${type.padEnd(24)} ${r(files).padStart(12)} ${r(au).padStart(12)} ${r(st).padStart(12)}${files > st ? '  MORE THAN THE STORE' : files < st ? `  ${r(st - files)} withheld` : ''}`);
    if (files !== au) problems.push(`${type}: ${files} lines, the audit says ${au}`);
    if (files > st) problems.push(`${type}: ${files} lines, more than the store's ${st}`);
  }
  const withheld = permitted?.withheld ?? 0;
  if (storeTotal - fileTotal !== withheld) problems.push(`store rows - lines = ${storeTotal - fileTotal}, the audit's withheld items ${withheld}`);
  if (duplicates.length) problems.push(`(type, id) exported more than once: ${duplicates.join(', ')}`);
  if (noId) problems.push(`${noId} lines without a top-level id`);
  // Every reference to a Patient is to an exported Patient (pseudonymised ids included).
  const dangling = [...referenced].filter((id) => !patientIds.has(id));
  if (dangling.length) problems.push(`${dangling.length} Patient ids referenced but not exported (e.g. ${dangling.slice(0, 3).join(', ')})`);
  // No restricted person in the files: not as a Patient, not in a reference (by person id, or by the pseudonym a pseudonymised export gives them).
  const restricted = (await db.query<{ person_id: string }>(
    `SELECT person_id::text AS person_id FROM person_restriction
     UNION SELECT s.person_id::text FROM source_identity s JOIN source_restriction sr ON sr.source_system = s.source_system AND sr.source_id = s.source_id AND sr.lifted_at IS NULL
      WHERE s.person_id IS NOT NULL`)).rows.map((x) => x.person_id);
  const key = await pseudonymKey(db, SECONDARY_USE_KEY);
  const leaked = restricted.filter((id) => patientIds.has(id) || referenced.has(id) || patientIds.has(pseudonymFor(key, id)) || referenced.has(pseudonymFor(key, id)));
  if (leaked.length) problems.push(`${leaked.length} restricted people in the files`);
  const denied = audit.find((a) => a.decision === 'deny');
  console.log(`    people: ${r(permitted?.people ?? 0)} exported (${r(patientIds.size)} Patients in the files), ${r(denied?.people ?? 0)} excluded, each audited once; ${r(withheld)} items withheld; ${r(keys!.size)} distinct (type, id) of ${r(lines)} lines; ${r(referenced.size)} Patients referenced; ${r(restricted.length)} restricted people, ${leaked.length} of them in the files (${((performance.now() - v0) / 1000).toFixed(1)} s)`);
  if (problems.length) {
    failed = true;
    for (const p of problems) console.log(`  VERIFY FAILED: ${p}`);
  } else console.log('  verify: ok');
}
if (restrict > 0) await db.query(`DELETE FROM person_restriction WHERE reason = $1`, [RESTRICT_REASON]);

if (!has('keep')) await fetch(status, { method: 'DELETE', headers: auth });
await app.close();
await db.close();
if (failed) process.exitCode = 1;
