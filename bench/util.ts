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
