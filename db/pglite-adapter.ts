import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.ts';

/** Embedded PostgreSQL (PGlite, PostgreSQL 18 in WebAssembly) kept in a data folder. */
export async function openPglite(dataDir: string | null): Promise<Database> {
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    takeLock(dataDir);
  }
  const pg = dataDir ? new PGlite(dataDir) : new PGlite();
  try {
    await pg.waitReady;
  } catch (err) {
    if (dataDir) releaseLock(dataDir);
    throw err;
  }
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const r = await q.query<R>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    location: dataDir ?? 'memory://',
    ...base,
    // PGlite is single-connection; its transaction() serialises callers, which is what we want.
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: async () => {
      await pg.close();
      if (dataDir) releaseLock(dataDir);
    },
  };
}

// PGlite is one process's database: a second process opening the same folder would corrupt
// it. A lock file with the owner's pid makes the second one stop with a clear message.
const LOCK = 'bevan.lock';

function takeLock(dir: string): void {
  const path = join(dir, LOCK);
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return;
  } catch {
    /* exists: is its owner alive? */
  }
  const owner = Number(readFileSync(path, 'utf8'));
  if (owner && owner !== process.pid && alive(owner)) {
    throw new Error(`the data folder ${dir} is in use by process ${owner} (another bevan command or server); stop it first, or use a PostgreSQL server (DATABASE_URL) for several processes`);
  }
  writeFileSync(path, String(process.pid));
}

function releaseLock(dir: string): void {
  try {
    if (Number(readFileSync(join(dir, LOCK), 'utf8')) === process.pid) rmSync(join(dir, LOCK));
  } catch {
    /* already gone */
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
