import { resolve } from 'node:path';
import type { Database } from './database.ts';
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
    const deadline = Date.now() + (opts.waitMs ?? Number(process.env.BEVAN_DB_WAIT_SECONDS ?? 60) * 1000);
    let result = await migrate(db);
    for (let delay = 250; result.kind === 'failed' && result.unavailable && Date.now() < deadline; delay = Math.min(delay * 2, 5000)) {
      await new Promise((r) => setTimeout(r, delay));
      result = await migrate(db);
    }
    if (result.kind === 'failed') {
      await db.close();
      throw new Error(`migration ${result.migration} failed: ${result.error}`);
    }
  }
  return db;
}
