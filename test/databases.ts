/**
 * The same database tests run against every adapter (see STYLE.md, Kysely): PGlite in memory,
 * and the PostgreSQL server when one is configured. Each PostgreSQL test gets its own schema.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../db/database.ts';
import { openPglite } from '../db/pglite-adapter.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { loadMigrations, migrate } from '../db/migrator.ts';
import { loadLayoutSteps, requestedLayout, type DatabaseLayout } from '../db/layout.ts';

export interface TestDatabase {
  name: 'pglite' | 'postgres';
  /** Opens a fresh, migrated, empty database. Call drop() when done. */
  open(): Promise<Database & { drop(): Promise<void> }>;
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The PostgreSQL URL tests use, or null when none is configured or reachable. */
export async function testPostgresUrl(): Promise<string | null> {
  const explicit = process.env.BEVAN_TEST_DATABASE_URL;
  if (explicit === 'none') return null;
  if (explicit) return explicit;
  const c = new pg.Client({ connectionString: DEFAULT_URL, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return DEFAULT_URL;
  } catch {
    return null;
  }
}

/**
 * The test databases. `layout` overrides BEVAN_DB_LAYOUT (db/layout.ts) for a test about a layout;
 * by default the environment's layout is used, so the whole suite can run on either.
 */
export async function testDatabases(opts: { layout?: DatabaseLayout } = {}): Promise<TestDatabase[]> {
  const layout = opts.layout ?? requestedLayout();
  const out: TestDatabase[] = [
    {
      name: 'pglite',
      async open() {
        const db = await openPglite(null);
        await mustMigrate(db, layout);
        return Object.assign(db, { drop: () => db.close() });
      },
    },
  ];
  // BEVAN_DB_LAYOUT=partitioned: every test database is migrated with that layout (db/layout.ts).
  if (layout !== 'plain') console.log(`# database layout: ${layout}`);
  const url = await testPostgresUrl();
  if (url) {
    out.push({
      name: 'postgres',
      async open() {
        const schema = `t_${randomBytes(6).toString('hex')}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        const db = await openPostgres(url, { schema, max: 4 });
        await mustMigrate(db, layout);
        return Object.assign(db, {
          async drop() {
            await db.close();
            const a = new pg.Client({ connectionString: url });
            await a.connect();
            await a.query(`DROP SCHEMA ${schema} CASCADE`);
            await a.end();
          },
        });
      },
    });
  } else {
    console.log('# PostgreSQL server not configured: database tests run on PGlite only');
  }
  return out;
}

async function mustMigrate(db: Database, layout: DatabaseLayout = requestedLayout()) {
  const r = await migrate(db, loadMigrations(), loadLayoutSteps(layout));
  if (r.kind !== 'ok') throw new Error(`migration ${r.migration} failed: ${r.error}`);
}

/**
 * Runs fn on a fresh, migrated schema of the PostgreSQL server with its own pool of `max`
 * connections (the shared test databases have 4), then drops the schema.
 */
export async function withOwnPostgresSchema(url: string, max: number, fn: (db: Database) => Promise<void>): Promise<void> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const db = await openPostgres(url, { schema, max });
  try {
    const m = await migrate(db);
    if (m.kind !== 'ok') throw new Error(`migration failed: ${m.error}`);
    await fn(db);
  } finally {
    await db.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
