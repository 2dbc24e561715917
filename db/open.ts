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
}

export const DEFAULT_DATA_DIR = './.bevan/data';

/** Opens the configured database: the server when DATABASE_URL is set, PGlite otherwise. */
export async function openDatabase(opts: OpenOptions = {}): Promise<Database> {
  const url = opts.databaseUrl ?? process.env.DATABASE_URL;
  const db = url ? await openPostgres(url) : await openPglite(resolve(opts.dataDir ?? process.env.BEVAN_DATA_DIR ?? DEFAULT_DATA_DIR));
  if (opts.migrate !== false) {
    const result = await migrate(db);
    if (result.kind === 'failed') {
      await db.close();
      throw new Error(`migration ${result.migration} failed: ${result.error}`);
    }
  }
  return db;
}
