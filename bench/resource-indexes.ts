/**
 * What each index on `resource` costs the write path (issue 11): for each secondary index, the
 * server CPU of (a) a COPY of the same resource rows into a copy of `resource` with that index
 * missing, and (b) Bevan's own load of the same feed files into a fresh, migrated database with
 * that index dropped; beside the runs with every index and with only the primary key.
 *   node --import tsx bench/resource-indexes.ts [--people 1000] [--seed 7] [--feeds fhir|hl7|fhir,hl7] [--copies 3] [--no-bevan] [--only idx1,idx2]
 * PostgreSQL only: BEVAN_BENCH_DATABASE_URL (or BEVAN_TEST_DATABASE_URL, DATABASE_URL), a fresh
 * schema per run (dropped after). The indexes are those the migrations leave on `resource` at this
 * commit (pg_indexes), so the table follows the migrations. COPY figures are the least of
 * `--copies` runs (the COPY backend's CPU, /proc/PID/stat); Bevan's are one load each (node = this
 * process, every thread; server = the run's backends). Read the µs columns, not the wall, on a
 * shared machine; the load average is printed at the start and end.
 */
import { readdirSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ingestPaths } from '../ingest/pipeline.ts';
import { arg, benchLocality, copyIn, freshDatabase, PG_URL, procCpu } from './util.ts';

const people = Number(arg('people', '1000'));
const seed = Number(arg('seed', '7'));
const copies = Number(arg('copies', '3'));
const feedsWanted = new Set(arg('feeds', 'fhir').split(','));
const bevanToo = !process.argv.includes('--no-bevan');
const onlyIdx = process.argv.includes('--only') ? new Set(arg('only', '').split(',')) : null;

const dir = await benchLocality(people, seed);
const filesIn = (sub: string, ext: string) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).filter((f) => f.endsWith(ext)).sort().map((f) => join(dir, sub, f)) : []);
const files = [
  ...(feedsWanted.has('fhir') ? filesIn('gp', '.ndjson') : []),
  ...(feedsWanted.has('hl7') ? [...filesIn('hospital', '.hl7'), ...filesIn('mentalhealth', '.hl7')] : []),
];
const load0 = loadavg()[0]!;

/** Bevan's load of `files` into a fresh database with `drop` (index names) dropped first: CPU of node and of the run's backends. */
async function bevanLoad(drop: string[]) {
  const app = `bevan-idx-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const db = await freshDatabase('postgres', { applicationName: app });
  const probe = new pg.Client({ connectionString: PG_URL });
  await probe.connect();
  try {
    for (const name of drop) await db.exec(`DROP INDEX ${name}`);
    const first = new Map<number, number>();
    const last = new Map<number, number>();
    const sample = async () => {
      const pids = (await probe.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app])).rows.map((r) => r.pid);
      for (const pid of pids) {
        const c = procCpu(pid);
        if (c === null) continue;
        if (!first.has(pid)) first.set(pid, c);
        last.set(pid, c);
      }
    };
    await sample();
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void sample().finally(() => (busy = false));
    }, 200);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await ingestPaths(db, files);
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    clearInterval(timer);
    await sample();
    let server = 0;
    for (const [pid, v] of last) server += v - first.get(pid)!;
    return { resources: r.resources, items: r.accepted + r.ignored, seconds, node: (c.user + c.system) / 1e6, server, db };
  } finally {
    await probe.end();
  }
}

// 1. One load with every index: the rows to COPY, and the index definitions.
const base = await bevanLoad([]);
const schema = base.db.schema!;
const indexes = (
  await base.db.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'resource' AND indexname <> 'resource_pkey' ORDER BY indexname`,
  )
).rows.filter((i) => !onlyIdx || onlyIdx.has(i.indexname));
const rowCount = Number((await base.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resource')).rows[0]!.n);

// The rows as COPY text, exported once (untimed): COPY TO STDOUT through a pg client.
const exporter = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
await exporter.connect();
const copyOut = await new Promise<Buffer[]>((resolve, reject) => {
  const chunks: Buffer[] = [];
  // COPY TO via the simple protocol: pg streams CopyData to handleCopyData.
  const q = {
    submit(connection: { query(t: string): void }) {
      connection.query('COPY resource TO STDOUT');
    },
    handleCopyData(msg: { chunk: Buffer }) {
      chunks.push(Buffer.from(msg.chunk));
    },
    handleCommandComplete() {},
    handleReadyForQuery() {
      resolve(chunks);
    },
    handleError(e: Error) {
      reject(e);
    },
  };
  (exporter as unknown as { query(s: unknown): void }).query(q);
});
await exporter.end();

// 2. COPY into copies of resource (same columns, defaults, constraints; the chosen indexes rebuilt from pg_indexes).
const copyDb = await freshDatabase('postgres');
const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${copyDb.schema}` });
await client.connect();
const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
const defOn = (def: string, table: string, i: number) => def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON \S+ /, (_m, u: string | undefined) => `CREATE ${u ?? ''}INDEX ${table}_i${i} ON ${table} `);

async function copyCost(keep: string[]): Promise<{ cpu: number; seconds: number }> {
  const table = 'resource_copy';
  let best = { cpu: Infinity, seconds: Infinity };
  for (let n = 0; n < copies; n++) {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.query(`CREATE TABLE ${table} (LIKE resource INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)`);
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (source_system, resource_type, source_id)`);
    let i = 0;
    for (const ix of indexes) if (keep.includes(ix.indexname)) await client.query(defOn(ix.indexdef, table, i++));
    const c0 = procCpu(pid)!;
    const t0 = performance.now();
    await copyIn(client, `COPY ${table} FROM STDIN`, copyOut);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = procCpu(pid)! - c0;
    if (cpu < best.cpu) best = { cpu, seconds };
  }
  return best;
}

interface Line {
  variant: string;
  copy: { cpu: number; seconds: number };
  bevan?: { node: number; server: number; seconds: number };
}
const lines: Line[] = [];
const all = indexes.map((i) => i.indexname);
try {
  lines.push({ variant: 'every index', copy: await copyCost(all), bevan: base });
  for (const ix of all) {
    const copy = await copyCost(all.filter((x) => x !== ix));
    let bevan;
    if (bevanToo) {
      const b = await bevanLoad([ix]);
      await b.db.drop();
      bevan = b;
    }
    lines.push({ variant: `− ${ix}`, copy, bevan });
    process.stderr.write(`${ix} done\n`);
  }
  let bevanPk;
  if (bevanToo) {
    const b = await bevanLoad(all);
    await b.db.drop();
    bevanPk = b;
  }
  lines.push({ variant: 'primary key only', copy: await copyCost([]), bevan: bevanPk });
  if (bevanToo) {
    const b = await bevanLoad([]);
    await b.db.drop();
    lines.push({ variant: 'every index (again)', copy: await copyCost(all), bevan: b });
  }
} finally {
  await client.end();
  await copyDb.drop();
  await base.db.drop();
}

const us = (s: number) => ((s * 1e6) / rowCount).toFixed(1);
const ref = lines[0]!;
const refBevan = ref.bevan!;
console.log(`\nresource indexes · ${people} people (seed ${seed}), feeds ${[...feedsWanted].join(',')} · ${rowCount} resource rows (${base.items} items) · COPY least of ${copies} · load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`);
const head = ['variant', 'COPY server µs/row', 'Δ vs every index', 'COPY rows/s', 'Bevan server µs/row', 'Δ', 'Bevan node µs/row', 'Bevan s'];
const rows = lines.map((l) => [
  l.variant,
  us(l.copy.cpu),
  l === ref ? '' : (((l.copy.cpu - ref.copy.cpu) * 1e6) / rowCount).toFixed(1),
  String(Math.round(rowCount / l.copy.seconds)),
  l.bevan ? us(l.bevan.server) : '',
  l.bevan && l !== ref ? (((l.bevan.server - refBevan.server) * 1e6) / rowCount).toFixed(1) : '',
  l.bevan ? us(l.bevan.node) : '',
  l.bevan ? l.bevan.seconds.toFixed(2) : '',
]);
const width = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((x, i) => (i ? x.padStart(width[i]!) : x.padEnd(width[i]!))).join('  '));
