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

/**
 * Output into a closed pipe (`bevan quarantine list | head`) ends quietly: once the reader has
 * gone, further writes are dropped instead of raising EPIPE (which Node reports as an unhandled
 * 'error' event with a stack trace), and the command finishes and closes its database as usual.
 */
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      stream.write = (() => true) as typeof stream.write;
      return;
    }
    // Any other failure writing our own output: say so once, where it can still be seen.
    if (stream !== process.stderr) process.stderr.write(`bevan: cannot write output: ${err.message}\n`);
    process.exitCode = 1;
  });
}
