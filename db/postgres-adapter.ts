import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';
import { DatabaseUnavailableError, isUnavailable } from './database.ts';

// Keep DATE and TIMESTAMP values as text: clinical dates are calendar dates, not instants,
// and PGlite returns the same strings, so both adapters give identical rows.
pg.types.setTypeParser(1082, (v) => v); // date
pg.types.setTypeParser(1114, (v) => v); // timestamp
pg.types.setTypeParser(20, (v) => Number(v)); // int8 counts

export interface PostgresOptions {
  /** Extra search_path (used by tests to isolate a schema). */
  schema?: string;
  max?: number;
}

/** A PostgreSQL server reached through DATABASE_URL, with a small connection pool. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 8,
    options: opts.schema ? `-c search_path=${opts.schema}` : undefined,
  });
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        const r = await c.query(sql, params as unknown[] | undefined);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      } catch (err) {
        throw isUnavailable(err) ? new DatabaseUnavailableError(String((err as Error).message), err) : err;
      }
    },
    async exec(sql: string) {
      try {
        await c.query(sql);
      } catch (err) {
        throw isUnavailable(err) ? new DatabaseUnavailableError(String((err as Error).message), err) : err;
      }
    },
  });
  const base = wrap(pool);
  return {
    kind: 'postgres',
    location: redact(url),
    ...base,
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw new DatabaseUnavailableError(String((err as Error).message), err);
      }
      // A checked-out client has no pool listener: if the server goes away between two statements
      // (no query waiting to receive the error), the client emits 'error' and, unheard, that
      // would end the process. Heard here, it marks the client broken; the next statement then
      // fails as unavailable and the caller retries (MLLP answers AR).
      let broken = false;
      const onLost = () => {
        broken = true;
      };
      client.on('error', onLost);
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw isUnavailable(err) ? new DatabaseUnavailableError(String((err as Error).message), err) : err;
      } finally {
        client.off('error', onLost);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
