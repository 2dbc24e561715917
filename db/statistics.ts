/**
 * Planner statistics refreshed during a long load. Bevan's pool plans each named statement once
 * per connection (plan_cache_mode = force_generic_plan, db/postgres-adapter.ts), and a server
 * with autovacuum off (or a load faster than autovacuum's next visit) keeps the statistics of the
 * moment the tables were created: the writer's look-ups (`JOIN unnest($1, $2)` on a key), planned
 * while the table was nearly empty, stay a hash join over a sequential scan as the table grows,
 * each batch's look-up dearer than the last. ANALYZE records the table's size and invalidates the
 * plans made on it, so the next run of each statement is planned for the table as it is.
 */
import type { Queryable } from './database.ts';
import { copyTarget } from './copy.ts';

/** A table whose statistics may be stale, and the columns its look-ups compare (all columns when absent). */
export interface StatisticsTarget {
  table: string;
  columns?: readonly string[];
}

/**
 * ANALYZEs each table whose recorded size (pg_class.reltuples: -1 when never analysed) is below a
 * quarter of `rowsAdded`, the rows this load has written to such tables so far: its statistics
 * then describe a table several times smaller than it is. A store already large is left alone.
 * Returns the tables analysed. Only for a PostgreSQL server (the caller's choice): PGlite plans
 * each statement for its values.
 */
export async function refreshStaleStatistics(q: Queryable, targets: readonly StatisticsTarget[], rowsAdded: number): Promise<string[]> {
  for (const t of targets) copyTarget(t.table, t.columns ?? []); // plain identifiers only (they come from code)
  const r = await q.query<{ name: string; tuples: number }>(
    `SELECT t.name, c.reltuples::float8 AS tuples FROM unnest($1::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(t.name)`,
    [targets.map((t) => t.table)],
  );
  const stale = new Set(r.rows.filter((x) => x.tuples < rowsAdded / 4).map((x) => x.name));
  const done: string[] = [];
  for (const t of targets) {
    if (!stale.has(t.table)) continue;
    await q.exec(`ANALYZE ${t.table}${t.columns?.length ? ` (${t.columns.join(', ')})` : ''}`);
    done.push(t.table);
  }
  return done;
}
