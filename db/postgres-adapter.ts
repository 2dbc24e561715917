import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';
import { DatabaseUnavailableError, isUnavailable } from './database.ts';
import { copyTarget, plainIdentifier, type CopyChunks } from './copy.ts';

// Keep DATE and TIMESTAMP values as text: clinical dates are calendar dates, not instants,
// and PGlite returns the same strings, so both adapters give identical rows.
pg.types.setTypeParser(1082, (v) => v); // date
pg.types.setTypeParser(1114, (v) => v); // timestamp
pg.types.setTypeParser(20, (v) => Number(v)); // int8 counts

export interface PostgresOptions {
  /** Extra search_path (used by tests to isolate a schema). */
  schema?: string;
  /** Connections in the pool (default BEVAN_DB_POOL_SIZE, else DEFAULT_POOL_SIZE). */
  max?: number;
  /** Named (prepared) statements per connection (default: on unless BEVAN_DB_PREPARE=off). */
  prepare?: boolean;
}

/**
 * Connections per server. A request holds one for the few milliseconds of its transaction, so 16
 * serve 50 concurrent clients without queueing behind each other for long, and several servers on
 * one PostgreSQL stay well under its default max_connections (100).
 */
export const DEFAULT_POOL_SIZE = 16;
/** Past this many distinct statement texts, the rest run unnamed (a search builds many shapes; each named one costs server memory on every connection). */
const MAX_NAMED_STATEMENTS = 2000;

/**
 * The pool size, prepared-statement switch and plan cache mode from the environment, checked
 * (BEVAN_DB_POOL_SIZE, BEVAN_DB_PREPARE, BEVAN_DB_PLAN_CACHE).
 *
 * Plans: `generic` (the default) sets plan_cache_mode = force_generic_plan on every connection, so
 * a prepared statement is planned once per connection, not at every bind. PostgreSQL's own `auto`
 * plans each of a statement's first five runs for its values and then keeps re-planning whenever a
 * custom plan looks cheaper: for the read path's statements (access facts, the record, the audit
 * append) binding cost more than executing — 1.8 ms of planning against 0.2 ms of execution for the
 * access facts under load (log_min_duration_statement on a bench role), and bench/api-load.ts at 20
 * connections used 3.5 → 1.8 ms of database CPU per `$everything`. The statements whose best plan
 * depends on the values (registers, risk features, views over the store) ask for `auto` in their
 * own transaction (db/database.ts oneOffStatements). `auto` keeps PostgreSQL's behaviour everywhere.
 */
export function postgresSettings(env: NodeJS.ProcessEnv = process.env): { max: number; prepare: boolean; genericPlans: boolean } {
  const size = env.BEVAN_DB_POOL_SIZE?.trim();
  if (size && !/^[1-9]\d{0,3}$/.test(size)) throw new Error(`BEVAN_DB_POOL_SIZE must be a whole number from 1 to 9999, not ${JSON.stringify(size)}`);
  const prep = (env.BEVAN_DB_PREPARE ?? 'on').trim().toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0', ''].includes(prep)) throw new Error(`BEVAN_DB_PREPARE must be on or off, not ${JSON.stringify(env.BEVAN_DB_PREPARE)}`);
  const plans = (env.BEVAN_DB_PLAN_CACHE ?? 'generic').trim().toLowerCase();
  if (!['generic', 'auto', ''].includes(plans)) throw new Error(`BEVAN_DB_PLAN_CACHE must be generic or auto, not ${JSON.stringify(env.BEVAN_DB_PLAN_CACHE)}`);
  return { max: size ? Number(size) : DEFAULT_POOL_SIZE, prepare: !['off', 'false', '0'].includes(prep), genericPlans: plans !== 'auto' };
}

/** A connection URL without its `options` parameter, and that parameter (libpq's startup options). */
export function splitOptions(url: string): { url: string; options: string | null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, options: null };
  }
  const options = u.searchParams.get('options');
  if (options === null) return { url, options: null };
  u.searchParams.delete('options');
  return { url: u.toString(), options: options.trim() || null };
}

/**
 * A PostgreSQL server reached through DATABASE_URL, with a connection pool. Parameterised
 * statements are named (prepared once per connection, then only bound and executed: the server
 * parses and plans them once), unless BEVAN_DB_PREPARE=off — for a transaction-mode pooler
 * (PgBouncer before 1.21) that cannot keep a connection's prepared statements.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Database> {
  const settings = postgresSettings();
  const prepare = opts.prepare ?? settings.prepare;
  const max = opts.max ?? settings.max;
  // A URL's own `options` (e.g. `?options=-c search_path=x`) would replace the pool's (pg lets the
  // connection string win), silently dropping the plan cache mode: both are kept, the URL's first.
  const { url: bare, options: fromUrl } = splitOptions(url);
  const startup = [...(fromUrl ? [fromUrl] : []), ...(opts.schema ? [`-c search_path=${opts.schema}`] : []), ...(prepare && settings.genericPlans ? ['-c plan_cache_mode=force_generic_plan'] : [])];
  const pool = new pg.Pool({
    connectionString: bare,
    max,
    options: startup.length ? startup.join(' ') : undefined,
  });
  const names = new Map<string, string>();
  const nameOf = (sql: string): string | undefined => {
    let name = names.get(sql);
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) names.set(sql, (name = `bevan_${names.size + 1}`));
    return name;
  };
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        // Only statements with parameters are named: a parameterless text may hold several statements, which the extended protocol refuses.
        const name = prepare && params?.length ? nameOf(sql) : undefined;
        const r = name ? await c.query({ name, text: sql, values: params as unknown[] }) : await c.query(sql, params as unknown[] | undefined);
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
    async copyFrom(table: string, columns: readonly string[], rows: CopyChunks, opts?: { savepoint?: string }) {
      let sql = `COPY ${copyTarget(table, columns)} FROM STDIN`;
      // One simple-query message of three statements (one round trip, not three): the server runs
      // the COPY's rows when it reaches it, then the RELEASE; an error ends the message there (the
      // RELEASE is not run), leaving the savepoint for the caller to roll back to.
      if (opts?.savepoint !== undefined) {
        const name = plainIdentifier(opts.savepoint);
        sql = `SAVEPOINT ${name}; ${sql}; RELEASE SAVEPOINT ${name}`;
      }
      const chunks = rows.chunks();
      try {
        if (!(c instanceof pg.Pool)) return await copyIn(c, sql, chunks);
        const client = await c.connect();
        try {
          return await copyIn(client, sql, chunks);
        } finally {
          client.release();
        }
      } catch (err) {
        throw isUnavailable(err) ? new DatabaseUnavailableError(String((err as Error).message), err) : err;
      }
    },
  });
  /**
   * One pooled client for fn, in autocommit mode until fn calls begin(); COMMIT after fn if it
   * began, ROLLBACK if fn threw.
   */
  async function onClient<T>(fn: (tx: Queryable, begin: () => Promise<void>) => Promise<T>): Promise<T> {
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
    let open = false;
    const begin = async () => {
      if (open) return;
      await client.query('BEGIN');
      open = true;
    };
    try {
      const out = await fn(wrap(client), begin);
      if (open) await client.query('COMMIT');
      return out;
    } catch (err) {
      if (open) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
      }
      throw isUnavailable(err) ? new DatabaseUnavailableError(String((err as Error).message), err) : err;
    } finally {
      client.off('error', onLost);
      client.release(broken);
    }
  }
  const base = wrap(pool);
  return {
    kind: 'postgres',
    location: redact(url),
    inProcess: false,
    connections: max,
    ...base,
    // A transaction is a session that begins at once.
    transaction: (fn) => onClient(async (tx, begin) => {
      await begin();
      return fn(tx);
    }),
    session: (fn) => onClient(fn),
    close: () => pool.end(),
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/**
 * `COPY … FROM STDIN` on one client: the COPY sub-protocol through pg's Submittable interface
 * (the calls pg-copy-streams makes), written here rather than adding that package for one
 * statement that sends rows already encoded in memory (db/copy.ts CopyChunks: one CopyData message
 * per chunk). Resolves with the rows loaded; rejects with the
 * server's error (the transaction is then aborted, as for any failed statement).
 */
function copyIn(client: pg.ClientBase, sql: string, chunks: readonly Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    let failed = false;
    type Connection = { query(text: string): void; sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void };
    // The rows are sent straight after the COPY statement, not on the server's CopyInResponse:
    // that saves a round trip per COPY (the writer makes two a batch, and on a loaded machine a
    // round trip is a scheduling delay on both sides). The protocol allows it: a backend whose
    // COPY failed before or during copy-in ignores the CopyData and CopyDone that follow
    // (PostgresMain accepts and drops them outside COPY), then reports the error as usual.
    const submittable = {
      submit(connection: Connection) {
        connection.query(sql);
        for (const chunk of chunks) connection.sendCopyFromChunk(chunk);
        connection.endCopyFrom();
      },
      handleCopyInResponse() {
        // The rows are already on their way (submit).
      },
      handleCommandComplete(msg: { text?: string }) {
        const m = /^COPY (\d+)/.exec(msg.text ?? '');
        if (m) rows = Number(m[1]);
      },
      handleReadyForQuery() {
        if (!failed) resolve(rows);
      },
      handleError(err: Error) {
        failed = true;
        reject(err);
      },
    };
    (client as unknown as { query(s: unknown): void }).query(submittable);
  });
}
