/**
 * Database layouts (docs/distribution.md). `plain`: the ordinary migrations, one table each.
 * `partitioned`: the same schema, then the personal tables (source_identity, resource,
 * resource_history) hash-partitioned by their distribution key, shard_key (migration 0029), as a
 * distributed PostgreSQL (Citus) would shard them. Chosen when the schema is first migrated
 * (BEVAN_DB_LAYOUT); what a database has is read from the database, never from the environment,
 * so every process on it behaves alike whatever it was started with.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import type { Queryable } from './database.ts';

export type DatabaseLayout = 'plain' | 'partitioned';

export const LAYOUTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'layouts');

/** The layout asked for by BEVAN_DB_LAYOUT (default plain); anything else is an error naming the choices. */
export function requestedLayout(value = process.env.BEVAN_DB_LAYOUT): DatabaseLayout {
  const v = (value ?? '').trim();
  if (v === '' || v === 'plain') return 'plain';
  if (v === 'partitioned') return 'partitioned';
  throw new Error(`BEVAN_DB_LAYOUT=${v} is not a layout: use plain or partitioned`);
}

export interface LayoutStep {
  layout: DatabaseLayout;
  id: number;
  name: string;
  sql: string;
  checksum: string;
}

/** The numbered SQL steps of a layout (`db/layouts/<layout>/NNNN_name.sql`), applied after the ordinary migrations. */
export function loadLayoutSteps(layout: DatabaseLayout, dir = LAYOUTS_DIR): LayoutStep[] {
  if (layout === 'plain') return [];
  const folder = join(dir, layout);
  return readdirSync(folder)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(folder, f), 'utf8');
      return { layout, id: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const known = new WeakMap<object, Promise<DatabaseLayout>>();

/**
 * The layout this database has (cached per connection pool): partitioned when `resource` is a
 * partitioned table in the schema on the search path.
 */
export function layoutOf(db: Queryable): Promise<DatabaseLayout> {
  let p = known.get(db);
  if (!p) {
    p = db
      .query<{ relkind: string }>(`SELECT relkind::text AS relkind FROM pg_class WHERE oid = to_regclass('resource')`)
      .then((r) => (r.rows[0]?.relkind === 'p' ? 'partitioned' : 'plain') as DatabaseLayout);
    // A failed look-up (database down) is not remembered.
    p.catch(() => known.delete(db));
    known.set(db, p);
  }
  return p;
}

/** Forgets what was read about a database's layout (after its layout steps were applied). */
export function forgetLayout(db: Queryable): void {
  known.delete(db);
}
