/**
 * Ingest against its ceiling, in one run: generate a locality, load its GP FHIR, HL7 v2 and CSV
 * files through Bevan's real pipeline (adapters, writer, MPI linking) into a fresh database, then
 * COPY the very rows Bevan wrote (resource, ingest_message, source_identity) into a second fresh
 * database whose tables have the same primary keys and indexes (the same migrations), and print
 * one table: Bevan's rate beside the rate COPY reaches on the same machine at the same moment.
 * Last, the whole feed is replayed (nothing new): it must write nothing.
 *   node --import tsx bench/ingest-ceiling.ts [--people 3000] [--seed 7] [--db postgres|pglite] [--feeds fhir,hl7,csv] [--no-replay] [--batch 1000] [--in-flight N]
 * PostgreSQL: BEVAN_TEST_DATABASE_URL (or BEVAN_BENCH_DATABASE_URL, DATABASE_URL), default
 * postgres://postgres@127.0.0.1:5432/test, a new schema per run (dropped after).
 * CPU: node CPU-s is this process (all threads: the parsing thread and, on PGlite, the database
 * itself); server CPU-s is the PostgreSQL backends of this run's connections, read from
 * /proc/PID/stat (when the server runs on this machine), without the server's shared background
 * processes (WAL writer, checkpointer). Peak RSS is this process's.
 */
import { readdirSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable } from '../db/database.ts';
import { migrate } from '../db/migrator.ts';
import { ingestPaths } from '../ingest/pipeline.ts';
import { arg, benchLocality, copyIn, freshDatabase, PG_URL, procCpu } from './util.ts';

const people = Number(arg('people', '3000'));
const seed = Number(arg('seed', '7'));
const kind = arg('db', 'postgres') as 'postgres' | 'pglite';
if (kind !== 'postgres' && kind !== 'pglite') throw new Error('--db is postgres or pglite');
/** Which feeds to load (`--feeds hl7,csv`: a profile of one feed); all by default. */
const only = new Set(arg('feeds', 'fhir,hl7,csv').toLowerCase().split(','));
const replayToo = !process.argv.includes('--no-replay');
/** `--batch N`: the writer's batch size (IngestOptions.batchItems; resources 4× that), to compare; the pipeline's default otherwise. */
const batch = process.argv.includes('--batch') ? Number(arg('batch', '1000')) : undefined;
/** `--in-flight N`: batches written at once (IngestOptions.writesInFlight); the pipeline's default otherwise. */
const inFlight = process.argv.includes('--in-flight') ? Number(arg('in-flight', '2')) : undefined;
const ingestOpts = { ...(batch ? { batchItems: batch, batchResources: batch * 4 } : {}), ...(inFlight ? { writesInFlight: inFlight } : {}) };

// ---------------------------------------------------------------- measuring


/** Samples this process's RSS and the CPU of the server backends named by `backends()` while a phase runs. */
function meter(backends: () => Promise<number[]>) {
  const startCpu = process.cpuUsage();
  const started = performance.now();
  let peakRss = process.memoryUsage().rss;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let busy = false; // one probe query at a time, however slow the server is to answer
  const sample = async () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (busy) return;
    busy = true;
    const pids = await backends().catch(() => []);
    busy = false;
    for (const pid of pids) {
      const c = procCpu(pid);
      if (c === null) continue;
      if (!first.has(pid)) first.set(pid, c);
      last.set(pid, c);
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), 200);
  return async () => {
    await sample();
    clearInterval(timer);
    const cpu = process.cpuUsage(startCpu);
    let server = 0;
    for (const [pid, c] of last) server += c - first.get(pid)!;
    return { seconds: (performance.now() - started) / 1000, nodeCpu: (cpu.user + cpu.system) / 1e6, serverCpu: kind === 'postgres' ? server : null, peakRss };
  };
}
type Measured = Awaited<ReturnType<ReturnType<typeof meter>>>;

// ---------------------------------------------------------------- the feeds

const dir = await benchLocality(people, seed);
const filesIn = (sub: string, ext: string) =>
  existsSync(join(dir, sub))
    ? readdirSync(join(dir, sub))
        .filter((f) => f.endsWith(ext))
        .sort()
        .map((f) => join(dir, sub, f))
    : [];
const feeds = [
  { key: 'fhir', label: 'FHIR', unit: 'resources', files: filesIn('gp', '.ndjson') },
  { key: 'hl7', label: 'HL7 v2', unit: 'messages', files: [...filesIn('hospital', '.hl7'), ...filesIn('mentalhealth', '.hl7')] },
  { key: 'csv', label: 'CSV', unit: 'rows', files: [...filesIn('community', '.csv'), ...filesIn('socialcare', '.csv'), ...filesIn('mentalhealth', '.csv')] },
].filter((f) => only.has(f.key));

// ---------------------------------------------------------------- the ceiling: COPY of the same rows

/** The tables Bevan's load fills, each with its key (for paging the export) and its columns as COPY text. */
const TABLES = [
  { name: 'resource', key: ['source_system', 'resource_type', 'source_id'], since: 'received_at' },
  { name: 'ingest_message', key: ['source_system', 'message_id'], since: 'received_at' },
  { name: 'source_identity', key: ['source_system', 'source_id'], since: 'updated_at' },
] as const;

async function columnsOf(db: Queryable, table: string): Promise<string[]> {
  const r = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position`,
    [table],
  );
  return r.rows.map((x) => x.column_name);
}

const copyText = (v: string | null): string => (v === null ? '\\N' : v.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t')));

/** The rows of `table` written since `since` (server time), as COPY text chunks; not timed. */
async function exportRows(db: Queryable, table: (typeof TABLES)[number], since: string): Promise<{ chunks: Buffer[]; rows: number; columns: string[] }> {
  const columns = await columnsOf(db, table.name);
  const select = columns.map((c) => `${c}::text AS ${c}`).join(', ');
  const chunks: Buffer[] = [];
  let rows = 0;
  let after: string[] | null = null;
  for (;;) {
    const keyCols = table.key.join(', ');
    const cond = after ? `AND (${keyCols}) > (${table.key.map((_, i) => `$${i + 2}`).join(', ')})` : '';
    // Identifiers come from the fixed list above; values are parameters.
    const r: { rows: Record<string, string | null>[] } = await db.query<Record<string, string | null>>(
      `SELECT ${select} FROM ${table.name} WHERE ${table.since} >= $1::timestamptz ${cond} ORDER BY ${keyCols} LIMIT 5000`,
      [since, ...(after ?? [])],
    );
    if (!r.rows.length) break;
    chunks.push(Buffer.from(r.rows.map((row) => columns.map((c) => copyText(row[c] ?? null)).join('\t')).join('\n') + '\n'));
    rows += r.rows.length;
    const lastRow = r.rows[r.rows.length - 1]!;
    after = table.key.map((k) => lastRow[k]!);
  }
  return { chunks, rows, columns };
}

interface Ceiling {
  copy(table: string, columns: string[], chunks: Buffer[]): Promise<void>;
  backends(): Promise<number[]>;
  close(): Promise<void>;
}

async function openCeiling(): Promise<Ceiling> {
  if (kind === 'postgres') {
    const target = await freshDatabase('postgres');
    const app = `bevan-ceiling-${process.pid}`;
    const url = new URL(PG_URL);
    url.searchParams.set('application_name', app);
    const client = new pg.Client({ connectionString: url.toString(), options: `-c search_path=${target.schema}` });
    await client.connect();
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return {
      copy: (table, columns, chunks) => copyIn(client, `COPY ${table} (${columns.join(', ')}) FROM STDIN`, chunks),
      backends: async () => [pid],
      async close() {
        await client.end();
        await target.drop();
      },
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'bevan-ceiling-'));
  const raw = new PGlite(dataDir);
  await raw.waitReady;
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    query: async (sql, params) => {
      const r = await q.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as never[], rowCount: r.affectedRows ?? r.rows.length };
    },
    exec: async (sql) => void (await q.exec(sql)),
  });
  const db: Database = { kind: 'pglite', location: dataDir, ...wrap(raw), transaction: (fn) => raw.transaction((tx) => fn(wrap(tx))), close: () => raw.close() };
  const m = await migrate(db);
  if (m.kind !== 'ok') throw new Error(`ceiling migration failed: ${m.error}`);
  return {
    copy: async (table, columns, chunks) => void (await raw.query(`COPY ${table} (${columns.join(', ')}) FROM '/dev/blob'`, [], { blob: new Blob(chunks as unknown as BlobPart[]) })),
    backends: async () => [],
    async close() {
      await raw.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- the run

const app = `bevan-bench-${process.pid}`;
const db = await freshDatabase(kind, { applicationName: app });
const ceiling = await openCeiling();
const probe = kind === 'postgres' ? new pg.Client({ connectionString: PG_URL }) : null;
await probe?.connect();
const bevanBackends = async () => (probe ? (await probe.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app])).rows.map((r) => r.pid) : []);
const serverNow = async () => (await db.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0]!.t;

interface Row {
  feed: string;
  writer: string;
  items: number;
  unit: string;
  rows: number;
  m: Measured;
  ratio?: number;
  note?: string;
}
const table: Row[] = [];
const load1 = loadavg()[0]!;
try {
  for (const feed of feeds) {
    if (!feed.files.length) continue;
    const since = await serverNow();
    const stopBevan = meter(bevanBackends);
    const r = await ingestPaths(db, feed.files, ingestOpts);
    const mb = await stopBevan();
    const items = feed.unit === 'resources' ? r.resources : r.accepted + r.ignored;

    let rows = 0;
    const exported = [];
    for (const t of TABLES) {
      const e = await exportRows(db, t, since);
      rows += e.rows;
      exported.push({ t, e });
    }
    const stopCopy = meter(() => ceiling.backends());
    for (const { t, e } of exported) if (e.rows) await ceiling.copy(t.name, e.columns, e.chunks);
    const mc = await stopCopy();
    exported.length = 0;

    table.push({ feed: feed.label, writer: 'Bevan', items, unit: feed.unit, rows, m: mb, ratio: mc.seconds / mb.seconds, note: `${r.files} files, ${r.quarantined} quarantined` });
    table.push({ feed: feed.label, writer: 'COPY', items, unit: feed.unit, rows, m: mc });
  }
  // Replay of everything: nothing is new, so nothing may be written.
  if (replayToo) {
    const stopReplay = meter(bevanBackends);
    const replay = await ingestPaths(db, feeds.flatMap((f) => f.files));
    const mr = await stopReplay();
    const wrote = replay.accepted + replay.resources;
    table.push({ feed: 'replay (all)', writer: 'Bevan', items: replay.duplicates + replay.quarantined, unit: 'items', rows: wrote, m: mr, note: wrote ? `WROTE ${replay.accepted} items, ${replay.resources} resources` : 'wrote nothing' });
  }
} finally {
  await probe?.end();
  await ceiling.close();
  await db.drop();
}

// ---------------------------------------------------------------- the table

const cells = (r: Row) => [
  r.feed,
  r.writer,
  `${r.items} ${r.unit}`,
  String(r.rows),
  r.m.seconds.toFixed(2),
  String(Math.round(r.items / r.m.seconds)),
  r.ratio !== undefined ? r.ratio.toFixed(2) : '',
  r.m.nodeCpu.toFixed(1),
  r.m.serverCpu === null ? 'in node' : r.m.serverCpu.toFixed(1),
  r.items ? String(Math.round((r.m.nodeCpu * 1e6) / r.items)) : '',
  r.items && r.m.serverCpu !== null ? String(Math.round((r.m.serverCpu * 1e6) / r.items)) : '',
  String(Math.round(r.m.peakRss / 1048576)),
  r.note ?? '',
];
const head = ['feed', 'writer', 'items', 'db rows', 'seconds', 'items/s', 'Bevan÷COPY', 'node CPU-s', 'server CPU-s', 'node µs/item', 'server µs/item', 'peak RSS MiB', ''];
const all = [head, ...table.map(cells)];
const width = head.map((_, i) => Math.max(...all.map((c) => c[i]!.length)));
console.log(`\n${kind} · ${people} people (seed ${seed}) · ${dir} · load average at start ${load1.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}`);
for (const c of all) console.log(c.map((x, i) => (i >= 2 && i <= 11 ? x.padStart(width[i]!) : x.padEnd(width[i]!))).join('  ').trimEnd());
