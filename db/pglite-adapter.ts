import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.ts';
import { copyTarget, plainIdentifier, type CopyChunks } from './copy.ts';

/** Embedded PostgreSQL (PGlite, PostgreSQL 18 in WebAssembly) kept in a data folder. */
export async function openPglite(dataDir: string | null): Promise<Database> {
  if (dataDir) {
    // Personal data: the folder (and any parent made for it) is its owner's only.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    takeLock(dataDir);
  }
  const pg = dataDir ? new PGlite(dataDir) : new PGlite();
  try {
    await pg.waitReady;
    if (dataDir) ownerOnly(dataDir);
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
    async copyFrom(table: string, columns: readonly string[], rows: CopyChunks, opts?: { savepoint?: string }) {
      const sql = `COPY ${copyTarget(table, columns)} FROM '/dev/blob'`;
      // In this process a statement costs no round trip: the savepoint is two more statements.
      const savepoint = opts?.savepoint !== undefined ? plainIdentifier(opts.savepoint) : null;
      if (savepoint) await q.query(`SAVEPOINT ${savepoint}`);
      // PGlite reads COPY data from a Blob given with the statement, named /dev/blob: the chunks
      // as they are (a Blob of buffers copies each once, into the database's memory).
      const r = await q.query(sql, [], { blob: new Blob(rows.chunks()) });
      if (savepoint) await q.query(`RELEASE SAVEPOINT ${savepoint}`);
      return r.affectedRows ?? 0;
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    location: dataDir ?? 'memory://',
    inProcess: true,
    ...base,
    // PGlite is single-connection; its transaction() serialises callers, which is what we want.
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: async () => {
      await pg.close();
      if (dataDir) {
        ownerOnly(dataDir);
        releaseLock(dataDir);
      }
    },
  };
}

/**
 * PGlite's file system layer creates every file 0666 whatever the umask (Emscripten's NODEFS
 * chmods to the mode PostgreSQL asks of its own VFS), and directories as the umask allows. The
 * folder itself is 0700, so nobody else can reach what is inside even between these passes; at
 * open and at close every directory is made 0700 and every file 0600, as PostgreSQL does with
 * its own data directory. A few thousand files: milliseconds.
 */
function ownerOnly(dir: string): void {
  const walk = (path: string) => {
    for (const e of readdirSync(path, { withFileTypes: true })) {
      const p = join(path, e.name);
      if (e.isDirectory()) {
        chmodSync(p, 0o700);
        walk(p);
      } else if (e.isFile()) {
        if ((lstatSync(p).mode & 0o077) !== 0) chmodSync(p, 0o600);
      }
    }
  };
  chmodSync(dir, 0o700);
  walk(dir);
}

// PGlite is one process's database: a second process opening the same folder would corrupt
// it. A lock file with the owner's pid (and, on Linux, its start time) makes the second one stop
// with a clear message; a lock whose owner is gone is taken over.
const LOCK = 'bevan.lock';

function takeLock(dir: string): void {
  const path = join(dir, LOCK);
  const mine = `${process.pid} ${startTime(process.pid) ?? ''}`.trim();
  try {
    writeFileSync(path, mine, { flag: 'wx', mode: 0o600 });
    return;
  } catch {
    /* exists: is its owner alive? */
  }
  const [pidText, started] = readFileSync(path, 'utf8').trim().split(/\s+/);
  const owner = Number(pidText);
  if (owner && owner !== process.pid && alive(owner, started)) {
    throw new Error(`the data folder ${dir} is in use by process ${owner} (another bevan command or server); stop it first, or use a PostgreSQL server (DATABASE_URL) for several processes`);
  }
  writeFileSync(path, mine, { mode: 0o600 });
}

function releaseLock(dir: string): void {
  try {
    if (Number(readFileSync(join(dir, LOCK), 'utf8').trim().split(/\s+/)[0]) === process.pid) rmSync(join(dir, LOCK));
  } catch {
    /* already gone */
  }
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces), or null off Linux / when gone. */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22), to tell a reused pid. */
function startTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * True when `pid` is a live process that is the lock's owner. A zombie (exited, not yet reaped by
 * its parent: common in containers whose init does not reap) or a dead process holds no lock;
 * nor does a live process whose start time differs from the one recorded (the pid was reused).
 */
export function alive(pid: number, recordedStart?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (!stat) return !existsProc(); // no /proc (not Linux): trust kill(0)
  const state = stat[0];
  if (state === 'Z' || state === 'X' || state === 'x') return false;
  return !recordedStart || stat[19] === recordedStart;
}

function existsProc(): boolean {
  try {
    return readdirSync('/proc/self').length > 0;
  } catch {
    return false;
  }
}
