import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUnavailable, type Database } from './database.ts';
import { forgetLayout, loadLayoutSteps, requestedLayout, type LayoutStep } from './layout.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  id: number;
  name: string;
  sql: string;
  checksum: string;
}

export type MigrationResult =
  | { kind: 'ok'; applied: string[] }
  | { kind: 'failed'; migration: string; error: string; applied: string[]; /** the database could not be reached: worth retrying */ unavailable: boolean };

/** Reads `NNNN_name.sql` files in order. Numbers must be unique and increasing. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), 'utf8');
      return { id: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

// An arbitrary constant shared by every Bevan process: the advisory lock that serialises migrators.
const MIGRATION_LOCK = 4_210_519_48;

/**
 * Applies pending migrations. Never throws: returns what it applied or why it stopped.
 * Each migration runs in its own transaction holding a transaction-scoped advisory lock,
 * so two processes starting together apply each migration exactly once (PostgreSQL DDL is
 * transactional, so a failed migration leaves nothing half-done). Applied migrations are
 * append-only: if a file's checksum no longer matches its history row we stop, because the
 * database and the code now disagree about the schema.
 */
export async function migrate(db: Database, migrations = loadMigrations(), layoutSteps?: LayoutStep[]): Promise<MigrationResult> {
  const applied: string[] = [];
  let steps: LayoutStep[];
  try {
    steps = layoutSteps ?? loadLayoutSteps(requestedLayout());
  } catch (err) {
    return { kind: 'failed', migration: 'layout', error: String((err as Error).message), applied, unavailable: false };
  }
  try {
    // Under the lock: concurrent CREATE TABLE IF NOT EXISTS can both pass the check and one then
    // fails on the catalogue's unique index (two processes migrating a fresh schema at once).
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migration (
        id integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
    });
  } catch (err) {
    return { kind: 'failed', migration: 'schema_migration', error: String((err as Error).message), applied, unavailable: isUnavailable(err) };
  }
  for (const m of migrations) {
    try {
      const done = await db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        const prev = await tx.query<{ checksum: string }>('SELECT checksum FROM schema_migration WHERE id = $1', [m.id]);
        if (prev.rows.length) {
          if (prev.rows[0]!.checksum !== m.checksum) throw new Error(`${m.name} was changed after it was applied; add a new migration instead`);
          return false;
        }
        await tx.exec(m.sql);
        await tx.query('INSERT INTO schema_migration (id, name, checksum) VALUES ($1, $2, $3)', [m.id, m.name, m.checksum]);
        return true;
      });
      if (done) applied.push(m.name);
    } catch (err) {
      return { kind: 'failed', migration: m.name, error: String((err as Error).message), applied, unavailable: isUnavailable(err) };
    }
  }
  // A layout (db/layout.ts, BEVAN_DB_LAYOUT) reshapes tables the ordinary migrations made, so its
  // steps come after all of them, each once, under the same lock; the ordinary migrations stay one
  // set for every layout and database. A database keeps the layout it was given: a process started
  // without BEVAN_DB_LAYOUT applies no layout steps and undoes none.
  for (const step of steps) {
    const label = `${step.layout}/${step.name}`;
    try {
      const done = await db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        // Made under the lock: two processes running CREATE TABLE IF NOT EXISTS at the same
        // moment can both pass the check, and one then fails on the catalogue's unique index.
        await tx.exec(`CREATE TABLE IF NOT EXISTS schema_layout_step (
          layout text NOT NULL, id integer NOT NULL, name text NOT NULL, checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (layout, id))`);
        const prev = await tx.query<{ checksum: string }>('SELECT checksum FROM schema_layout_step WHERE layout = $1 AND id = $2', [step.layout, step.id]);
        if (prev.rows.length) {
          if (prev.rows[0]!.checksum !== step.checksum) throw new Error(`layout step ${label} was changed after it was applied; add a new step instead`);
          return false;
        }
        await tx.exec(step.sql);
        await tx.query('INSERT INTO schema_layout_step (layout, id, name, checksum) VALUES ($1, $2, $3, $4)', [step.layout, step.id, step.name, step.checksum]);
        return true;
      });
      if (done) {
        applied.push(label);
        forgetLayout(db);
      }
    } catch (err) {
      return { kind: 'failed', migration: label, error: String((err as Error).message), applied, unavailable: isUnavailable(err) };
    }
  }
  return { kind: 'ok', applied };
}
