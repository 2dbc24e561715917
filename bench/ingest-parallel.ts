/**
 * One ingest process against two, into one PostgreSQL server (issue 11, beyond one server):
 *   node --import tsx bench/ingest-parallel.ts [--people 1000] [--layout plain|partitioned] [--keep]
 * The same generated locality is loaded twice into fresh schemas: once by one `bevan ingest`
 * process with every file, once by two `bevan ingest` processes started together, each with half
 * of the feeds (a GP practice's file is one feed; hospital, mental health, community and social
 * care are one each), balanced by size. Matching is left out of the timing (--no-match; it runs
 * once afterwards, as one job). Prints one table: items (messages, bundles, rows) and resources,
 * wall seconds, rates, and the processes' CPU seconds; then checks both loads left the same counts.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import pg from 'pg';
import { openPostgres } from '../db/postgres-adapter.ts';
import { loadMigrations, migrate } from '../db/migrator.ts';
import { loadLayoutSteps, requestedLayout } from '../db/layout.ts';
import { listFeedFiles } from '../ingest/pipeline.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { arg, benchLocality, PG_URL } from './util.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const people = Number(arg('people', '1000'));
const layout = requestedLayout(arg('layout', 'plain'));
const keep = process.argv.includes('--keep');

const dir = await benchLocality(people);
const files = (await listFeedFiles([dir])).map((f) => f.path);
// Feeds: a GP practice's file each; every other top-level folder is one source.
const feeds = new Map<string, string[]>();
for (const f of files) {
  const parts = relative(dir, f).split(sep);
  const feed = parts[0] === 'gp' ? relative(dir, f) : parts[0]!;
  feeds.set(feed, [...(feeds.get(feed) ?? []), f]);
}
const bytes = (fs: string[]) => fs.reduce((n, f) => n + statSync(f).size, 0);
const halves: string[][] = [[], []];
for (const fs of [...feeds.values()].sort((a, b) => bytes(b) - bytes(a))) {
  const into = bytes(halves[0]!) <= bytes(halves[1]!) ? 0 : 1;
  halves[into]!.push(...fs);
}

interface Child {
  accepted: number;
  ignored: number;
  quarantined: number;
  duplicates: number;
  resources: number;
  cpu: number;
}

function schemaUrl(schema: string): string {
  const u = new URL(PG_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Runs `bevan ingest --no-match --json` on files; its JSON counts and CPU seconds (user + system, from /usr/bin/time). */
function ingestProcess(schema: string, paths: string[]): Promise<Child> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, join(root, 'bin/bevan.mjs'), 'ingest', '--no-match', '--json', ...paths], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: schemaUrl(schema), BEVAN_DB_LAYOUT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bevan ingest exited ${code}: ${err.slice(-2000)}`));
      const j = JSON.parse(out.trim().split('\n').pop()!) as Child;
      const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(err);
      resolve({ ...j, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN });
    });
  });
}

async function freshSchema(label: string): Promise<string> {
  const schema = `bench_par_${label}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = await openPostgres(PG_URL, { schema, max: 1 });
  const m = await migrate(db, loadMigrations(), loadLayoutSteps(layout));
  await db.close();
  if (m.kind !== 'ok') throw new Error(`migration ${m.migration} failed: ${m.error}`);
  return schema;
}

async function counts(schema: string) {
  const db = await openPostgres(PG_URL, { schema, max: 2 });
  try {
    const m = await runMatcher(db);
    const r = await db.query<{ persons: number; identities: number; resources: number; messages: number }>(
      `SELECT (SELECT count(*)::int FROM person WHERE status = 'active') AS persons, (SELECT count(*)::int FROM source_identity) AS identities,
              (SELECT count(*)::int FROM resource) AS resources, (SELECT count(*)::int FROM ingest_message) AS messages`,
    );
    return { ...r.rows[0]!, matcherSeconds: m.seconds };
  } finally {
    await db.close();
  }
}

async function drop(schema: string) {
  if (keep) return;
  const a = new pg.Client({ connectionString: PG_URL });
  await a.connect();
  await a.query(`DROP SCHEMA ${schema} CASCADE`);
  await a.end();
}

const rows: string[] = [];
const totals: Record<string, Awaited<ReturnType<typeof counts>>> = {};
for (const [label, groups] of [['1 process', [files]], ['2 processes', halves]] as const) {
  const schema = await freshSchema(label.startsWith('1') ? 'one' : 'two');
  const load = loadavg()[0]!.toFixed(1);
  const t0 = process.hrtime.bigint();
  const done = await Promise.all(groups.map((g) => ingestProcess(schema, g)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const items = done.reduce((n, c) => n + c.accepted + c.ignored + c.quarantined + c.duplicates, 0);
  const resources = done.reduce((n, c) => n + c.resources, 0);
  const cpu = done.reduce((n, c) => n + c.cpu, 0);
  rows.push(
    `| ${label.padEnd(11)} | ${String(items).padStart(8)} | ${String(resources).padStart(9)} | ${wall.toFixed(1).padStart(6)} | ${Math.round(items / wall).toString().padStart(7)} | ${Math.round(resources / wall).toString().padStart(11)} | ${cpu.toFixed(1).padStart(10)} | ${load.padStart(12)} |`,
  );
  totals[label] = await counts(schema);
  await drop(schema);
}
console.log(`ingest into one PostgreSQL server (${layout} layout), ${people} people, ${files.length} files (${Math.round(bytes(files) / 1048576)} MiB); halves ${Math.round(bytes(halves[0]!) / 1048576)} + ${Math.round(bytes(halves[1]!) / 1048576)} MiB`);
console.log('| processes   |    items | resources | wall s | items/s | resources/s | node CPU s | load 1-min   |');
console.log('| ----------- | -------- | --------- | ------ | ------- | ----------- | ---------- | ------------ |');
for (const r of rows) console.log(r);
const [a, b] = [totals['1 process']!, totals['2 processes']!];
const same = a.persons === b.persons && a.identities === b.identities && a.resources === b.resources && a.messages === b.messages;
console.log(`after matching: ${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${same ? 'the same' : 'DIFFERENT'}`);
if (!same) process.exitCode = 1;
