import { resolve } from 'node:path';
import { DatabaseUnavailableError, retryWhileUnavailable, type Database } from './database.ts';
import { openPglite } from './pglite-adapter.ts';
import { openPostgres } from './postgres-adapter.ts';
import { migrate } from './migrator.ts';

export interface OpenOptions {
  /** PGlite data folder; ignored when databaseUrl is given. */
  dataDir?: string;
  /** PostgreSQL server URL (DATABASE_URL). */
  databaseUrl?: string;
  /** Run pending migrations after opening (default true). */
  migrate?: boolean;
  /**
   * How long to wait for a PostgreSQL server that does not answer yet (restarting, or starting
   * alongside Bevan) before giving up, in ms. Default 60 s, or BEVAN_DB_WAIT_SECONDS.
   */
  waitMs?: number;
}

export const DEFAULT_DATA_DIR = './.bevan/data';

/** Opens the configured database: the server when DATABASE_URL is set, PGlite otherwise. */
export async function openDatabase(opts: OpenOptions = {}): Promise<Database> {
  const url = opts.databaseUrl ?? process.env.DATABASE_URL;
  const db = url ? await openPostgres(url) : await openPglite(resolve(opts.dataDir ?? process.env.BEVAN_DATA_DIR ?? DEFAULT_DATA_DIR));
  if (opts.migrate !== false) {
    const waitMs = opts.waitMs ?? Number(process.env.BEVAN_DB_WAIT_SECONDS ?? 60) * 1000;
    try {
      // A server that does not answer yet is waited for; any other failure stops at once.
      const result = await retryWhileUnavailable(async () => {
        const r = await migrate(db);
        if (r.kind === 'failed' && r.unavailable) throw new DatabaseUnavailableError(`migration ${r.migration} failed: ${r.error}`);
        return r;
      }, waitMs);
      if (result.kind === 'failed') throw new Error(`migration ${result.migration} failed: ${result.error}`);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}
