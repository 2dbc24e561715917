import type { Command } from 'commander';
import type { Database } from '../db/database.ts';
import { DEFAULT_DATA_DIR, openDatabase } from '../db/open.ts';

export interface DatabaseOptions {
  data?: string;
}

/** Adds the options every database command shares. */
export function databaseOption(cmd: Command): Command {
  return cmd.option('--data <dir>', `PGlite data folder (ignored when DATABASE_URL is set)`, DEFAULT_DATA_DIR);
}

/** Opens the database for one command, runs fn, and always closes it. */
export async function withDatabase<T>(opts: DatabaseOptions, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase({ dataDir: opts.data });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Prints one JSON object on stdout (the --json contract). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}
