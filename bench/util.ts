/** Shared helpers for benchmarks: fresh databases on each adapter, and a generated locality. */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Database } from '../db/database.ts';
import { openPglite } from '../db/pglite-adapter.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { migrate } from '../db/migrator.ts';
import { generateLocality } from '../synth/generate.ts';

export const PG_URL = process.env.BEVAN_BENCH_DATABASE_URL ?? process.env.BEVAN_TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh, migrated database of the given kind (PGlite in a temp folder, or a new schema on the server). */
export async function freshDatabase(kind: 'pglite' | 'postgres', opts: { applicationName?: string } = {}): Promise<Database & { drop(): Promise<void>; schema?: string }> {
  if (kind === 'pglite') {
    const dir = await mkdtemp(join(tmpdir(), 'bevan-bench-'));
    const db = await openPglite(dir);
    await migrate(db);
    return Object.assign(db, { drop: () => db.close() });
  }
  const schema = `bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(PG_URL);
  if (opts.applicationName) url.searchParams.set('application_name', opts.applicationName);
  const db = await openPostgres(url.toString(), { schema });
  await migrate(db);
  return Object.assign(db, {
    schema,
    async drop() {
      await db.close();
      if (process.env.BEVAN_BENCH_KEEP) return;
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      await a.query(`DROP SCHEMA ${schema} CASCADE`);
      await a.end();
    },
  });
}

/** Generates (once, cached under the temp folder) a locality of `people` for benchmarks. */
export async function benchLocality(people: number, seed = 7): Promise<string> {
  const out = join(tmpdir(), `bevan-bench-locality-${people}-${seed}`);
  if (!existsSync(join(out, 'truth', 'summary.json'))) await generateLocality({ people, seed, out });
  return out;
}

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

export function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}

/** Linux USER_HZ: /proc reports CPU in ticks of 1/100 s. */
const CLK_TCK = 100;

/** CPU seconds of a process (user + system, /proc/PID/stat fields 14 and 15), or null when it is not on this machine. */
export function procCpu(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** A measurement of the server's CPU: seconds (user + system) and how many processes it summed. */
export interface ServerCpu {
  seconds: number;
  processes: number;
}

/**
 * Measures the CPU that PostgreSQL backends on this machine spend while `f` runs: those of the
 * URL's database (`backendPid` absent), or one backend and its parallel workers. The processes are
 * found in pg_stat_activity (a parallel worker has its leader's pid in leader_pid) every
 * `intervalMs` on a connection of the meter's own, and their CPU read from /proc: a process there
 * when the measurement starts counts from then, one that starts later (a parallel worker, a new
 * connection) from its start. A worker that lives less than one interval can be missed, and the
 * last interval of one that ends before the measurement does is lost (at 20 ms, a few hundredths
 * of a second a statement). One meter for many measurements (one at a time).
 */
export async function serverCpuMeter(url: string, opts: { backendPid?: number; intervalMs?: number } = {}): Promise<{
  measure<T>(f: () => Promise<T>): Promise<{ result: T; cpu: ServerCpu }>;
  /** Measures this backend (and its workers) from now on, for a meter made before the backend was known. */
  watch(backendPid: number): void;
  close(): Promise<void>;
}> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const interval = opts.intervalMs ?? 20;
  const sql =
    opts.backendPid === undefined
      ? 'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()'
      : 'SELECT pid FROM pg_stat_activity WHERE pid = $1 OR leader_pid = $1';
  const params: number[] = opts.backendPid === undefined ? [] : [opts.backendPid];
  return {
    watch(backendPid) {
      if (opts.backendPid === undefined) throw new Error('serverCpuMeter: watch() is for a meter of one backend');
      params[0] = backendPid;
    },
    async measure(f) {
      const first = new Map<number, number>();
      const last = new Map<number, number>();
      let round = 0;
      const sample = async () => {
        const r = await c.query<{ pid: number }>(sql, params);
        for (const { pid } of r.rows) {
          const t = procCpu(pid);
          if (t === null) continue;
          if (!first.has(pid)) first.set(pid, round === 0 ? t : 0);
          last.set(pid, t);
        }
        round++;
      };
      await sample();
      let busy: Promise<void> | null = null;
      const timer = setInterval(() => {
        if (!busy) busy = sample().finally(() => (busy = null));
      }, interval);
      try {
        const result = await f();
        return { result, cpu: await finish() };
      } finally {
        clearInterval(timer);
      }
      async function finish(): Promise<ServerCpu> {
        clearInterval(timer);
        await busy;
        await sample();
        let seconds = 0;
        for (const [pid, t0] of first) seconds += (last.get(pid) ?? t0) - t0;
        return { seconds, processes: first.size };
      }
    },
    close: () => c.end(),
  };
}

/** `COPY … FROM STDIN` on a pg client (the COPY sub-protocol; no extra package). */
export function copyIn(client: pg.Client, sql: string, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const submittable = {
      submit(connection: { query(t: string): void }) {
        connection.query(sql);
      },
      handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
        for (const c of chunks) connection.sendCopyFromChunk(c);
        connection.endCopyFrom();
      },
      handleCommandComplete() {},
      handleReadyForQuery() {
        if (!this.failed) resolve();
      },
      handleError(err: Error) {
        this.failed = true;
        reject(err);
      },
      failed: false,
    };
    (client as unknown as { query(s: unknown): void }).query(submittable);
  });
}
