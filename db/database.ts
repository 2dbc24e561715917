/**
 * The database port. Bevan speaks PostgreSQL through one small interface with two adapters:
 * PGlite (embedded, in a data folder) and a PostgreSQL server (DATABASE_URL). The same SQL
 * must run on both, so nothing here exposes driver-specific features.
 */
import type { CopyChunks } from './copy.ts';

export interface QueryResult<R> {
  rows: R[];
  /** Rows affected by INSERT/UPDATE/DELETE, when the driver reports it. */
  rowCount: number;
}

export interface Queryable {
  /** Runs one parameterised statement ($1, $2, …). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Bulk-loads rows into a table with `COPY table (columns) FROM STDIN` (text format): `rows` are
   * already encoded as COPY text (db/copy.ts CopyChunks), sent as they are. Returns the rows loaded.
   * Optional: a caller without it writes with INSERT. COPY inserts rows several at a time and has
   * no statement to plan, so it costs the server about a third less than INSERT … SELECT per row
   * (docs/ingest-performance.md); it cannot upsert, so callers use it for rows known to be new.
   * With `savepoint` (in a transaction): the COPY runs under a new savepoint of that name, released
   * when it succeeds; when it fails, the caller rolls back to that savepoint (ROLLBACK TO SAVEPOINT)
   * and carries on. On a server the three statements travel as one message (one round trip).
   */
  copyFrom?(table: string, columns: readonly string[], rows: CopyChunks, opts?: { savepoint?: string }): Promise<number>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** A human-readable place: the data folder or the server URL without password. */
  readonly location: string;
  /**
   * True when the database runs inside this process (PGlite): a statement costs no round trip, so
   * a few simple statements can beat one that does more work in the database. False for a server,
   * where every statement is a round trip (and a wake-up of its backend); absent: a server.
   */
  readonly inProcess?: boolean;
  /** The most connections the database is used through at once (a server's pool size); absent: one. */
  readonly connections?: number;
  /** Runs fn in one transaction on one connection; rolls back if fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn on one connection that starts in autocommit mode and opens a transaction only when fn
   * calls `begin()` (before its first write or cursor); it commits when fn returns, rolls back if
   * fn throws. For reads that may turn into writes: under READ COMMITTED each statement sees its
   * own snapshot inside a transaction as well, so a read gains nothing from BEGIN and COMMIT but
   * two round trips. Absent (PGlite): use transaction.
   */
  session?<T>(fn: (q: Queryable, begin: () => Promise<void>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Thrown when the database cannot be reached (the server is down, the socket closed). */
/**
 * For a transaction that runs a few large statements whose best plan depends on their values (a
 * register, the risk features, a view over the store): no JIT compilation (compiling their JSON
 * expressions cost more than it saved, docs/analytics/risk.md) and plans made for the values
 * (plan_cache_mode auto, where the pool asks for generic plans: db/postgres-adapter.ts). Local to
 * the transaction. PGlite accepts both settings (it has no JIT).
 */
export async function oneOffStatements(q: Queryable): Promise<void> {
  await q.query("SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'auto', true)");
}

export class DatabaseUnavailableError extends Error {
  readonly kind = 'database-unavailable';
  constructor(message: string, readonly cause?: unknown) {
    super(message);
  }
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** True when an error means "the database is not there right now": callers may retry later. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  return /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error|terminating connection/i.test(e.message ?? '');
}

/**
 * SQLSTATEs that a later retry can cure though the server answers: serialization failure and
 * deadlock (class 40), insufficient resources — disk full, out of memory, too many connections
 * (class 53), lock not available, statement timeout or cancel, and a server shutting down.
 */
const TRANSIENT_CODES = new Set(['55P03', '57014', '57P04', '58030']);

/**
 * True when an error may go away by itself: the database is unavailable, or busy, full or
 * shutting down. False for errors in the data (invalid value, key too long, constraint), which a
 * retry would meet again. The MLLP listener answers AR (resend later) only for these.
 */
export function isRetryable(err: unknown): boolean {
  if (isUnavailable(err)) return true;
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && (e.code.startsWith('40') || e.code.startsWith('53') || TRANSIENT_CODES.has(e.code))) return true;
  // PGlite closing under a message (the server is stopping): the sender should resend later.
  return /PGlite is clos(ed|ing)/.test(e.message ?? '');
}

/**
 * Runs fn, and again while it fails because the database is unavailable (a server restarting),
 * backing off from 250 ms to 5 s, until timeoutMs has passed; other errors go straight through.
 */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isUnavailable(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
